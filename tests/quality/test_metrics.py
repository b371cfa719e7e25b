"""The fused-pass evaluator: the same verdicts and numbers as real Great Expectations on Spark."""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from tagfactory.quality.gx_bridge import (  # noqa: E402
    PSI_OTHER_BIN,
    ExpectationSpec,
    build_suite,
    population_stability_index,
    result_from_outcomes,
    validate_dataframe,
)
from tagfactory.quality.metrics import FAST_TYPES, MISSING_COLUMN, DriftBins, evaluate  # noqa: E402

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark

N = 2000
SCHEMA = (
    "row_id bigint, user_id bigint, segment string, level bigint, age bigint, score double, "
    "active boolean, signup date, email string, retired string, interests array<string>"
)
COLUMNS = [part.split()[0] for part in SCHEMA.split(", ")]
AGE_EDGES = [30.0, 45.0, 60.0]
AGE_REFERENCE = {"b0": 0.2, "b1": 0.3, "b2": 0.3, "b3": 0.2}
SEGMENT_REFERENCE = {"a": 0.5, "b": 0.3, "c": 0.2}


def _rows() -> list[tuple[Any, ...]]:
    """A day of profiles with planted problems (counts are deterministic)."""
    rng = random.Random(7)
    rows = []
    for i in range(N):
        user_id = None if i % 500 == 7 else (50 if i in (100, 101, 102) else i + 1)  # 4 nulls, 50 x4
        segment: str | None = "zz" if i % 97 == 0 else rng.choices("abc", weights=(5, 3, 2))[0]
        segment = None if i % 89 == 0 else segment
        level = 9 if i % 151 == 0 else rng.randint(1, 3)
        age: int | None = rng.randint(18, 80)
        age = -5 if i % 199 == 0 else 150 if i % 211 == 0 else None if i % 53 == 0 else age
        score = {0: 0.0, 1: 1.0}.get(i, rng.random())
        score_value = 1.5 if i % 307 == 0 and i else None if i % 61 == 5 else score
        active = None if i % 71 == 0 else rng.random() < 0.7
        signup = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 1800))
        signup_value = dt.date(2019, 6, 1) if i % 401 == 0 else None if i % 83 == 0 else signup
        email = "broken-email" if i % 103 == 0 else f"user{i}@example.com"
        email_value = None if i % 59 == 0 else email
        interests = None if i % 13 == 0 else rng.sample(["news", "sport", "travel", "food"], k=i % 3)
        rows.append(
            (i, user_id, segment, level, age, score_value, active, signup_value, email_value, None,
             interests)
        )  # fmt: skip
    return rows


ROWS = _rows()
S = ExpectationSpec
FAST = [
    S("expect_column_values_to_not_be_null", {"column": "user_id"}, name="key.not_null"),
    S("expect_column_values_to_not_be_null", {"column": "segment", "mostly": 0.95}, name="seg.cov"),
    S("expect_column_values_to_not_be_null", {"column": "retired"}, name="retired.not_null"),
    S("expect_column_values_to_not_be_null", {"column": "interests", "mostly": 0.9}, name="arr.cov"),
    S("expect_column_values_to_be_null", {"column": "retired"}, name="retired.null"),
    S("expect_column_values_to_be_unique", {"column": "user_id"}, name="key.unique"),
    S("expect_column_values_to_be_unique", {"column": "row_id"}, name="row_id.unique"),
    S("expect_column_values_to_be_in_set", {"column": "segment", "value_set": ["a", "b", "c"]},
      name="seg.in_set"),
    S("expect_column_values_to_be_in_set",
      {"column": "segment", "value_set": ["a", "b", "c"], "mostly": 0.98}, name="seg.in_set_mostly"),
    S("expect_column_values_to_be_in_set", {"column": "level", "value_set": [1, 2, 3]}, name="level.in"),
    S("expect_column_values_to_be_in_set", {"column": "active", "value_set": [True, False]},
      name="active.boolean"),
    S("expect_column_values_to_be_in_set", {"column": "active", "value_set": [True], "mostly": 0.6},
      name="active.mostly_true"),
    S("expect_column_values_to_be_in_set", {"column": "retired", "value_set": ["x"]}, name="retired.in"),
    S("expect_column_values_to_not_be_in_set", {"column": "segment", "value_set": ["zz"]},
      name="seg.not_zz"),
    S("expect_column_values_to_be_between", {"column": "age", "min_value": 0, "max_value": 120},
      name="age.range"),
    S("expect_column_values_to_be_between", {"column": "age", "min_value": 0, "mostly": 0.99},
      name="age.min_mostly"),
    S("expect_column_values_to_be_between",
      {"column": "score", "min_value": 0, "max_value": 1, "strict_min": True, "strict_max": True},
      name="score.open"),
    S("expect_column_values_to_be_between",
      {"column": "score", "max_value": 1.0, "strict_max": True, "mostly": 0.99}, name="score.max"),
    S("expect_column_values_to_be_between", {"column": "signup", "min_value": "2020-01-01"},
      name="signup.range"),
    S("expect_column_values_to_match_regex",
      {"column": "email", "regex": r"^[a-z0-9]+@example\.com$"}, name="email.regex"),
    S("expect_column_values_to_not_match_regex", {"column": "email", "regex": "broken"},
      name="email.not_broken"),
    S("expect_table_row_count_to_be_between", {"min_value": 1000, "max_value": 5000}, name="rows"),
    S("expect_table_row_count_to_be_between", {"max_value": N, "strict_max": True},
      name="rows.strict"),
    S("expect_table_row_count_to_equal", {"value": N - 1}, name="rows.equal"),
    S("expect_column_min_to_be_between", {"column": "age", "min_value": -10, "max_value": 100},
      name="age.min"),
    S("expect_column_max_to_be_between", {"column": "score", "min_value": 0, "max_value": 1},
      name="score.max_agg"),
    S("expect_column_mean_to_be_between",
      {"column": "age", "min_value": 40, "max_value": 60, "strict_min": True}, name="age.mean"),
    S("expect_column_sum_to_be_between", {"column": "score", "min_value": 0, "max_value": 1e4},
      name="score.sum"),
    S("expect_column_sum_to_be_between", {"column": "level", "max_value": 10}, name="level.sum"),
    S("expect_column_min_to_be_between",
      {"column": "signup", "min_value": "2019-01-01", "max_value": "2020-12-31"}, name="signup.min"),
    S("expect_column_proportion_of_non_null_values_to_be_between",
      {"column": "segment", "min_value": 0.9, "max_value": 1}, name="seg.share"),
    S("expect_column_proportion_of_non_null_values_to_be_between",
      {"column": "retired", "min_value": 0.5}, name="retired.share"),
    S("expect_column_psi_to_be_less_than",
      {"column": "segment", "reference": SEGMENT_REFERENCE, "threshold": 0.1}, "warn",
      name="seg.psi"),
    S("expect_column_psi_to_be_less_than",
      {"column": "active", "reference": {"True": 0.5, "False": 0.5}, "threshold": 0.05}, "warn",
      name="active.psi"),
]  # fmt: skip
FOR_GX = [
    S("expect_column_median_to_be_between", {"column": "age", "min_value": 0}, name="age.median"),
    S("expect_column_value_lengths_to_be_between", {"column": "email", "max_value": 40},
      name="email.len"),
    S("expect_column_unique_value_count_to_be_between", {"column": "segment", "max_value": 10},
      name="seg.distinct"),
]  # fmt: skip
SPECS = FAST[:5] + FOR_GX[:1] + FAST[5:20] + FOR_GX[1:] + FAST[20:]
COMPARED = (
    "observed_value",
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)


@pytest.fixture(scope="module")
def frame(spark: SparkSession) -> Iterator[DataFrame]:
    df = spark.createDataFrame(ROWS, SCHEMA).cache()
    df.count()
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def pandas_frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=COLUMNS)


@pytest.fixture(scope="module")
def fast(frame: DataFrame) -> tuple[list[tuple[ExpectationSpec, bool, dict]], list[ExpectationSpec]]:
    return evaluate(frame, SPECS)


@pytest.fixture(scope="module")
def real(frame: DataFrame) -> ExpectationSuiteValidationResult:
    return validate_dataframe(frame, build_suite("profile", FAST), engine="spark", run_name="real")


def _assert_same(mine: dict[str, Any], theirs: dict[str, Any], name: str) -> None:
    for key in COMPARED:
        expected = theirs.get(key)
        if isinstance(expected, float):
            assert mine.get(key) == pytest.approx(expected, rel=1e-12), (name, key)
        else:
            assert mine.get(key) == expected, (name, key)
    if "details" in theirs:  # PSI: the observed distribution
        assert mine["details"]["observed_distribution"] == pytest.approx(
            theirs["details"]["observed_distribution"]
        ), name


def test_fast_outcomes_equal_real_gx(
    fast: tuple[list[tuple[ExpectationSpec, bool, dict]], list[ExpectationSpec]],
    real: ExpectationSuiteValidationResult,
) -> None:
    outcomes, _ = fast
    theirs = {evr.expectation_config.meta["name"]: evr for evr in real.results}
    assert not [n for n, evr in theirs.items() if evr.exception_info.get("raised_exception")]
    assert [spec.name for spec, _, _ in outcomes] == [spec.name for spec in FAST]
    for spec, success, result in outcomes:
        evr = theirs[spec.name]
        assert success == evr.success, (spec.name, result, evr.result)
        _assert_same(result, evr.result, spec.name)
        assert result.get("partial_unexpected_list", []) == []
    verdicts = {spec.name: success for spec, success, _ in outcomes}
    # the planted problems are found, the tolerances hold
    failed = {name for name, ok in verdicts.items() if not ok}
    assert failed == {
        "key.not_null", "retired.not_null", "key.unique", "seg.in_set", "level.in", "seg.not_zz",
        "age.range", "score.open", "signup.range", "email.regex", "email.not_broken", "rows.strict",
        "rows.equal", "score.max_agg", "level.sum", "retired.share", "active.psi",
    }  # fmt: skip
    results = {spec.name: result for spec, _, result in outcomes}
    assert results["key.unique"]["unexpected_count"] == 4
    assert results["key.not_null"]["unexpected_count"] == 4
    assert results["retired.in"]["unexpected_percent"] is None  # no non-null values


def test_leftovers_are_what_gx_must_run(
    fast: tuple[list[tuple[ExpectationSpec, bool, dict]], list[ExpectationSpec]],
) -> None:
    outcomes, leftovers = fast
    assert leftovers == [spec for spec in SPECS if spec.type not in FAST_TYPES] == FOR_GX
    assert {spec.type for spec in FAST} == FAST_TYPES
    assert len(outcomes) + len(leftovers) == len(SPECS)


def test_outcomes_build_the_same_suite_result(
    fast: tuple[list[tuple[ExpectationSpec, bool, dict]], list[ExpectationSpec]],
    real: ExpectationSuiteValidationResult,
) -> None:
    outcomes, _ = fast
    built = result_from_outcomes(
        build_suite("profile", FAST), outcomes, run_name="fast", batch_id="profile__2024-05-01"
    )
    assert built.statistics == real.statistics
    assert built.success is real.success is False


def test_ineligible_arguments_go_to_gx(frame: DataFrame) -> None:
    specs = [
        S("expect_column_values_to_be_between", {"column": "segment", "min_value": 1}, name="a"),
        S("expect_column_values_to_match_regex", {"column": "email", "regex": "(open"}, name="b"),
        S("expect_column_mean_to_be_between", {"column": "active", "min_value": 0}, name="c"),
        S("expect_column_values_to_be_in_set", {"column": "segment", "value_set": [1]}, name="d"),
        S("expect_column_values_to_be_unique", {"column": "interests"}, name="e"),
        S("expect_column_values_to_not_be_null",
          {"column": "age", "row_condition": 'col("age") > 0', "condition_parser": "spark"}, name="f"),
        S("expect_column_values_to_be_between",
          {"column": "age", "min_value": {"$PARAMETER": "low"}}, name="g"),
        S("expect_column_psi_to_be_less_than",
          {"column": "score", "reference": {"0.5": 1.0}, "threshold": 0.1}, name="h"),
        S("expect_column_values_to_not_be_null", {"column": "age"}, name="ok"),
    ]  # fmt: skip
    outcomes, leftovers = evaluate(frame, specs)
    assert [s.name for s in leftovers] == list("abcdefgh")
    assert [(s.name, ok) for s, ok, _ in outcomes] == [("ok", False)]


def _expected_psi(labels: pd.Series, reference: dict[str, float]) -> tuple[float, dict[str, float]]:
    counts = labels.dropna().value_counts()
    observed = {str(k): float(v) for k, v in counts.items()}
    total = sum(observed.values())
    return population_stability_index(observed, reference), {k: v / total for k, v in observed.items()}


def test_psi_of_binned_columns(frame: DataFrame, pandas_frame: pd.DataFrame) -> None:
    age_bins = DriftBins(reference=AGE_REFERENCE, edges=AGE_EDGES)
    segment_reference = {"a": 0.6, "b": 0.3, PSI_OTHER_BIN: 0.1}  # "c" and "zz" are other
    specs = [
        age_bins.spec("age", 0.1, name="age.psi"),
        S("expect_column_psi_to_be_less_than",
          {"column": "segment", "reference": segment_reference, "threshold": 0.5}, name="seg.psi"),
        S("expect_column_psi_to_be_less_than",
          {"column": "retired", "reference": {"x": 1.0}, "threshold": 0.5}, name="retired.psi"),
    ]  # fmt: skip
    bins = {"age": age_bins, "segment": DriftBins(segment_reference)}
    outcomes, leftovers = evaluate(frame, specs, drift_bins=bins)
    assert leftovers == []
    results = {spec.name: (ok, result) for spec, ok, result in outcomes}

    ages = pandas_frame["age"].dropna().astype(float)
    age_labels = pd.Series(np.searchsorted(AGE_EDGES, ages, side="right"), index=ages.index)
    psi, shares = _expected_psi("b" + age_labels.astype(str), AGE_REFERENCE)
    ok, result = results["age.psi"]
    assert result["observed_value"] == pytest.approx(psi, rel=1e-12)
    assert result["details"]["observed_distribution"] == pytest.approx(shares)
    assert set(shares) == {"b0", "b1", "b2", "b3"}  # -5 is in b0, 150 in b3
    assert ok is (psi < 0.1)

    segments = pandas_frame["segment"].where(
        pandas_frame["segment"].isin(segment_reference) | pandas_frame["segment"].isna(), PSI_OTHER_BIN
    )
    psi, shares = _expected_psi(segments, segment_reference)
    assert results["seg.psi"][1]["observed_value"] == pytest.approx(psi, rel=1e-12)
    assert results["seg.psi"][1]["details"]["observed_distribution"] == pytest.approx(shares)
    assert results["seg.psi"][0] is (psi < 0.5)
    # only nulls: no distribution, as the GX expectation reports it
    assert results["retired.psi"] == (False, {"observed_value": None, "element_count": 0})

    with pytest.raises(ValueError, match="differs"):
        evaluate(frame, specs[:1], drift_bins={"age": DriftBins(AGE_REFERENCE | {"b0": 0.5}, AGE_EDGES)})
    with pytest.raises(ValueError, match="numeric drift bins"):
        evaluate(frame, [age_bins.spec("segment", 0.1)], drift_bins={"segment": age_bins})


def test_drift_bins_are_checked() -> None:
    assert DriftBins(AGE_REFERENCE, AGE_EDGES).labels == ("b0", "b1", "b2", "b3")
    assert DriftBins({"x": 2, "y": 2}).matches({"x": 0.5, "y": 0.5})
    with pytest.raises(ValueError, match="increasing"):
        DriftBins({"b0": 1.0}, [2.0, 1.0])
    with pytest.raises(ValueError, match="not bins of these edges"):
        DriftBins({"low": 1.0}, [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        DriftBins({})


def test_missing_column(frame: DataFrame) -> None:
    specs = [
        S("expect_column_values_to_not_be_null", {"column": "nope"}, name="nope.not_null"),
        S("expect_column_max_to_be_between", {"column": "nope", "max_value": 1}, name="nope.max"),
        S("expect_table_row_count_to_equal", {"value": N}, name="rows"),
    ]
    outcomes, leftovers = evaluate(frame, specs)
    assert leftovers == []
    missing = {"observed_value": None, "details": MISSING_COLUMN}
    assert outcomes == [(specs[0], False, missing), (specs[1], False, missing),
                        (specs[2], True, {"observed_value": N})]  # fmt: skip
    built = result_from_outcomes(build_suite("s", specs), outcomes, run_name="r", batch_id="b")
    assert built.statistics["unsuccessful_expectations"] == 2


def test_empty_dataframe_matches_gx(spark: SparkSession) -> None:
    empty = spark.createDataFrame([], SCHEMA)
    names = {"key.not_null", "key.unique", "seg.in_set_mostly", "age.range", "rows", "rows.equal",
             "age.min", "score.sum", "seg.share", "seg.psi"}  # fmt: skip
    specs = [spec for spec in FAST if spec.name in names]
    outcomes, leftovers = evaluate(empty, specs)
    assert leftovers == []
    real = validate_dataframe(empty, build_suite("empty", specs), engine="spark", run_name="empty")
    theirs = {evr.expectation_config.meta["name"]: evr for evr in real.results}
    for spec, success, result in outcomes:
        assert success == theirs[spec.name].success, spec.name
        _assert_same(result, theirs[spec.name].result, spec.name)
    verdicts = {spec.name: success for spec, success, _ in outcomes}
    # map expectations hold on no rows; row counts, aggregates of nothing and drift fail
    held = {"key.not_null", "key.unique", "seg.in_set_mostly", "age.range"}
    assert verdicts == {name: name in held for name in names}


def _jobs(spark: SparkSession, group: str, df: DataFrame, specs: list[ExpectationSpec]) -> int:
    context = spark.sparkContext
    context.setJobGroup(group, group)
    try:
        evaluate(df, specs)
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return len(context.statusTracker().getJobIdsForGroup(group))


def test_spark_jobs_do_not_grow_with_the_suite(spark: SparkSession, frame: DataFrame) -> None:
    by_name = {spec.name: spec for spec in FAST}
    minimal = [by_name["key.not_null"], by_name["key.unique"], by_name["seg.psi"]]
    many = [spec for spec in FAST if spec.name != "row_id.unique"]  # same group-by shape
    adaptive = spark.conf.get("spark.sql.adaptive.enabled")
    try:
        spark.conf.set("spark.sql.adaptive.enabled", "false")
        # one fused aggregate and one grouped action, however many expectations
        assert _jobs(spark, "metrics-plain-many", frame, many) == 2
        assert _jobs(spark, "metrics-plain-table", frame, [by_name["rows"]]) == 1
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", adaptive or "true")
    # adaptive execution runs each shuffle stage as a job of its own: still a constant
    jobs = _jobs(spark, "metrics-aqe-many", frame, many)
    assert jobs == _jobs(spark, "metrics-aqe-minimal", frame, minimal)
    assert jobs <= 6
