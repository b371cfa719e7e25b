"""Diagnostics speak of what the definition wrote, never of sqlglot's classes, and never crash.

Before: ``x'41'`` was "HexString is not allowed", ``from_utc_timestamp(ts, 'UTC')`` "AtTimeZone is
not allowed", ``n BETWEEN 1`` "Required keyword: 'high' missing for <class
'sqlglot.expressions.core.Between'>", and ``map(city)`` (an odd number of arguments) or
``date_trunc()`` crashed validate with a traceback from inside sqlglot's parser.
"""

from __future__ import annotations

import re

import pytest

from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.expressions import parse_expression, parse_select
from tagfactory.compiler.yamlload import Loc

CLASS_NAME = re.compile(r"\b[A-Z][a-z]+[A-Z][A-Za-z]*\b|sqlglot|<class|Required keyword")


def _messages(text: str, *, select: bool = False) -> list[tuple[str, str]]:
    sink = DiagnosticSink()
    if select:
        tree = parse_select(f"SELECT user_id, {text} AS v FROM users", "sql", Loc(3, 11), "tags/t.yaml", sink)
    else:
        tree = parse_expression(text, "expr", Loc(3, 11), "tags/t.yaml", sink)
    assert tree is None
    for error in sink.errors:
        assert not CLASS_NAME.search(error.message + error.hint), error
        assert error.line >= 3
    return [(e.code, e.message) for e in sink.errors]


@pytest.mark.parametrize(("text", "construct"), [
    ("x'41'", "a hex literal (`X'...'`)"),
    ("city SIMILAR TO 'a%'", "`SIMILAR TO`"),
    ("INTERVAL '1' YEAR TO MONTH", "an interval span (`... TO ...`)"),
    ("cast(city AS struct<a: int>)", "a struct type with named fields"),
    ("from_utc_timestamp(registered_at, 'Asia/Shanghai')", "`from_utc_timestamp` (or `AT TIME ZONE`)"),
    ("to_utc_timestamp(registered_at, 'Asia/Shanghai')", "`to_utc_timestamp`"),
    ("city COLLATE 'UTF8_LCASE'", "the construct `city COLLATE 'UTF8_LCASE'`"),  # not in the table: rendered
])
@pytest.mark.parametrize("select", [False, True])
def test_a_construct_outside_the_allow_list_is_named_as_sql(text: str, construct: str, select: bool) -> None:
    where = "sql" if select else "expr"
    assert ("E406", f"{where}: {construct} is not allowed in definitions") in _messages(text, select=select)


@pytest.mark.parametrize(("text", "near"), [("amount BETWEEN 1", "1"), ("CASE city END", "END")])
def test_an_incomplete_operator_is_not_described_by_sqlglots_class(text: str, near: str) -> None:
    assert _messages(text) == [("E401", f"expr does not parse as Spark SQL: an operator or clause is incomplete "
                                        f"near `{near}`")]


@pytest.mark.parametrize("text", ["map(city)", "map(city, 1, 2)", "date_trunc()", "upper(city) || map(city)"])
@pytest.mark.parametrize("select", [False, True])
def test_calls_that_crash_sqlglots_parser_are_refused_not_a_traceback(text: str, select: bool) -> None:
    where = "sql" if select else "expr"
    assert _messages(text, select=select) == [
        ("E401", f"{where} does not parse as Spark SQL: a function call in it has arguments of the wrong number "
                 "or kind")]
