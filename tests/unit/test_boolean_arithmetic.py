"""E306: booleans in arithmetic, and numbers used as conditions, are refused where they are written.

sqlglot parses ``(x > 1) + 1`` and types it as a boolean; Spark's analysis refuses it (ANSI mode,
the Spark 4 default: a boolean is never implicitly a number). Each case below is a definition the
repository's real sources make meaningful; the expected operand and operator are written out by
hand, not computed by the code under test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tagfactory.compiler.diagnostics import Diagnostic
from tagfactory.compiler.project import check_project
from tests.unit.definitions import REPO

COMMON = {"display_name": "T", "description": "d", "owner": "o", "category": "risk"}
# a boolean tag and a numeric tag, for derived and rule expressions
BASE_TAGS = [
    {"name": "verified", **COMMON, "type": "boolean", "kind": "attribute", "expr": "phone_verified"},
    {"name": "n_orders", **COMMON, "type": "integer", "kind": "aggregate", "source": "orders", "agg": "count",
     "window": "30d"},
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("booleans") / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions" / "sources", folder / "sources")
    return folder


def _check(root: Path, tag: dict[str, object] | None = None, audience: str | None = None) -> list[Diagnostic]:
    doc: dict[str, object] = {"tags": BASE_TAGS + ([{"name": "t1", **COMMON, **tag}] if tag else [])}
    if audience is not None:
        doc["audiences"] = [{"name": "a1", "display_name": "A", "description": "d", "owner": "o", "sql": audience}]
    (root / "t.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    project, diagnostics = check_project(root)
    errors = [d for d in diagnostics if d.severity.value == "error"]
    assert (project is None) == bool(errors)
    return errors


def _attribute(expr: str, type_: str = "integer") -> dict[str, object]:
    return {"type": type_, "kind": "attribute", "expr": expr}


# (tag, expected operand, expected operator): a boolean used in arithmetic
BOOLEAN_IN_ARITHMETIC = [
    (_attribute("phone_verified + 1"), "phone_verified", "+"),  # a boolean source column
    (_attribute("(length(city) > 10) + 1"), "LENGTH(city) > 10", "+"),  # a comparison
    (_attribute("2 * (city IS NULL)"), "city IS NULL", "*"),
    (_attribute("(city LIKE '上%') - 1"), "city LIKE '上%'", "-"),
    (_attribute("(gender IN ('male', 'female')) / 2", "double"), "gender IN ('male', 'female')", "/"),
    (_attribute("(phone_verified AND marketing_opt_in) % 2"), "phone_verified AND marketing_opt_in", "%"),
    (_attribute("(NOT is_test_account) div 2"), "NOT is_test_account", "div"),
    (_attribute("(birthday BETWEEN '1990-01-01' AND '1999-12-31') + 0"),
     "birthday BETWEEN '1990-01-01' AND '1999-12-31'", "+"),
    (_attribute("-is_test_account"), "is_test_account", "unary -"),
    (_attribute("abs(phone_verified)"), "phone_verified", "abs"),
    (_attribute("try_add(phone_verified, 1)"), "phone_verified", "try_add"),
    (_attribute("CASE WHEN length(city) > 2 THEN 1 END + marketing_opt_in"), "marketing_opt_in", "+"),
    # declared `string`: sqlglot types `boolean + 1` as a boolean, which a string tag accepts
    (_attribute("(length(city) > 10) + 1", "string"), "LENGTH(city) > 10", "+"),
    ({"type": "integer", "kind": "derived", "expr": "verified + n_orders"}, "verified", "+"),  # a boolean tag
    ({"type": "boolean", "kind": "rule", "rules": [{"when": "verified * 2 > 1", "then": True}]}, "verified", "*"),
    ({"type": "integer", "kind": "aggregate", "source": "orders", "agg": "count", "window": "30d",
      "filter": "(amount > 10) + 1 > 1"}, "amount > 10", "+"),
    ({"type": "integer", "kind": "sql",
      "sql": "SELECT user_id, sum(opened) AS v FROM marketing_touches GROUP BY user_id"}, "opened", "sum"),
    ({"type": "double", "kind": "sql",
      "sql": "SELECT user_id, avg(is_complaint) AS v FROM service_tickets GROUP BY user_id"}, "is_complaint", "avg"),
]


@pytest.mark.parametrize(("tag", "operand", "operator"), BOOLEAN_IN_ARITHMETIC,
                         ids=[str(t.get("expr") or t.get("filter") or t.get("sql") or t.get("rules")) for t, _, _ in
                              BOOLEAN_IN_ARITHMETIC])
def test_a_boolean_in_arithmetic_is_refused(root: Path, tag: dict[str, object], operand: str, operator: str) -> None:
    errors = _check(root, tag)
    assert [d.code for d in errors] == ["E306"], [d.format() for d in errors]
    [error] = errors
    assert f"uses the boolean `{operand}` in arithmetic (`{operator}`)" in error.message
    assert error.message.startswith("tag `t1`: ")
    assert f"CASE WHEN {operand} THEN 1 ELSE 0 END" in error.hint and f"int({operand})" in error.hint


NUMBER_AS_CONDITION = [
    ({"type": "integer", "kind": "aggregate", "source": "orders", "agg": "count", "window": "30d",
      "filter": "NOT amount * 2"}, "amount * 2", "NOT"),  # NOT binds looser than `*`: NOT (amount * 2)
    (_attribute("CASE WHEN length(city) THEN 1 ELSE 0 END"), "LENGTH(city)", "CASE WHEN"),
    (_attribute("if(length(city), 'y', 'n')", "string"), "LENGTH(city)", "IF"),
    ({"type": "boolean", "kind": "rule", "rules": [{"when": "verified AND n_orders", "then": True}]},
     "n_orders", "AND"),
]


@pytest.mark.parametrize(("tag", "operand", "operator"), NUMBER_AS_CONDITION)
def test_a_number_as_a_condition_is_refused(root: Path, tag: dict[str, object], operand: str, operator: str) -> None:
    errors = _check(root, tag)
    assert [d.code for d in errors] == ["E306"], [d.format() for d in errors]
    assert f"uses the number `{operand}` as a condition (`{operator}` needs a boolean)" in errors[0].message


# numbers made from booleans, conditions over numbers, counts of booleans: accepted (and Spark runs them,
# tests/integration/test_boolean_arithmetic_spark.py)
WELL_TYPED = [_attribute(expr) for expr in [
    "CASE WHEN phone_verified THEN 1 ELSE 0 END + 1",
    "int(phone_verified) + 1",
    "CAST(phone_verified AS INT) * 2",
    "IF(length(city) > 10, 1, 0) + 1",
    "length(city) + 1",
    "-length(city)",
]] + [
    {"type": "boolean", "kind": "attribute", "expr": "NOT phone_verified AND NOT (length(city) > 2)"},
    {"type": "boolean", "kind": "derived", "expr": "verified OR n_orders > 2"},
    {"type": "integer", "kind": "aggregate", "source": "orders", "agg": "count", "window": "30d",
     "filter": "NOT (amount * 2 > 10) AND coupon_id IS NULL"},
    {"type": "integer", "kind": "aggregate", "source": "orders", "agg": "count", "window": "30d",
     "filter": "NOT amount * 2 > 10"},  # NOT (amount * 2 > 10)
    {"type": "integer", "kind": "sql",
     "sql": "SELECT user_id, count_if(opened) + sum(CASE WHEN clicked THEN 1 ELSE 0 END) AS v "
            "FROM marketing_touches GROUP BY user_id"},
]


@pytest.mark.parametrize("tag", WELL_TYPED)
def test_well_typed_uses_of_booleans_are_accepted(root: Path, tag: dict[str, object]) -> None:
    assert _check(root, tag) == []


def test_the_error_names_file_line_column_and_field(root: Path) -> None:
    text = """tags:
  - name: t1
    display_name: T
    description: d
    owner: o
    category: risk
    type: integer
    kind: attribute
    expr: |
      length(city)
        + (phone_verified AND marketing_opt_in) * 2
"""
    (root / "t.yaml").write_text(text, encoding="utf-8")
    _, diagnostics = check_project(root)
    [error] = [d for d in diagnostics if d.severity.value == "error"]
    # line 11 of the file; `phone_verified` is at column 12 of that line
    assert error.format().splitlines()[0] == ("tag_definitions/t.yaml:11:12: error[E306]: tag `t1`: expr: uses the boolean "
        "`phone_verified AND marketing_opt_in` in arithmetic (`*`), which Spark SQL refuses: a boolean is not a number")



def test_a_sql_audience_with_boolean_arithmetic_is_refused(root: Path) -> None:
    errors = _check(root, audience="SELECT user_id FROM users WHERE (city = '上海') + 1 > 1")
    assert [(d.code, d.message.split(": ", 1)[0]) for d in errors] == [("E306", "audience `a1`")]
    assert "uses the boolean `city = '上海'` in arithmetic (`+`)" in errors[0].message
