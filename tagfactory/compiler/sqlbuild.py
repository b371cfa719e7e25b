"""Small sqlglot builders shared by the compiler (no string formatting of SQL)."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from tagfactory.compiler.expressions import DIALECT, SNAPSHOT_DATE
from tagfactory.compiler.types import SPARK_TYPES


def snapshot() -> exp.Placeholder:
    """The ``:snapshot_date`` parameter (a DATE bound by the job)."""
    return exp.Placeholder(this=SNAPSHOT_DATE)


def col(name: str, table: str | None = None) -> exp.Column:
    """A column reference; ``col("*", "p")`` is ``p.*`` (a star is never quoted: Spark reads `*` as a name)."""
    if name == "*":
        return exp.Column(this=exp.Star(), table=exp.to_identifier(table) if table else None)
    return exp.column(name, table=table, quoted=False)


def func(name: str, *args: exp.Expr) -> exp.Expr:
    """A Spark function call, typed by sqlglot where it knows the function."""
    return exp.func(name, *args, dialect=DIALECT)


def cast(value: exp.Expr, value_type: str) -> exp.Cast:
    """CAST to the Spark type of a tag or column type name."""
    return exp.cast(value, exp.DataType.build(SPARK_TYPES[value_type], dialect=DIALECT))


def day_offset(days: int) -> exp.Expr:
    """The date ``snapshot_date + days``."""
    return snapshot() if days == 0 else func("date_add", snapshot(), exp.Literal.number(days))


def day_start(days: int) -> exp.Expr:
    """Midnight (session time zone) at the start of ``snapshot_date + days``."""
    return cast(day_offset(days), "timestamp")


def literal(value: Any, value_type: str) -> exp.Expr:
    """A typed literal for a default, a rule's ``then`` or ``else``."""
    if value is None:
        return exp.null()
    if value_type == "array<string>":
        return exp.Array(expressions=[exp.Literal.string(str(v)) for v in value])
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if value_type == "date":
        return cast(exp.Literal.string(str(value)), "date")
    return exp.Literal.string(str(value))


def bind_snapshot(tree: exp.Expr) -> exp.Expr:
    """Replace the user's ``snapshot_date`` identifier by the job parameter."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name == SNAPSHOT_DATE:
            return snapshot()
        return node

    return tree.copy().transform(swap)


def and_all(*conditions: exp.Expr | None) -> exp.Expr | None:
    """AND of the given conditions (None ones skipped); None if there are none."""
    parts = [c for c in conditions if c is not None]
    if not parts:
        return None
    return exp.and_(*parts) if len(parts) > 1 else parts[0]


def when(condition: exp.Expr | None, value: exp.Expr) -> exp.Expr:
    """``CASE WHEN condition THEN value END`` (or ``value`` when unconditional)."""
    if condition is None:
        return value
    return exp.Case(ifs=[exp.If(this=condition, true=value)])


def to_sql(tree: exp.Expr, pretty: bool = True) -> str:
    """Spark SQL text of a tree, every identifier quoted (`name`): nothing a definition names can
    be read as a keyword or break out of its place in the query.

    A ``NOT`` that is the operand of an arithmetic or comparison operator is parenthesized: sqlglot
    parses ``0 + NOT x`` and prints it back as it came, but in Spark's grammar ``NOT`` binds looser
    than those operators, so the text would not parse (found by test_fuzz_spark_parse)."""
    return tree.transform(_parenthesize_not).sql(dialect=DIALECT, pretty=pretty, identify=True)


def _parenthesize_not(node: exp.Expr) -> exp.Expr:
    parent = node.parent
    if isinstance(node, exp.Not) and isinstance(parent, exp.Binary | exp.Neg) and not isinstance(parent, exp.Connector):
        return exp.Paren(this=node)
    return node
