"""Random definitions that validate accepts compile into SQL that Spark's own parser accepts.

The unit property (tests/unit/test_fuzz_sqlpolicy.py) checks accepted-or-located-refusal and
re-parses the compiled query with sqlglot; here every accepted query goes through the parser of
the project's Spark session (Delta Lake's extension included), the one the jobs run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tests.unit.test_fuzz_sqlpolicy import POSITIONS, compiled_or_refused, random_tree

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def _string_expr() -> st.SearchStrategy[exp.Expression]:
    """Well-typed string expressions over users' string columns (attribute and sql positions)."""
    leaf = st.one_of(st.sampled_from(["city", "gender", "member_level"]).map(exp.column),
                     st.sampled_from(["a", "x-y", "会员"]).map(exp.Literal.string))
    return st.recursive(leaf, lambda c: st.tuples(
        st.sampled_from(["upper", "lower", "concat", "coalesce", "trim"]), st.lists(c, min_size=1, max_size=3)).map(
        lambda t: exp.Anonymous(this=t[0], expressions=t[1][:1] if t[0] in ("upper", "lower", "trim") else t[1])),
        max_leaves=6)


def _condition(columns: dict[str, st.SearchStrategy[exp.Expression]]) -> st.SearchStrategy[exp.Expression]:
    """Well-typed boolean trees: comparisons of a column with a literal of its type, AND / OR / NOT."""
    ops = [exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE]
    leaf = st.sampled_from(sorted(columns)).flatmap(lambda c: st.tuples(st.sampled_from(ops), columns[c]).map(
        lambda t, c=c: t[0](this=exp.column(c), expression=t[1])))
    return st.recursive(leaf, lambda c: st.one_of(
        st.tuples(st.sampled_from([exp.And, exp.Or]), c, c).map(lambda t: t[0](this=t[1], expression=t[2])),
        c.map(lambda x: exp.Not(this=exp.Paren(this=x)))), max_leaves=6)


_WELL_TYPED = {
    "attribute": _string_expr(),
    "sql": _string_expr(),
    "filter": _condition({"amount": st.integers(0, 999).map(exp.Literal.number),
                          "status": st.sampled_from(["completed", "refunded"]).map(exp.Literal.string),
                          "channel": st.sampled_from(["app", "web"]).map(exp.Literal.string)}),
    "audience": _condition({"city": st.sampled_from(["上海", "x"]).map(exp.Literal.string),
                            "gender": st.sampled_from(["f", "m"]).map(exp.Literal.string)}),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.sampled_from(POSITIONS), st.data())
def test_accepted_random_definitions_compile_to_sql_spark_parses(spark: SparkSession, position: str,
                                                                 data: st.DataObject) -> None:
    parser = spark._jsparkSession.sessionState().sqlParser()  # type: ignore[attr-defined]
    well_typed = data.draw(st.booleans())  # half well-typed trees, so that most of those are accepted
    tree = data.draw(_WELL_TYPED[position]) if well_typed else random_tree(position, data)
    compiled = compiled_or_refused(position, tree)
    event("accepted" if compiled else "refused")
    for sql in compiled:
        assert parser.parsePlan(sql) is not None  # raises ParseException (via py4j) when Spark cannot parse it
