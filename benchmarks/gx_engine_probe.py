"""Probe: real Great Expectations on Spark versus one fused Spark ``agg`` for the same checks.

Builds a Spark DataFrame of ``--rows`` rows x 5 columns (ids, amounts, ages, two categories,
with a few planted nulls, out-of-range and out-of-set values), caches and materialises it, then
measures on ``local[2]``:

* GX: ``validate_dataframe(df, suite, engine="spark")`` with 10 expectations (not null, unique,
  between, in_set, row count), result format SUMMARY;
* fused: one ``df.agg(...)`` computing the same metrics (null counts, exact distinct count,
  out-of-range and out-of-set counts, row count), then ``result_from_outcomes`` turning them into
  GX results.

Both paths run once on a tiny frame first (JVM and code-generation warm-up, not timed). Prints
the times, the ratio and whether both paths reach the same verdicts; asserts nothing.

Note: for uniqueness the fused pass reports ``count - count(DISTINCT)`` (the number of surplus
rows); GX counts every row whose value occurs more than once. The verdict is the same.

Usage (wait until no other Spark job runs):
    python benchmarks/gx_engine_probe.py [--rows 1000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tagfactory.lakehouse.spark import build_spark_session  # noqa: E402
from tagfactory.quality.gx_bridge import (  # noqa: E402
    ExpectationSpec,
    build_suite,
    result_from_outcomes,
    validate_dataframe,
)

SEGMENTS = ["new", "active", "dormant", "churned"]
COUNTRIES = ["CN", "SG", "MY", "TH", "ID", "VN", "PH"]
SPECS = [
    ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": 1}, name="rows"),
    ExpectationSpec(
        "expect_column_values_to_not_be_null", {"column": "user_id"}, name="user_id.nn"
    ),
    ExpectationSpec(
        "expect_column_values_to_be_unique", {"column": "user_id"}, name="user_id.unique"
    ),
    ExpectationSpec("expect_column_values_to_not_be_null", {"column": "amount"}, name="amount.nn"),
    ExpectationSpec(
        "expect_column_values_to_be_between",
        {"column": "amount", "min_value": 0, "max_value": 10_000},
        name="amount.range",
    ),
    ExpectationSpec("expect_column_values_to_not_be_null", {"column": "age"}, name="age.nn"),
    ExpectationSpec(
        "expect_column_values_to_be_between",
        {"column": "age", "min_value": 0, "max_value": 120},
        name="age.range",
    ),
    ExpectationSpec(
        "expect_column_values_to_be_in_set",
        {"column": "segment", "value_set": SEGMENTS},
        name="segment.in_set",
    ),
    ExpectationSpec(
        "expect_column_values_to_not_be_null", {"column": "country"}, name="country.nn"
    ),
    ExpectationSpec(
        "expect_column_values_to_be_in_set",
        {"column": "country", "value_set": COUNTRIES},
        name="country.in_set",
    ),
]


def make_frame(spark: SparkSession, rows: int) -> DataFrame:
    """``rows`` rows x 5 columns with planted problems every few hundred thousand rows."""
    segments = F.array(*[F.lit(s) for s in SEGMENTS])
    countries = F.array(*[F.lit(c) for c in COUNTRIES])
    frame = spark.range(rows).select(
        F.col("id").alias("user_id"),
        F.when(F.col("id") % 250_000 == 7, F.lit(-5.0))
        .otherwise((F.col("id") * 7919 % 100_000) / 10.0)
        .alias("amount"),
        F.when(F.col("id") % 300_000 == 11, F.lit(None).cast("int"))
        .otherwise((F.col("id") % 90 + 10).cast("int"))
        .alias("age"),
        F.when(F.col("id") % 400_000 == 13, F.lit("unknown"))
        .otherwise(segments[F.col("id") % len(SEGMENTS)])
        .alias("segment"),
        countries[F.col("id") % len(COUNTRIES)].alias("country"),
    )
    return frame.cache()


def fused_outcomes(df: DataFrame) -> list[tuple[ExpectationSpec, bool, dict[str, Any]]]:
    """One Spark ``agg`` for all ten checks, returned as outcomes for the bridge."""

    def count_if(condition: Any) -> Any:
        return F.sum(F.when(condition, 1).otherwise(0))

    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        count_if(F.col("user_id").isNull()).alias("user_id_nulls"),
        F.countDistinct("user_id").alias("user_id_distinct"),
        count_if(F.col("amount").isNull()).alias("amount_nulls"),
        count_if(~F.col("amount").between(0, 10_000)).alias("amount_out"),
        count_if(F.col("age").isNull()).alias("age_nulls"),
        count_if(~F.col("age").between(0, 120)).alias("age_out"),
        count_if(F.col("segment").isNull()).alias("segment_nulls"),
        count_if(~F.col("segment").isin(SEGMENTS)).alias("segment_out"),
        count_if(F.col("country").isNull()).alias("country_nulls"),
        count_if(~F.col("country").isin(COUNTRIES)).alias("country_out"),
    ).first()
    assert row is not None
    m = row.asDict()
    n = m["n"]

    def not_null(column: str) -> tuple[bool, dict[str, Any]]:
        nulls = m[f"{column}_nulls"]
        return nulls == 0, {"element_count": n, "unexpected_count": nulls}

    def map_check(column: str, unexpected: int) -> tuple[bool, dict[str, Any]]:
        details = {"element_count": n, "missing_count": m[f"{column}_nulls"]}
        return unexpected == 0, {**details, "unexpected_count": unexpected}

    surplus = n - m["user_id_nulls"] - m["user_id_distinct"]
    verdicts = {
        "rows": (n >= 1, {"observed_value": n}),
        "user_id.nn": not_null("user_id"),
        "user_id.unique": map_check("user_id", surplus),
        "amount.nn": not_null("amount"),
        "amount.range": map_check("amount", m["amount_out"]),
        "age.nn": not_null("age"),
        "age.range": map_check("age", m["age_out"]),
        "segment.in_set": map_check("segment", m["segment_out"]),
        "country.nn": not_null("country"),
        "country.in_set": map_check("country", m["country_out"]),
    }
    return [(spec, *verdicts[spec.name]) for spec in SPECS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each path")
    args = parser.parse_args()

    spark = build_spark_session(
        "gx-engine-probe",
        master="local[2]",
        conf={"spark.driver.memory": "2g", "spark.ui.enabled": "false"},
    )
    spark.sparkContext.setLogLevel("ERROR")
    suite = build_suite("probe", SPECS)

    tiny = make_frame(spark, 1_000)
    validate_dataframe(tiny, suite, engine="spark", run_name="warm-up")
    fused_outcomes(tiny)

    df = make_frame(spark, args.rows)
    start = time.perf_counter()
    df.count()
    print(
        f"{args.rows:,} rows x 5 columns generated and cached in {time.perf_counter() - start:.1f} s"
    )

    sc = spark.sparkContext
    gx_times, fused_times = [], []
    gx_result = fused_result = None
    for i in range(args.repeat):
        sc.setJobGroup(f"gx-{i}", "GX validation")
        start = time.perf_counter()
        gx_result = validate_dataframe(df, suite, engine="spark", run_name=f"gx-{i}")
        gx_times.append(time.perf_counter() - start)

        sc.setJobGroup(f"fused-{i}", "fused agg")
        start = time.perf_counter()
        outcomes = fused_outcomes(df)
        fused_result = result_from_outcomes(
            suite, outcomes, run_name=f"fused-{i}", batch_id="probe"
        )
        fused_times.append(time.perf_counter() - start)
    assert gx_result is not None and fused_result is not None

    gx_jobs = len(sc.statusTracker().getJobIdsForGroup("gx-0"))
    fused_jobs = len(sc.statusTracker().getJobIdsForGroup("fused-0"))
    gx_best, fused_best = min(gx_times), min(fused_times)
    print(
        f"GX validate_dataframe (spark, {len(SPECS)} expectations, {gx_jobs} Spark jobs): "
        + ", ".join(f"{t:.2f}" for t in gx_times)
        + " s"
    )
    print(
        f"one Spark agg + result_from_outcomes ({fused_jobs} Spark jobs): "
        + ", ".join(f"{t:.2f}" for t in fused_times)
        + " s"
    )
    print(f"ratio GX / fused (best runs): {gx_best / fused_best:.1f}x")

    gx_verdicts = {e.expectation_config.meta["name"]: e.success for e in gx_result.results}
    fused_verdicts = {e.expectation_config.meta["name"]: e.success for e in fused_result.results}
    same = gx_verdicts == fused_verdicts
    print(f"same verdicts: {same}; failed: {sorted(k for k, v in gx_verdicts.items() if not v)}")
    if not same:
        print(f"  GX:    {gx_verdicts}\n  fused: {fused_verdicts}")
    spark.stop()


if __name__ == "__main__":
    main()
