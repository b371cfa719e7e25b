"""Spark itself refuses what E306 refuses, and runs what the E306 tests accept.

The unit cases (tests/unit/test_boolean_arithmetic.py) are run as Spark SQL over views with the
declared column types: each refused snippet must fail Spark's analysis, each accepted one must run.
This is the oracle for the rule: validate refuses no more and no less than the session the jobs use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.unit.test_boolean_arithmetic import (
    BOOLEAN_IN_ARITHMETIC,
    NUMBER_AS_CONDITION,
    WELL_TYPED,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

# the columns the unit cases read, with their declared Spark types (one row each)
_VIEWS = {
    "t": "SELECT 'u1' AS user_id, '上海' AS city, 'male' AS gender, true AS phone_verified, false AS marketing_opt_in, "
         "false AS is_test_account, DATE'1990-05-01' AS birthday, 12.5D AS amount, CAST(NULL AS STRING) AS coupon_id, "
         "'completed' AS status, true AS verified, CAST(3 AS BIGINT) AS n_orders",
    "marketing_touches": "SELECT 'u1' AS user_id, true AS opened, false AS clicked",
    "service_tickets": "SELECT 'u1' AS user_id, true AS is_complaint",
}


def _statement(tag: dict[str, object]) -> str:
    """The snippet of a unit case as a Spark SQL statement over the views."""
    if "sql" in tag:
        return str(tag["sql"])
    if "filter" in tag:
        return f"SELECT count(*) FROM t WHERE {tag['filter']}"
    if "rules" in tag:
        [rule] = tag["rules"]  # type: ignore[misc]
        return f"SELECT CASE WHEN {rule['when']} THEN true END FROM t"
    return f"SELECT {tag['expr']} FROM t"


@pytest.fixture(scope="module")
def views(spark: SparkSession) -> SparkSession:
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"  # the Spark 4 default the rule relies on
    for name, query in _VIEWS.items():
        spark.sql(query).createOrReplaceTempView(name)
    return spark


def test_spark_refuses_what_e306_refuses(views: SparkSession) -> None:
    from pyspark.errors import AnalysisException, ParseException

    accepted = []
    for tag, _, _ in BOOLEAN_IN_ARITHMETIC + NUMBER_AS_CONDITION:
        statement = _statement(tag)
        try:
            views.sql(statement).collect()
        except ParseException:
            raise  # a statement Spark cannot even parse proves nothing about types
        except AnalysisException as exc:
            assert "DATATYPE_MISMATCH" in str(exc), (statement, str(exc)[:300])
            continue
        accepted.append(statement)
    assert accepted == []


def test_spark_runs_what_the_e306_tests_accept(views: SparkSession) -> None:
    for tag in WELL_TYPED:
        assert views.sql(_statement(tag)).collect() is not None
