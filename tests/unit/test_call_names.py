"""Errors about a call name the function (and the call) as the definition wrote it.

sqlglot parses ``datediff(a)`` as ``DateDiff(TsOrDsToDate(a), TsOrDsToDate())`` and reports a
missing argument of some functions as ``Required keyword: 'format' missing for <class
'sqlglot.expressions.temporal.TimeToStr'>``; validate used to pass those names on
(``expr calls `ts_or_ds_to_date` without its required argument `this```).
"""

from __future__ import annotations

import re

import pytest

from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.expressions import parse_expression, parse_select
from tagfactory.compiler.yamlload import Loc

# what sqlglot calls things, and no user writes
INTERNAL = re.compile(r"ts_or_ds|tsords|timestrtotime|time_str_to_time|timetostr|strtotime|str_to_time|anonymous"
                      r"|sqlglot|<class|required keyword|required argument `this`", re.I)


def _error(text: str, *, select: bool = False) -> str:
    sink = DiagnosticSink()
    parse = parse_select if select else parse_expression
    assert parse(text, "expr", Loc(3, 11), "tags/t.yaml", sink) is None
    [error] = sink.errors
    assert error.code == "E401"
    assert not INTERNAL.search(error.message + error.hint), error
    return error.message


@pytest.mark.parametrize(("text", "message"), [
    # sqlglot wraps datediff's arguments in implicit date conversions: the missing one is datediff's
    ("datediff(registered_at)", "expr calls `datediff(registered_at)` with 1 argument; `datediff` needs at least 2"),
    ("datediff()", "expr calls `datediff()` with no arguments; `datediff` needs at least 2"),
    ("1 + DateDiff( birthday )", "expr calls `DateDiff( birthday )` with 1 argument; `datediff` needs at least 2"),
    ("day()", "expr calls `day()` with no arguments; `day` needs at least 1"),
    ("dayofweek()", "expr calls `dayofweek()` with no arguments; `dayofweek` needs at least 1"),
    ("weekofyear()", "expr calls `weekofyear()` with no arguments; `weekofyear` needs at least 1"),
    ("upper(city) || floor()", "expr calls `floor()` with no arguments; `floor` needs at least 1"),
])
def test_a_call_the_parser_lets_through_is_named_as_written(text: str, message: str) -> None:
    assert _error(text) == message


@pytest.mark.parametrize(("text", "call"), [
    ("to_date()", "to_date()"),
    ("datediff(to_date(), registered_at)", "to_date()"),
    ("date_format(registered_at)", "date_format(registered_at)"),
    ("trunc(registered_at)", "trunc(registered_at)"),
    ("date_add(registered_at)", "date_add(registered_at)"),
    ("coalesce(upper(), city)", "upper()"),
    ("to_timestamp(\n  )", "to_timestamp(\n  )"),
])
def test_a_call_the_parser_refuses_is_named_as_written(text: str, call: str) -> None:
    shown = " ".join(call.split())
    assert _error(text) == f"expr calls `{shown}` with too few arguments"


def test_a_sql_tag_call_is_named_as_written() -> None:
    message = _error("SELECT user_id, datediff(max(registered_at)) AS v FROM users GROUP BY user_id", select=True)
    assert message == "expr calls `datediff(max(registered_at))` with 1 argument; `datediff` needs at least 2"


def test_other_parse_errors_keep_sqlglots_description() -> None:
    assert _error("upper(city").startswith("expr does not parse as Spark SQL: ")
