"""Booleans and numbers mixed up in a snippet: arithmetic on a boolean, a number as a condition (E306).

sqlglot parses ``(amount > 10) + 1``, ``-is_test_account`` or ``sum(opened)`` and even types
``boolean + int`` as a boolean; Spark refuses them in analysis (under ANSI mode, on by default in
Spark 4, a boolean is never implicitly a number), so the tag would fail at build time, after
validate said it was fine. The mirror case is a number where Spark needs a condition (strings are left to Spark, which may cast them): ``NOT x * 2``
parses as ``NOT (x * 2)``, and ``NOT``, ``AND``, ``OR`` and ``CASE WHEN`` / ``IF`` need booleans.

:func:`misuses` walks a tree that :mod:`typecheck` has annotated with the declared column types,
so boolean source columns, boolean tags and boolean sub-expressions (comparisons, ``AND`` / ``OR``
/ ``NOT``, ``IN``, ``IS NULL``, ``LIKE``, ``BETWEEN`` ...) are all seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlglot import exp

from tagfactory.compiler.codes import Code
from tagfactory.compiler.sqlpolicy import Violation, offset_position

# Spark operators and functions that take numbers, as the user writes them.
ARITHMETIC: dict[type[exp.Expr], str] = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.IntDiv: "div", exp.Mod: "%",
    exp.Neg: "unary -", exp.SafeAdd: "try_add", exp.SafeSubtract: "try_subtract",
    exp.SafeMultiply: "try_multiply", exp.SafeDivide: "try_divide",
    exp.Sum: "sum", exp.Avg: "avg", exp.Abs: "abs",
}
_LOGIC: dict[type[exp.Expr], str] = {exp.Not: "NOT", exp.And: "AND", exp.Or: "OR"}
_SHOWN = 80  # characters of an operand quoted in a message


def misuses(tree: exp.Expr, family: Callable[[exp.Expr], str], render: Callable[[exp.Expr], str],
            *, text: str = "", offset: int = 0) -> list[Violation]:
    """E306 findings in an annotated ``tree``, each at its operand's position in ``text``.

    ``family`` gives a node's type family (``boolean``, ``numeric`` ...), ``render`` the SQL the
    user reads for a node; ``offset``: characters the parser saw before ``text`` (``SELECT ``).
    """
    out: list[Violation] = []
    for operand, operator, boolean in _findings(tree, family):
        shown = render(_unwrap(operand))
        shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN - 3] + "..."
        line, col = _start(operand, offset, text)
        if boolean:
            out.append(Violation(
                Code.E306, f"uses the boolean `{shown}` in arithmetic (`{operator}`), which Spark SQL refuses: a "
                "boolean is not a number",
                f"turn it into a number first: `CASE WHEN {shown} THEN 1 ELSE 0 END` (or `int({shown})`)"
                + (f"; to count rows where it holds, `count_if({shown})`" if operator == "sum" else ""),
                line, col))
        else:
            out.append(Violation(
                Code.E306, f"uses the number `{shown}` as a condition (`{operator}` needs a boolean); "
                "Spark SQL does not turn numbers into booleans",
                f"compare it, e.g. `{shown} > 0` or `{shown} IS NOT NULL`"
                + ("; `NOT` binds looser than arithmetic and comparisons: `NOT x * 2` is `NOT (x * 2)`"
                   if operator == "NOT" else ""), line, col))
        if len(out) >= 5:
            break
    return out


def _findings(tree: exp.Expr, family: Callable[[exp.Expr], str]) -> Iterator[tuple[exp.Expr, str, bool]]:
    """``(operand, operator, boolean)``: ``boolean`` True for a boolean in arithmetic, else a number as a condition."""
    for node in tree.walk():
        if type(node) in ARITHMETIC:
            for operand in _operands(node):
                if _value_family(operand, family) == "boolean":
                    yield operand, ARITHMETIC[type(node)], True
        elif type(node) in _LOGIC:
            for operand in _operands(node):
                if _value_family(operand, family) == "numeric":
                    yield operand, _LOGIC[type(node)], False
        elif isinstance(node, exp.If) and node.args.get("this") is not None:
            condition = node.this
            if _value_family(condition, family) == "numeric":
                yield condition, "CASE WHEN" if isinstance(node.parent, exp.Case) else "IF", False


def _operands(node: exp.Expr) -> list[exp.Expr]:
    """Both sides of a binary operator or two-argument function (``try_add``), else the one argument."""
    sides = [node.this, node.args.get("expression")] if "expression" in node.arg_types else [node.this]
    return [side for side in sides if isinstance(side, exp.Expr)]


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _value_family(node: exp.Expr, family: Callable[[exp.Expr], str]) -> str:
    """The family of an operand; an arithmetic operand counts as numeric (its own operands are checked)."""
    node = _unwrap(node)
    if type(node) in ARITHMETIC:
        return "numeric"
    if type(node) in _LOGIC or isinstance(node, exp.Predicate | exp.Boolean):
        return "boolean"
    return family(node)


def _start(node: exp.Expr, offset: int, text: str) -> tuple[int, int]:
    """1-based (line, col) in ``text`` of the first token of ``node`` that carries a position, or (0, 0)."""
    starts = [sub.meta["start"] for sub in node.walk() if sub._meta and isinstance(sub.meta.get("start"), int)]  # noqa: SLF001
    return offset_position(text, max(min(starts) - offset, 0)) if starts and text else (0, 0)
