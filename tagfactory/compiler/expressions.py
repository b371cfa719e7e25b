"""Parse the SQL snippets written in definitions, mapped back to YAML lines.

Expressions (``expr``, ``filter``, ``when``) and ``sql`` tags are Spark SQL. They are parsed with
sqlglot; a parse error is reported at the line of the YAML file where the snippet sits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tagfactory.compiler.calls import missing_argument, missing_keyword, names_a_node
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.functions import ALLOWED, DENIED, SYNTAX, function_verdict, spark_names
from tagfactory.compiler.sqlpolicy import (
    Violation,
    check_shape,
    check_text,
    check_tree,
    strip_comments,
)
from tagfactory.compiler.yamlload import Loc

# sqlglot logs warnings that quote the SQL it read: definition text must never reach a log
# unescaped (a pull request could write GitHub workflow commands into it). Diagnostics say it all.
logging.getLogger("sqlglot").setLevel(logging.CRITICAL + 1)

DIALECT = "spark"
SNAPSHOT_DATE = "snapshot_date"

# sqlglot's function builders assume well-formed calls: `map(city)` (an odd number of arguments)
# raises IndexError, `date_trunc()` ValueError, while parsing. Untrusted text: refused, not a traceback.
PARSER_CRASHES: tuple[type[Exception], ...] = (IndexError, ValueError, TypeError, AttributeError, KeyError)

FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.Insert, exp.Delete, exp.Update, exp.Merge, exp.Create, exp.Drop, exp.Alter,
    exp.Command, exp.Use, exp.Set, exp.Transaction, exp.Commit, exp.Rollback,
    exp.LoadData, exp.Cache, exp.Uncache, exp.Refresh, exp.Describe, exp.Pragma,
)


def snippet_position(loc: Loc, line: int, col: int) -> tuple[int, int]:
    """Map a (line, col) inside a YAML scalar to a position in the YAML file."""
    if loc.style in ("|", ">"):
        # block scalar: the text starts on the line after the indicator
        return loc.line + line, col + loc.indent
    if line <= 1:
        return loc.line, loc.col + col - 1 + (1 if loc.style in ('"', "'") else 0)
    return loc.line + line - 1, col


def parse_expression(text: str, where: str, loc: Loc, file: str, sink: DiagnosticSink) -> exp.Expr | None:
    """Parse one Spark SQL expression; report problems at the YAML position."""
    if report_violations(check_text(text), where, loc, file, sink):
        return None
    try:
        tree = sqlglot.parse_one(f"SELECT {text}", read=DIALECT)
    except (ParseError, TokenError) as exc:
        _report_parse(exc, text, where, loc, file, sink, prefix_len=len("SELECT "))
        return None
    except RecursionError:
        _too_deep(where, loc, file, sink)
        return None
    except PARSER_CRASHES:
        _parser_crashed(where, loc, file, sink)
        return None
    if report_violations([v for v in [check_shape(tree)] if v], where, loc, file, sink):
        return None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or tree.args.get("from"):
        sink.error(file, loc.line, loc.col, Code.E401, f"{where} must be a single expression",
                   "remove extra commas or clauses; use a `sql` tag for queries")
        return None
    node = tree.expressions[0]
    if isinstance(node, exp.Alias):
        sink.error(file, loc.line, loc.col, Code.E401, f"{where} must not have an alias (`AS ...`)",
                   "the tag name is the column name; drop the alias")
        return None
    if node.find(exp.Select, exp.Subquery):
        sink.error(file, loc.line, loc.col, Code.E402, f"{where} must not contain a subquery",
                   "use a `sql` tag for logic that needs a query")
        return None
    names = check_functions(node, where, loc, file, sink, text=text)
    if names is None:
        return None
    if report_violations(check_tree(node, query=False, offset=len("SELECT "), text=text, names=names),
                         where, loc, file, sink):
        return None
    return strip_comments(node)


def parse_select(text: str, where: str, loc: Loc, file: str, sink: DiagnosticSink) -> exp.Query | None:
    """Parse the ``sql`` of a sql tag: exactly one read-only query."""
    if report_violations(check_text(text), where, loc, file, sink):
        return None
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except (ParseError, TokenError) as exc:
        _report_parse(exc, text, where, loc, file, sink, prefix_len=0)
        return None
    except RecursionError:
        _too_deep(where, loc, file, sink)
        return None
    except PARSER_CRASHES:
        _parser_crashed(where, loc, file, sink)
        return None
    if len(statements) != 1:
        sink.error(file, loc.line, loc.col, Code.E402, f"{where} must be exactly one SELECT statement, found {len(statements)}",
                   "remove the extra statements (and any `;` separators)")
        return None
    tree = statements[0]
    if report_violations([v for v in [check_shape(tree)] if v], where, loc, file, sink):
        return None
    bad = next((n for n in tree.walk() if isinstance(n, FORBIDDEN_NODES)), None)
    if bad is not None or not isinstance(tree, exp.Query):
        kind = type(bad or tree).__name__.upper()
        sink.error(file, loc.line, loc.col, Code.E402, f"{where} must be a read-only SELECT; found {kind}",
                   "sql tags may only read declared sources: no DDL, DML or commands")
        return None
    names = check_functions(tree, where, loc, file, sink, text=text)
    if names is None:
        return None
    if report_violations(check_tree(tree, query=True, text=text, names=names), where, loc, file, sink):
        return None
    return strip_comments(tree)


def report_violations(violations: list[Violation], where: str, loc: Loc, file: str, sink: DiagnosticSink) -> bool:
    """Report policy findings at their YAML positions; True when there was any."""
    for v in violations:
        line, col = snippet_position(loc, v.line, v.col) if v.line else (loc.line, loc.col)
        sink.error(file, line, col, v.code, f"{where}: {v.message}", v.hint)
    return bool(violations)


def check_functions(tree: exp.Expr, where: str, loc: Loc, file: str,
                    sink: DiagnosticSink, *, text: str = "") -> dict[int, list[str]] | None:
    """Refuse the function calls a snippet may not make, in one walk of its tree.

    A typed call without a mandatory argument (sqlglot's parser lets ``floor()`` through, and its
    type annotator then crashed on it) is E401: the first one found is the only report. Otherwise
    every function that is not on the allow-list (see :mod:`functions`) is E404, once per name.
    ``text`` is the snippet as written: the call is named as it is there (:mod:`calls`), not by
    sqlglot's node (``datediff(a)`` lacks an argument of ``datediff``, not of ``ts_or_ds_to_date``).

    Returns:
        The names of every function node by ``id`` (for the policy check of the same tree), or
        ``None`` when a call lacks an argument: the snippet is refused and must not be annotated.
    """
    calls: list[exp.Func] = []
    for func in tree.find_all(exp.Func):
        missing = _missing_argument(func)
        if missing is not None:
            call = missing_argument(func, missing, text)
            sink.error(file, loc.line, loc.col, Code.E401, f"{where} {call.message()}", call.hint())
            return None
        # operators (AND, +, CASE ...) have no name to check, and rendering them is costly; the
        # others are named once the walk has found every call complete (naming renders the call)
        if not isinstance(func, SYNTAX):
            calls.append(func)
    reported: set[str] = set()
    names_of: dict[int, list[str]] = {}
    for func in calls:
        names = names_of[id(func)] = spark_names(func)
        verdict = function_verdict(func, names)
        if verdict is None or verdict[0] in reported:
            continue
        name, reason = verdict
        reported.add(name)
        hint = did_you_mean(name, ALLOWED) if name not in DENIED else ""
        sink.error(file, loc.line, loc.col, Code.E404, f"{where} uses the function `{name}`, which {reason}",
                   hint or "definitions may use Spark built-in functions that are deterministic and read only "
                   "declared data; see docs/tag-language.md#functions")
    return names_of


def _missing_argument(func: exp.Func) -> str | None:
    """The first mandatory argument a typed call lacks, in its declared order (``this`` of ``floor()``).

    Not ``Expression.error_messages()``: it names the argument only inside a message, iterates a set
    (which one it names first varies with PYTHONHASHSEED) and raises on unknown keys under pytest.
    """
    if isinstance(func, exp.Anonymous):
        return None
    return next((key for key, required in func.arg_types.items()
                 if required and func.args.get(key) in (None, [])), None)


def free_columns(tree: exp.Expr) -> Iterator[exp.Column]:
    """Column references that are not lambda variables.

    A lambda variable is an unqualified name bound by an enclosing lambda (``x``), or the
    qualifier of a field of one (``x.field``); a qualified column (``users.city``) never is, so
    naming a parameter like a column cannot hide a qualified reference.
    """
    for column in tree.find_all(exp.Column):
        lambda_vars: set[str] = set()
        parent = column.parent
        while parent is not None:
            if isinstance(parent, exp.Lambda):
                lambda_vars.update(p.name for p in parent.expressions)
            parent = parent.parent
        if column.args.get("db") or column.args.get("catalog"):
            yield column
        elif column.table:
            if column.table not in lambda_vars:
                yield column
        elif column.name not in lambda_vars:
            yield column


def _parser_crashed(where: str, loc: Loc, file: str, sink: DiagnosticSink) -> None:
    sink.error(file, loc.line, loc.col, Code.E401, f"{where} does not parse as Spark SQL: a function call in it has "
               "arguments of the wrong number or kind", "check each call's arguments against Spark's documentation "
               "of the function (https://spark.apache.org/docs/latest/api/sql/)")


def _too_deep(where: str, loc: Loc, file: str, sink: DiagnosticSink) -> None:
    sink.error(file, loc.line, loc.col, Code.E401, f"{where} is nested too deeply to parse",
               "simplify it: fewer nested parentheses or CASE expressions, or split it into derived tags")


def _report_parse(exc: ParseError | TokenError, text: str, where: str, loc: Loc, file: str,
                  sink: DiagnosticSink, prefix_len: int) -> None:
    errors = getattr(exc, "errors", None) or [{}]
    first = errors[0]
    line = int(first.get("line") or 1)
    col = int(first.get("col") or 1)
    if line == 1:
        col = max(col - prefix_len, 1)
    yl, yc = snippet_position(loc, line, col)
    desc = str(first.get("description") or str(exc).splitlines()[0])
    parsed = ("SELECT " + text) if prefix_len else text
    call = missing_keyword(desc, parsed, int(first.get("line") or 1), int(first.get("col") or 1))
    if call is not None:  # sqlglot names its own node (`<class '...TimeToStr'>`): name the call written
        sink.error(file, yl, yc, Code.E401, f"{where} {call.message()}", call.hint())
        return
    if names_a_node(desc):  # `n BETWEEN 1`, `CASE x END`: not a call, still not sqlglot's class name
        near = str(first.get("highlight") or "").strip()
        desc = "an operator or clause is incomplete" + (f" near `{near}`" if near else "")
    sink.error(file, yl, yc, Code.E401, f"{where} does not parse as Spark SQL: {desc}",
               "check parentheses, quotes and commas near this position")
