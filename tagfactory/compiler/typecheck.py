"""Static types of the SQL snippets in definitions, without a cluster.

sqlglot annotates expression trees with types when it knows the inputs' types; the declared
source schemas and tag types give those. Where sqlglot cannot tell (``UNKNOWN``), a few Spark
rules fill the gap. The checks only complain about certain contradictions — an expression whose
type is unknown is accepted, because Spark casts the value to the declared type anyway.

Types are compared by *family*: ``numeric``, ``boolean``, ``string``, ``date`` (date or
timestamp), ``array``, ``other`` and ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.expressions import DIALECT, SNAPSHOT_DATE, free_columns, snippet_position
from tagfactory.compiler.sqlpolicy import Violation
from tagfactory.compiler.typemix import misuses
from tagfactory.compiler.types import SPARK_TYPES
from tagfactory.compiler.yamlload import Loc
from tagfactory.errors import CompileError

# Which families a value of each declared type may be computed from (``unknown`` always may).
ACCEPTS: dict[str, frozenset[str]] = {
    "integer": frozenset({"numeric"}),
    "double": frozenset({"numeric"}),
    "boolean": frozenset({"boolean"}),
    "string": frozenset({"numeric", "boolean", "string", "date"}),
    "enum": frozenset({"string"}),
    "date": frozenset({"date", "string"}),
    "array<string>": frozenset({"array"}),
}

_T = exp.DataType.Type
_FAMILIES: dict[str, frozenset[exp.DType]] = {
    "numeric": frozenset(exp.DataType.NUMERIC_TYPES),
    "boolean": frozenset({_T.BOOLEAN}),
    "string": frozenset(exp.DataType.TEXT_TYPES),
    "date": frozenset(exp.DataType.TEMPORAL_TYPES),
    "array": frozenset({_T.ARRAY}),
}
_SAME_AS_FIRST_ARG = (exp.Abs, exp.Sum, exp.Max, exp.Min, exp.Nullif, exp.Neg, exp.Paren, exp.First, exp.Last)
_NUMERIC_RESULT = (exp.Div, exp.IntDiv, exp.Floor, exp.Ceil, exp.Avg, exp.Count, exp.Round, exp.Sqrt,
                   exp.Ln, exp.Log, exp.Pow, exp.Exp, exp.Stddev, exp.Variance, exp.ArraySize, exp.Length)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Mod)
_RESOLVE_ERROR = re.compile(r"Column '([^']+)' could not be resolved(?:.*?Line: (\d+), Col: (\d+))?", re.S)


def family(dtype: exp.DataType | None) -> str:
    """The family of a sqlglot data type."""
    if dtype is None or dtype.this in (_T.UNKNOWN, _T.NULL):
        return "unknown"
    for name, members in _FAMILIES.items():
        if dtype.this in members:
            return name
    return "other"


class ColumnTypes:
    """Declared column types (name -> ``integer``, ``enum``, ...) as a sqlglot schema, built once."""

    TABLE = "t"

    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = dict(types)
        columns = {SNAPSHOT_DATE: "DATE"}
        columns.update({name: SPARK_TYPES[declared] for name, declared in types.items() if declared in SPARK_TYPES})
        self.schema = MappingSchema({self.TABLE: columns}, dialect=DIALECT)


def infer_family(tree: exp.Expr, columns: ColumnTypes) -> str:
    """Family of an expression's result, given the declared types of the columns it reads."""
    return type_expression(tree, columns)[0]


def type_expression(tree: exp.Expr, columns: ColumnTypes, *, text: str = "",
                    offset: int = 0) -> tuple[str, list[Violation]]:
    """The family of an expression's result and its booleans-and-numbers mix-ups (E306, :mod:`typemix`).

    ``text`` and ``offset`` locate the findings inside the snippet (see :func:`typemix.misuses`).
    """
    tree = tree.copy()
    table = exp.to_identifier(ColumnTypes.TABLE)
    for column in free_columns(tree):
        if not column.table:
            column.set("table", table.copy())
    query = exp.select(tree).from_(ColumnTypes.TABLE)
    try:
        annotate_types(query, schema=columns.schema, dialect=DIALECT)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        # sqlglot's annotators assume well-formed calls (`ceil()` with no argument crashes in
        # sqlglot 30); the type is then unknown and Spark's own analysis reports the call
        return "unknown", []
    value = query.expressions[0]
    return _family_of(value), misuses(value, _family_of, _unqualified, text=text, offset=offset)


def _unqualified(node: exp.Expr) -> str:
    """``node`` as the definition wrote it: without the stand-in table :func:`type_expression` adds."""

    def strip(sub: exp.Expr) -> exp.Expr:
        if isinstance(sub, exp.Column) and sub.table == ColumnTypes.TABLE:
            return exp.column(sub.name, quoted=sub.this.quoted if isinstance(sub.this, exp.Identifier) else None)
        return sub

    return node.copy().transform(strip).sql(dialect=DIALECT)


def _family_of(node: exp.Expr) -> str:
    known = family(node.type)
    if known != "unknown":
        return known
    if isinstance(node, exp.Boolean) or isinstance(node, exp.Predicate | exp.Connector | exp.Not):
        return "boolean"
    if isinstance(node, exp.Literal):
        return "string" if node.is_string else "numeric"
    if isinstance(node, exp.Cast):
        return family(node.to)
    if isinstance(node, _NUMERIC_RESULT):
        return "numeric"
    if isinstance(node, _ARITHMETIC):
        sides = {_family_of(node.left), _family_of(node.right)}
        return "numeric" if sides == {"numeric"} else "unknown"
    if isinstance(node, _SAME_AS_FIRST_ARG):
        return _family_of(node.this)
    return _first_known(_branches(node))


def _branches(node: exp.Expr) -> list[exp.Expr]:
    """The sub-expressions whose value can become the node's value."""
    if isinstance(node, exp.Case):
        return [i.args["true"] for i in node.args.get("ifs") or []] + [d for d in [node.args.get("default")] if d]
    if isinstance(node, exp.If):
        return [b for b in (node.args.get("true"), node.args.get("false")) if b is not None]
    if isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Paren):
        return [node.this]
    return []


def _as_written(tree: exp.Expr) -> Callable[[exp.Expr], str]:
    """Render nodes of ``tree``'s qualified copy without the qualifiers ``qualify`` added: a column
    the query names only unqualified is shown unqualified (``opened``, not ``marketing_touches.opened``)."""
    bare = {c.name for c in tree.find_all(exp.Column) if not c.table}
    bare -= {c.name for c in tree.find_all(exp.Column) if c.table}

    def strip(sub: exp.Expr) -> exp.Expr:
        if isinstance(sub, exp.Column) and sub.table and sub.name in bare:
            return exp.column(sub.name)
        return sub

    return lambda node: node.copy().transform(strip).sql(dialect=DIALECT)


def _first_known(nodes: list[exp.Expr]) -> str:
    for node in nodes:
        if isinstance(node, exp.Null):
            continue
        found = _family_of(node)
        if found != "unknown":
            return found
    return "unknown"


def result_literals(tree: exp.Expr) -> Iterator[exp.Literal]:
    """String literals an expression can return as its value (CASE/IF branches, COALESCE args)."""
    if isinstance(tree, exp.Literal) and tree.is_string:
        yield tree
        return
    for branch in _branches(tree):
        yield from result_literals(branch)


def enum_comparisons(tree: exp.Expr, enums: Mapping[str, list[str]]) -> Iterator[tuple[str, str]]:
    """``(column, literal)`` pairs where an enum column is compared with a value it cannot hold."""
    for node in tree.walk():
        pairs: list[tuple[exp.Expr, exp.Expr]] = []
        if isinstance(node, exp.EQ | exp.NEQ | exp.NullSafeEQ):
            pairs = [(node.left, node.right), (node.right, node.left)]
        elif isinstance(node, exp.In):
            pairs = [(node.this, e) for e in node.expressions]
        for column, value in pairs:
            if (isinstance(column, exp.Column) and not column.table and column.name in enums
                    and isinstance(value, exp.Literal) and value.is_string
                    and value.this not in enums[column.name]):
                yield column.name, str(value.this)


class SqlColumnError(CompileError):
    """A column of a ``sql`` tag does not resolve against the declared source schemas."""

    def __init__(self, column: str, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.column, self.line, self.col = column, line, col


def report_unknown_column(exc: SqlColumnError, file: str, loc: Loc, schema: Mapping[str, Mapping[str, str]],
                          label: str, hint: str, sink: DiagnosticSink) -> None:
    """Report ``exc`` as E204 at the column's position inside the YAML ``sql`` block at ``loc``.

    ``label`` prefixes the message (``tag `x`: sql``); ``hint`` is used when no close name exists.
    """
    # sqlglot points at the end of the column token
    start = max(exc.col - len(exc.column) + 1, 1)
    line, col = snippet_position(loc, exc.line, start) if exc.line else (loc.line, loc.col)
    known = sorted({c for cols in schema.values() for c in cols})
    message = (f"unknown column `{exc.column}`: not a declared column of {', '.join(f'`{s}`' for s in schema)}"
               if exc.column else str(exc))
    sink.error(file, line, col, Code.E204, f"{label}: {message}",
               (did_you_mean(exc.column, known) if exc.column else "") or hint)


def sql_value_family(tree: exp.Query, schema: Mapping[str, Mapping[str, str]]) -> str:
    """Resolve every column of a ``sql`` tag against ``schema`` and return its value's family.

    ``schema`` maps source name -> column -> declared type.

    Raises:
        SqlColumnError: a column is not a column of any source in scope.
    """
    return sql_value_types(tree, schema)[0]


def sql_value_types(tree: exp.Query, schema: Mapping[str, Mapping[str, str]], *,
                    text: str = "") -> tuple[str, list[Violation]]:
    """:func:`sql_value_family`, and the query's booleans-and-numbers mix-ups (E306) located in ``text``.

    Raises:
        SqlColumnError: a column is not a column of any source in scope.
    """
    spark_schema: dict[str, object] = {t: {c: SPARK_TYPES[ty] for c, ty in cols.items()} for t, cols in schema.items()}
    stand_in = exp.cast(exp.Literal.string("2000-01-01"), exp.DataType.build("DATE"))

    def bind(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name == SNAPSHOT_DATE:
            return stand_in.copy()
        return node

    bound = tree.copy().transform(bind)
    try:
        qualified = qualify(bound, schema=spark_schema, dialect=DIALECT, validate_qualify_columns=True,
                            quote_identifiers=False, identify=False)
    except OptimizeError as exc:
        match = _RESOLVE_ERROR.search(str(exc))
        if match:
            raise SqlColumnError(match.group(1), int(match.group(2) or 0), int(match.group(3) or 0),
                                 str(exc).split(". Line:")[0]) from None
        raise SqlColumnError("", 0, 0, str(exc).splitlines()[0]) from None
    except (SqlglotError, RecursionError) as exc:
        # untrusted input: a query whose columns cannot be resolved is refused, not passed on
        raise SqlColumnError("", 0, 0, f"its columns cannot be resolved ({str(exc).splitlines()[0][:120]})") from None
    annotate_types(qualified, schema=spark_schema, dialect=DIALECT)
    selects = qualified.selects if isinstance(qualified, exp.Query) else []
    found = misuses(qualified, _family_of, _as_written(tree), text=text)
    return (_family_of(selects[1].unalias()) if len(selects) == 2 else "unknown"), found
