"""The SQL policy for untrusted definitions: an allow-list of sqlglot node types, plus limits.

Definitions come from pull requests, so every SQL snippet (``expr``, ``filter``, ``when``, the
``sql`` of tags and audiences) is checked against an explicit list of the syntax a definition
may use. A construct the list does not name is an error (``E406``), whatever it is: script
transforms, hints, ``TABLESAMPLE``, time travel, ``LATERAL VIEW``, ``VALUES``, session
parameters ... (see docs/security.md). Functions go through the function allow-list
(:mod:`functions`). The same checks run on the fused query the compiler emits
(:func:`check_emitted`), so nothing reaches Spark that the policy has not seen.

Work is bounded before any recursive pass: the raw text is measured (characters, tokens,
nesting of parentheses and CASE) before sqlglot parses it, and the tree (nodes, depth) before
anything walks it recursively. Modelled on sqlglot's own errors: each finding is a
:class:`Violation` with a code and a position inside the snippet; callers locate it in YAML.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from tagfactory.compiler.codes import Code
from tagfactory.compiler.functions import ALLOWED, SYNTAX, function_verdict, spark_names
from tagfactory.errors import CompileError

_E = TypeVar("_E", bound=exp.Expr)

# --- limits (the same in validate and compile) ---------------------------------------------
MAX_CHARS = 20_000  # characters of one snippet
MAX_TOKENS = 4_000  # tokens of one snippet
MAX_NESTING = 24  # nested ( [ CASE in the text: sqlglot's parser recurses ~40 levels deep
MAX_DEPTH = 64  # depth of the parsed tree (chains of one operator count as one level)
MAX_NODES = 6_000  # nodes of the parsed tree
MAX_ALLOC = 10_000  # literal sizes given to functions that allocate (repeat, lpad, sequence ...)
MAX_SEQUENCE = 100_000  # elements of sequence(<literal>, <literal>)
MAX_INT_DIGITS = 38  # DECIMAL(38): Spark rejects longer integer literals
# the compiled query wraps snippets in a few levels of its own (CTE, SELECT, CASE, COALESCE, CAST)
EMIT_DEPTH = MAX_DEPTH * 2 + 32

SUBSTITUTION = re.compile(r"\$\{")
_SPARK = Spark()

# Syntax a definition may use in an expression (expr, filter, when).
_EXPRESSION_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Dot, exp.Bracket,
    exp.DataType, exp.DataTypeParam, exp.Var, exp.Interval, exp.Lambda, exp.Distinct, exp.Tuple,
    exp.PropertyEQ, exp.Alias,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.And, exp.Or, exp.Not, exp.Neg, exp.Is, exp.Like, exp.ILike, exp.RegexpLike, exp.Escape,
    exp.Between, exp.In, exp.Any, exp.All,
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.BitwiseLeftShift, exp.BitwiseRightShift,
    exp.Case, exp.If, exp.Cast, exp.TryCast,
)
# ... plus, in a query (sql tags and audiences): one read-only SELECT over declared sources.
_QUERY_NODES: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.From, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Join, exp.With,
    exp.CTE, exp.Subquery, exp.Table, exp.TableAlias, exp.Union, exp.Intersect, exp.Except, exp.Window,
    exp.WindowSpec, exp.Filter, exp.Star,
)
# ... plus what only the compiler writes: the `:snapshot_date` parameter and `SELECT *` of its CTEs.
_EMITTED_NODES: tuple[type[exp.Expr], ...] = (exp.Placeholder,)
# ... plus, in the one-pass audience query only (compiler/audience_pass.py): its inline decode table
# (`VALUES` of literals), `BROADCAST` of that table and the multi-alias of its `POSEXPLODE_OUTER`.
_ONE_PASS_NODES: tuple[type[exp.Expr], ...] = (exp.Values, exp.Hint, exp.JoinHint, exp.Aliases)
_DECODE_NODES: tuple[type[exp.Expr], ...] = (exp.Tuple, exp.Literal, exp.Array, exp.TableAlias,
                                                   exp.Identifier)

# Functions that allocate memory in proportion to an argument: (name, index of the size argument).
ALLOCATING: dict[str, tuple[int, ...]] = {
    "repeat": (1,), "array_repeat": (1,), "space": (0,), "lpad": (1,), "rpad": (1,),
}
GENERATORS = frozenset("explode explode_outer posexplode posexplode_outer inline inline_outer stack".split())
# Aggregate functions sqlglot keeps as plain names (the others are AggFunc nodes).
_AGGREGATE_NAMES = frozenset("""
histogram_numeric every hll_sketch_agg hll_union_agg approx_count_distinct approx_percentile bit_and
bit_or bit_xor bool_and bool_or collect_list collect_set count_if kurtosis skewness listagg string_agg
median mode percentile percentile_approx percentile_cont percentile_disc regr_avgx regr_avgy regr_count
regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy some any any_value max_by min_by try_avg
try_sum covar_pop covar_samp corr std stddev stddev_pop stddev_samp var_pop var_samp variance
""".split())


class PolicyError(CompileError, ValueError):
    """The compiler produced SQL the policy refuses (a bug, or definitions that bypassed validate)."""


@dataclass(frozen=True)
class Violation:
    """One finding: a code, a message and a hint, at a 1-based position inside the snippet (0 = unknown)."""

    code: Code
    message: str
    hint: str = ""
    line: int = 0
    col: int = 0


# --- before parsing ----------------------------------------------------------------------------

def check_text(text: str) -> list[Violation]:
    """Limits on the raw text, checked before sqlglot parses it (the parser recurses)."""
    if "\x00" in text:
        return [Violation(Code.E401, "contains a NUL character", "remove the control character")]
    found = SUBSTITUTION.search(text)
    if found:
        line, col = offset_position(text, found.start())
        return [Violation(Code.E407, "contains `${`, which Spark's variable substitution would replace "
                          "(`${env:...}`, `${system:...}`, `${spark...}`)",
                          "definitions may not contain `${`; write the value itself", line, col)]
    if len(text) > MAX_CHARS:
        return [Violation(Code.E408, f"is {len(text):,} characters long, more than the {MAX_CHARS:,} allowed",
                          "split it into several tags")]
    lowered = text.lower()
    if len(text) <= MAX_TOKENS and text.count("(") + text.count("[") + lowered.count("case") <= MAX_NESTING:
        return []  # cannot exceed the limits (a token has at least one character): skip tokenizing
    try:
        tokens = _SPARK.tokenize(text)
    except TokenError:
        return []  # the parser reports it, located
    if len(tokens) > MAX_TOKENS:
        return [Violation(Code.E408, f"has {len(tokens):,} tokens, more than the {MAX_TOKENS:,} allowed",
                          "split it into several tags")]
    depth = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.CASE):
            depth += 1
            if depth > MAX_NESTING:
                return [Violation(Code.E408, f"nests parentheses or CASE more than {MAX_NESTING} levels deep",
                                  "simplify it, or split it into derived tags", token.line, token.col)]
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.END):
            depth = max(depth - 1, 0)
    return []


def offset_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- after parsing -----------------------------------------------------------------------------

def check_shape(tree: exp.Expr, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Violation | None:
    """Node count and depth, measured without recursion (a chain of one operator is one level)."""
    nodes = 0
    stack: list[tuple[exp.Expr, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return Violation(Code.E408, f"has more than {max_nodes:,} syntax nodes", "split it into several tags")
        if depth > max_depth:
            return Violation(Code.E408, f"is nested more than {max_depth} levels deep",
                             "simplify it, or split it into derived tags")
        for child in _children(node):
            same_chain = type(child) is type(node) and isinstance(node, exp.Binary)
            stack.append((child, depth if same_chain else depth + 1))
    return None


def _children(node: exp.Expr) -> Iterator[exp.Expr]:
    for value in node.args.values():
        if isinstance(value, exp.Expression):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, exp.Expression))


def strip_comments(tree: _E) -> _E:
    """Drop every comment: a definition's comments never reach the compiled SQL."""
    for node in tree.walk():
        if node.comments:
            node.comments = None
    return tree


def check_tree(tree: exp.Expr, *, query: bool, offset: int = 0, text: str = "",
               names: dict[int, list[str]] | None = None) -> list[Violation]:
    """Every node against the allow-list, plus the rules on literals, allocations and aggregates.

    Args:
        tree: A parsed snippet (an expression, or a query when ``query``).
        query: The snippet is the ``sql`` of a tag or audience (else an expression).
        offset: Characters sqlglot saw before the snippet (``SELECT `` for expressions).
        text: The snippet, to turn token offsets into line and column.
        names: :func:`functions.spark_names` of the function nodes by ``id``, when already known.
    """
    allowed = _EXPRESSION_NODES + (_QUERY_NODES if query else ())
    out: list[Violation] = []
    seen: set[str] = set()

    def add(v: Violation, node: exp.Expr) -> None:
        if v.message in seen:
            return
        seen.add(v.message)
        line, col = _position(node, offset, text)
        out.append(Violation(v.code, v.message, v.hint, line, col))

    known = names or {}
    for node in tree.walk():
        found = _node_violation(node, allowed, query=query, names=known.get(id(node)))
        if found is not None:
            add(found, node)
    return out


def check_emitted(tree: exp.Expr, sources: set[str], ctes: set[str], *,
                  one_pass: int = 0, parts: int = 0) -> list[Violation]:
    """The compiled query, checked as a whole: the allow-list, limits, tables and no `${`.

    ``one_pass``: the tree is the one-pass query of that many audiences (each condition already
    checked within the limits on its own): its decode table, hint and generator alias are
    allowed (see :func:`_one_pass_violation`), and the limits grow with the number of audiences.
    ``parts``: the tree is the compiler's own query over that many definitions (the tags of an
    entity), each snippet already checked within the limits on its own: the node limit grows
    with their number (``MAX_NODES`` per part, plus one for the compiler's frame), so an entity
    of 2,000 tags compiles; an untrusted snippet is still held to ``MAX_NODES`` where it is parsed.
    """
    if one_pass:
        shape = check_shape(tree, EMIT_DEPTH + 16, max_nodes=MAX_NODES * (one_pass + 1))
    else:
        shape = check_shape(tree, EMIT_DEPTH, max_nodes=MAX_NODES * (parts + 1))
    if shape is not None:
        return [shape]
    allowed = _EXPRESSION_NODES + _QUERY_NODES + _EMITTED_NODES + (_ONE_PASS_NODES if one_pass else ())
    aliases = {a.name for a in tree.find_all(exp.TableAlias)} if one_pass else set()
    out: list[Violation] = []
    for node in tree.walk():
        if one_pass:
            special = _one_pass_violation(node, aliases)
            if special is not None:
                out.append(special)
                continue
            if isinstance(node, exp.Table) and isinstance(node.parent, exp.JoinHint):
                continue  # names a relation of the query, checked with its hint
        if node.comments:
            out.append(Violation(Code.E406, "a comment is not allowed in the compiled query"))
        if isinstance(node, exp.Placeholder) and node.name != "snapshot_date":
            out.append(Violation(Code.E406, f"the parameter `:{node.name}` is not allowed in the compiled query"))
        if isinstance(node, exp.Table):
            name = node.name
            if name not in sources and name not in ctes:
                out.append(Violation(Code.E403, f"the compiled query reads `{node.sql(dialect='spark')}`, "
                                     "which is neither a declared source nor a compiler CTE"))
        if isinstance(node, exp.Literal) and node.is_string and SUBSTITUTION.search(node.this):
            out.append(Violation(Code.E407, "the compiled query contains `${`"))
        found = _node_violation(node, allowed, query=True, emitted=True)
        if found is not None:
            out.append(found)
    return out


def check_compiled(query: exp.Expr, sources: set[str], what: str, *, one_pass: int = 0, parts: int = 0) -> None:
    """Run the policy over an emitted query, as built and as Spark will read its text.

    ``one_pass``, ``parts``: see :func:`check_emitted`.

    Raises:
        PolicyError: the query holds anything the policy refuses.
    """
    problems = check_emitted(query, sources, {c.alias_or_name for c in query.find_all(exp.CTE)}, one_pass=one_pass,
                             parts=parts)
    if not problems:
        text = query.sql(dialect="spark")
        if SUBSTITUTION.search(text):
            problems = [Violation(Code.E407, "the compiled SQL contains `${`")]
        else:
            reparsed = sqlglot.parse_one(text, read="spark")
            problems = check_emitted(reparsed, sources, {c.alias_or_name for c in reparsed.find_all(exp.CTE)},
                                     one_pass=one_pass, parts=parts)
    if problems:
        raise PolicyError(f"the compiled query of {what} fails the SQL policy: "
                          + "; ".join(f"{v.code}: {v.message}" for v in problems[:5]))


def _one_pass_violation(node: exp.Expr, aliases: set[str]) -> Violation | None:
    """The one pass's own constructs: VALUES of literals only, BROADCAST of one of its relations,
    a column-list alias of a generator only."""
    if isinstance(node, exp.Values):
        if node.parent is None or not isinstance(node.parent, exp.Join):
            return Violation(Code.E406, "the one-pass query's `VALUES` table must be joined")
        for sub in node.walk():
            if sub is not node and type(sub) not in _DECODE_NODES or (isinstance(sub, exp.Array) and not
                                                  all(isinstance(e, exp.Literal) for e in sub.expressions)):
                return Violation(Code.E406, "the one-pass query's `VALUES` table may hold literals only")
    if isinstance(node, exp.JoinHint):
        names = [t.name for t in node.expressions if isinstance(t, exp.Table)]
        if str(node.this).upper() != "BROADCAST" or len(names) != len(node.expressions) \
                or any(n not in aliases for n in names):
            return Violation(Code.E406, f"the hint `{node.sql(dialect='spark')}` is not allowed in the compiled query")
    if isinstance(node, exp.Hint) and not isinstance(node.parent, exp.Select):
        return Violation(Code.E406, "a hint is allowed on a SELECT only")
    if isinstance(node, exp.Aliases) and not (isinstance(node.this, exp.Func) and
                                              any(n in GENERATORS for n in spark_names(node.this))):
        return Violation(Code.E406, "a column-list alias is allowed on a generator only")
    return None


def _node_violation(node: exp.Expr, allowed: tuple[type[exp.Expr], ...], *, query: bool,
                    emitted: bool = False, names: list[str] | None = None) -> Violation | None:
    # exact types: a subclass of an allowed node is another construct (DISTRIBUTE BY is an ORDER BY)
    if isinstance(node, SYNTAX) and type(node) not in allowed:
        # operators sqlglot also models as functions (array_contains): their class names decide, since
        # rendering a long chain of them at every node would be quadratic
        names = [n.lower() for n in node.sql_names()] if isinstance(node, exp.Func) else []
        if not isinstance(node, exp.Func) or not any(name in ALLOWED for name in names):
            return _construct(node)
        return _function_rules(node, names, query=query, emitted=emitted)
    if isinstance(node, exp.Func) and type(node) not in allowed:
        names = names if names is not None else spark_names(node)  # renders the node: computed once
        if function_verdict(node, names) is not None:
            return None  # reported as E404 by the function check, with its reason
        if not any(name in ALLOWED for name in names):
            return _construct(node)
        return _function_rules(node, names, query=query, emitted=emitted)
    if type(node) not in allowed:
        return _construct(node)
    if isinstance(node, exp.Table) and not emitted:
        extra = [k for k, v in node.args.items() if v and k not in ("this", "alias", "db", "catalog")]
        if not isinstance(node.this, exp.Identifier):
            return Violation(Code.E406, "a table-valued function is not allowed in definitions",
                             "read declared sources by name")
        if extra:
            return Violation(Code.E406, f"`{extra[0]}` on a table is not allowed in definitions",
                             "read declared sources by name, without modifiers")
    if isinstance(node, exp.Star) and not emitted and not isinstance(node.parent, exp.Count):
        return Violation(Code.E412, "`*` is not allowed in definitions (only in `count(*)`)",
                         "name the columns you read")
    if isinstance(node, exp.Literal) and not node.is_string:
        return _number(node)
    if isinstance(node, exp.Literal) and SUBSTITUTION.search(node.this):
        return Violation(Code.E407, "contains `${`, which Spark's variable substitution would replace",
                         "definitions may not contain `${`")
    if isinstance(node, exp.Window) and not query:
        return Violation(Code.E411, "a window function (`OVER`) is not allowed in an expression",
                         "use a `sql` tag for window functions")
    if isinstance(node, exp.Case | exp.If | exp.Cast | exp.TryCast):
        return None
    return None


def _construct(node: exp.Expr) -> Violation:
    name = _CONSTRUCT_NAMES.get(type(node)) or _rendered(node)
    return Violation(Code.E406, f"{name} is not allowed in definitions",
                     "definitions may use expressions, functions on the allow-list and one SELECT over "
                     "declared sources; see docs/security.md")


_CONSTRUCT_NAMES: dict[type[exp.Expr], str] = {
    exp.QueryTransform: "a script transform (`TRANSFORM ... USING`)",
    exp.Hint: "a hint (`/*+ ... */`)",
    exp.JoinHint: "a join hint",
    exp.TableSample: "`TABLESAMPLE`",
    exp.Version: "time travel (`VERSION AS OF` / `TIMESTAMP AS OF`)",
    exp.Lateral: "`LATERAL VIEW`",
    exp.Values: "`VALUES`",
    exp.Limit: "`LIMIT`",
    exp.Pivot: "`PIVOT`",
    exp.Parameter: "a session parameter",
    exp.Placeholder: "a parameter placeholder",
    exp.Distribute: "`DISTRIBUTE BY`",
    exp.Cluster: "`CLUSTER BY`",
    exp.Sort: "`SORT BY`",
    exp.Schema: "a column list",
    exp.Window: "a window function (`OVER`) outside a sql tag",
    exp.Order: "`ORDER BY` outside a sql tag",
    exp.Ordered: "`ORDER BY` outside a sql tag",
    exp.Union: "`UNION`", exp.Except: "`EXCEPT`", exp.Intersect: "`INTERSECT`",
    exp.Select: "a subquery",
    exp.Subquery: "a subquery",
    exp.AtTimeZone: "`from_utc_timestamp` (or `AT TIME ZONE`)",
    exp.FromTimeZone: "`to_utc_timestamp`",
    exp.WithinGroup: "`WITHIN GROUP`",
    exp.IgnoreNulls: "`IGNORE NULLS`",
    exp.RespectNulls: "`RESPECT NULLS`",
    exp.HexString: "a hex literal (`X'...'`)",
    exp.SimilarTo: "`SIMILAR TO`",
    exp.IntervalSpan: "an interval span (`... TO ...`)",
    exp.ColumnDef: "a struct type with named fields",
}


def _rendered(node: exp.Expr) -> str:
    """A construct the table above does not name, as Spark SQL (sqlglot's class name means nothing to users)."""
    try:
        text = " ".join(node.sql(dialect="spark").split())
    except Exception:  # noqa: BLE001 - a node sqlglot cannot render: its class name, as words
        text = ""
    if not text:
        return "the construct " + re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(node).__name__).lower()
    return f"the construct `{text if len(text) <= 60 else text[:57] + '...'}`"


def _function_rules(node: exp.Func, names: list[str], *, query: bool, emitted: bool) -> Violation | None:
    if not query and (isinstance(node, exp.AggFunc) or any(n in _AGGREGATE_NAMES for n in names)
                      or any(n in ("count",) for n in names)):
        return Violation(Code.E411, f"the aggregate `{names[-1]}` is not allowed in an expression",
                         "use an aggregate tag (`kind: aggregate`), or a `sql` tag")
    if not emitted and any(n in GENERATORS for n in names) and not (query and _in_select_list(node)):
        return Violation(Code.E411, f"the generator `{names[-1]}` is only allowed in the SELECT list of a sql tag",
                         "use array functions (transform, filter, aggregate) in expressions")
    for name in names:
        if name in ALLOCATING:
            return _allocation(node, name)
        if name == "sequence":
            return _sequence(node)
    return None


def _in_select_list(node: exp.Expr) -> bool:
    parent = node.parent
    while isinstance(parent, exp.Alias):
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and node in parent.expressions


def _args(node: exp.Func) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    out: list[exp.Expr] = []
    for key in node.arg_types:
        value = node.args.get(key)
        if isinstance(value, list):
            out.extend(v for v in value if isinstance(v, exp.Expression))
        elif isinstance(value, exp.Expression):
            out.append(value)
    return out


def _literal_value(node: exp.Expr | None) -> Decimal | None:
    if isinstance(node, exp.Paren):
        return _literal_value(node.this)
    if isinstance(node, exp.Neg):
        inner = _literal_value(node.this)
        return -inner if inner is not None else None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return Decimal(node.this.rstrip("LlSsYyDdBbFf") or "0")
        except InvalidOperation:
            return None
    return None


def _allocation(node: exp.Func, name: str) -> Violation | None:
    args = _args(node)
    for index in ALLOCATING[name]:
        size = args[index] if index < len(args) else None
        if size is None or isinstance(size, exp.Column):
            continue
        value = _literal_value(size)
        if value is None:
            return Violation(Code.E409, f"the size argument of `{name}` must be a number or a column, not an "
                             "expression", f"write a number up to {MAX_ALLOC:,}")
        if abs(value) > MAX_ALLOC:
            return Violation(Code.E409, f"`{name}` with size {value} is larger than the {MAX_ALLOC:,} allowed",
                             "functions that allocate memory take literal sizes up to "
                             f"{MAX_ALLOC:,}")
    return None


def _sequence(node: exp.Func) -> Violation | None:
    args = _args(node)
    start, stop = (_literal_value(a) for a in (args + [None, None])[:2])
    step = _literal_value(args[2]) if len(args) > 2 else Decimal(1)
    if start is None or stop is None:
        return None
    count = abs(stop - start) / abs(step) if step else Decimal("Infinity")
    if count > MAX_SEQUENCE:
        return Violation(Code.E409, f"`sequence({start}, {stop})` has more than {MAX_SEQUENCE:,} elements",
                         f"sequences of literals may have at most {MAX_SEQUENCE:,} elements")
    return None


def _number(node: exp.Literal) -> Violation | None:
    text = node.this.rstrip("LlSsYyDdBbFf")
    digits = text.lstrip("+-").split(".")[0].split("e")[0].split("E")[0].lstrip("0")
    if "e" not in text.lower() and len(digits) > MAX_INT_DIGITS:
        return Violation(Code.E409, f"the number {node.this[:20]}... has more than {MAX_INT_DIGITS} digits",
                         "Spark's numbers have at most 38 digits (DECIMAL(38))")
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return Violation(Code.E409, f"the number {node.this[:40]} is out of range", "use a finite number")
    return None


def _position(node: exp.Expr, offset: int, text: str) -> tuple[int, int]:
    """1-based (line, col) of the first token of ``node`` inside the snippet, or (0, 0)."""
    for sub in node.walk():
        start = sub.meta.get("start") if sub._meta else None  # noqa: SLF001 - avoid creating meta dicts
        if isinstance(start, int):
            return offset_position(text, max(start - offset, 0)) if text else (0, 0)
    return 0, 0
