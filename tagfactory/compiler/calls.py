"""Function calls named as the definition wrote them, never by sqlglot's internal node names.

sqlglot models many Spark functions with nodes of its own and inserts implicit conversions:
``datediff(a, b)`` parses as ``DateDiff(TsOrDsToDate(a), TsOrDsToDate(b))``, ``date_format(x)`` as
``TimeToStr(TimeStrToTime(x))``. A message built from those nodes would speak of
``ts_or_ds_to_date`` or ``<class 'sqlglot.expressions.temporal.TimeToStr'>``, which the author never
wrote. The helpers here find the call in the snippet's own text instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from tagfactory.compiler.functions import spark_names

# Conversions sqlglot's Spark parser wraps around the arguments of date functions on its own
# (``datediff``, ``day``, ``month``, ``dayofweek``, ``date_format`` ...): never written by the user.
IMPLICIT: tuple[type[exp.Expr], ...] = (exp.TsOrDsToDate, exp.TimeStrToTime, exp.TsOrDsToTimestamp)
_SPARK = Spark()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MISSING_KEYWORD = re.compile(r"Required keyword: '[^']*' missing for <class '[^']*'>")
_SHOWN = 80  # characters of a call quoted in a message


@dataclass(frozen=True)
class MissingArgument:
    """A call written with too few arguments: its name and text as written, and the counts when known."""

    name: str
    call: str
    needs: int = 0
    got: int = 0

    def message(self) -> str:
        """``calls `datediff(registered_at)` with 1 argument; `datediff` needs at least 2``."""
        if not self.needs:
            return f"calls `{self.call}` with too few arguments"
        given = {0: "no arguments", 1: "1 argument"}.get(self.got, f"{self.got} arguments")
        return f"calls `{self.call}` with {given}; `{self.name}` needs at least {self.needs}"

    def hint(self) -> str:
        """Where to look up the function's arguments."""
        return (f"give `{self.name}` all its arguments, as Spark's documentation of `{self.name}` shows "
                "(https://spark.apache.org/docs/latest/api/sql/)")


def _tokens(text: str) -> list[Token]:
    try:
        return list(_SPARK.tokenize(text))
    except TokenError:
        return []


def _calls(tokens: list[Token], text: str) -> list[tuple[str, str]]:
    """Every ``(name, call text)`` in ``tokens``, in the order written (names lower-case)."""
    out = []
    for i in range(len(tokens) - 1):
        if tokens[i + 1].token_type == TokenType.L_PAREN and _NAME.match(tokens[i].text):
            close = _closing(tokens, i + 1)
            end = tokens[close].end + 1 if close is not None else len(text)
            out.append((tokens[i].text.lower(), text[tokens[i].start:end]))
    return out


def _closing(tokens: list[Token], open_index: int) -> int | None:
    depth = 0
    for j in range(open_index, len(tokens)):
        if tokens[j].token_type == TokenType.L_PAREN:
            depth += 1
        elif tokens[j].token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return j
    return None


def _shown(call: str) -> str:
    call = " ".join(call.split())
    return call if len(call) <= _SHOWN else call[:_SHOWN - 3] + "..."


def missing_argument(func: exp.Func, missing: str, text: str) -> MissingArgument:
    """The call the user wrote behind ``func``, a node that lacks its mandatory argument ``missing``.

    An implicit conversion that lacks its argument stands for an argument missing from the call
    around it (``datediff(a)``: the second ``TsOrDsToDate`` is empty), so that call is the one named.
    """
    calls = _calls(_tokens(text), text)
    written = {name for name, _ in calls}
    node: exp.Func = func
    while (isinstance(node.parent, exp.Func) and not isinstance(node.parent, exp.Anonymous)
           and (isinstance(node, IMPLICIT) or not written & set(spark_names(node)))):
        node = node.parent
    names = spark_names(node)
    name = next((n for n in names if n in written), names[-1])
    call = next((c for n, c in calls if n == name), f"{name}(...)")
    required = [k for k, needed in node.arg_types.items() if needed]
    got = sum(1 for k in required if _given(node.args.get(k)))
    return MissingArgument(name, _shown(call), len(required), got)


def _given(value: object) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, IMPLICIT):
        return _given(value.args.get("this"))
    return value is not None


def names_a_node(description: str) -> bool:
    """Whether a sqlglot parse error's description names one of its node classes (``Required keyword:
    'high' missing for <class 'sqlglot.expressions.core.Between'>``), which no user wrote."""
    return bool(_MISSING_KEYWORD.search(description))


def missing_keyword(description: str, text: str, line: int, col: int) -> MissingArgument | None:
    """sqlglot's ``Required keyword: 'format' missing for <class '...TimeToStr'>`` parse error, as the
    call the user wrote (the one the error's token closes or sits in); ``None`` for other errors.

    ``text`` is what sqlglot parsed, ``line`` and ``col`` the error's position in it.
    """
    if not _MISSING_KEYWORD.search(description):
        return None
    tokens = _tokens(text)
    at = next((i for i, t in enumerate(tokens) if t.line == line and t.col == col), None)
    if at is None:
        return None
    open_index = _opening(tokens, at)
    if open_index is None or open_index == 0 or not _NAME.match(tokens[open_index - 1].text):
        return None
    name_token = tokens[open_index - 1]
    close = _closing(tokens, open_index)
    end = tokens[close].end + 1 if close is not None else len(text)
    return MissingArgument(name_token.text.lower(), _shown(text[name_token.start:end]))


def _opening(tokens: list[Token], at: int) -> int | None:
    """The ``(`` of the call that the token at ``at`` closes (a ``)``) or sits inside."""
    depth = 0
    for j in range(at, -1, -1):
        kind = tokens[j].token_type
        if kind == TokenType.R_PAREN:
            depth += 1
        elif kind == TokenType.L_PAREN:
            if depth <= (1 if tokens[at].token_type == TokenType.R_PAREN else 0):
                return j
            depth -= 1
    return None
