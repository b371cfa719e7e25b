"""The Great Expectations bridge: real GX validation, results from outcomes, Data Docs, rows."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from great_expectations.core import ExpectationSuite  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    expectationSuiteValidationResultSchema,
)

from tagfactory.quality.gx_bridge import (  # noqa: E402
    ExpectationSpec,
    ExpectColumnPsiToBeLessThan,
    build_suite,
    population_stability_index,
    result_from_outcomes,
    rows_from_result,
    spec_from_result,
    validate_dataframe,
    write_data_docs,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REFERENCE = {"a": 0.5, "b": 0.5}
SPECS = [
    ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": 1}, name="rows"),
    ExpectationSpec("expect_column_values_to_not_be_null", {"column": "user_id"}, name="key.nn"),
    ExpectationSpec(
        "expect_column_values_to_be_unique", {"column": "user_id"}, "warn", name="key.unique"
    ),
    ExpectationSpec(
        "expect_column_values_to_be_between",
        {"column": "amount", "min_value": 0, "max_value": 100},
        name="amount.range",
    ),
    ExpectationSpec(
        "expect_column_values_to_be_in_set",
        {"column": "segment", "value_set": ["a", "b", "c"]},
        name="segment.in_set",
        meta={"owner": "growth"},
    ),
    ExpectationSpec(
        "expect_column_psi_to_be_less_than",
        {"column": "segment", "reference": REFERENCE, "threshold": 0.1},
        "warn",
        name="segment.psi",
    ),
]
ROWS = [  # user_id is null once, amount 500 is out of range
    (1, 10.0, "a"),
    (2, 20.0, "b"),
    (3, 30.0, "a"),
    (None, 40.0, "b"),
    (5, 500.0, "a"),
    (6, 60.0, "b"),
    (7, 70.0, "a"),
    (8, 80.0, "a"),
]
COLUMNS = ["user_id", "amount", "segment"]
RUN_TIME = dt.datetime(2024, 5, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=COLUMNS)


@pytest.fixture(scope="module")
def suite() -> ExpectationSuite:
    return build_suite("profiles.daily", SPECS)


@pytest.fixture(scope="module")
def real(frame: pd.DataFrame, suite: ExpectationSuite) -> ExpectationSuiteValidationResult:
    return validate_dataframe(frame, suite, engine="pandas", run_name="real-run", run_time=RUN_TIME)


def _outcomes(frame: pd.DataFrame) -> list[tuple[ExpectationSpec, bool, dict[str, Any]]]:
    """What one fused aggregation pass would compute, done here with pandas."""
    n = len(frame)
    key_nulls = int(frame["user_id"].isna().sum())
    keys = frame["user_id"].dropna()
    duplicated = int(keys.duplicated(keep=False).sum())
    out_of_range = int((~frame["amount"].between(0, 100)).sum())
    out_of_set = int((~frame["segment"].isin(["a", "b", "c"])).sum())
    psi = population_stability_index(frame["segment"].value_counts().to_dict(), REFERENCE)
    by_name = {spec.name: spec for spec in SPECS}
    return [
        (by_name["rows"], n >= 1, {"observed_value": n}),
        (by_name["key.nn"], key_nulls == 0, {"element_count": n, "unexpected_count": key_nulls}),
        (
            by_name["key.unique"],
            duplicated == 0,
            {"element_count": n, "missing_count": key_nulls, "unexpected_count": duplicated},
        ),
        (
            by_name["amount.range"],
            out_of_range == 0,
            {"element_count": n, "missing_count": 0, "unexpected_count": out_of_range},
        ),
        (
            by_name["segment.in_set"],
            out_of_set == 0,
            {"element_count": n, "missing_count": 0, "unexpected_count": out_of_set},
        ),
        (by_name["segment.psi"], psi < 0.1, {"observed_value": psi}),
    ]


@pytest.fixture(scope="module")
def computed(frame: pd.DataFrame, suite: ExpectationSuite) -> ExpectationSuiteValidationResult:
    return result_from_outcomes(
        suite,
        _outcomes(frame),
        run_name="computed-run",
        batch_id="profiles/dt=2024-05-01",
        run_time=RUN_TIME,
    )


def _by_name(result: ExpectationSuiteValidationResult) -> dict[str, Any]:
    return {evr.expectation_config.meta["name"]: evr for evr in result.results}


def test_real_gx_on_pandas_gives_expected_verdicts(real: ExpectationSuiteValidationResult) -> None:
    results = _by_name(real)
    assert [evr.expectation_config.meta["name"] for evr in real.results] == [s.name for s in SPECS]
    assert not any(evr.exception_info["raised_exception"] for evr in real.results)

    assert results["key.nn"].success is False
    assert results["key.nn"].result["unexpected_count"] == 1
    assert results["key.nn"].result["unexpected_percent"] == pytest.approx(12.5)
    assert results["amount.range"].success is False
    assert results["amount.range"].result["unexpected_count"] == 1
    assert results["amount.range"].result["partial_unexpected_list"] == [500.0]
    assert results["segment.in_set"].success is True
    assert results["key.unique"].success is True
    assert results["rows"].result["observed_value"] == len(ROWS)
    # the custom expectation ran inside GX: a 5/3 split against 50/50
    expected_psi = 0.125 * math.log(1.25) - 0.125 * math.log(0.75)
    assert results["segment.psi"].success is True
    assert results["segment.psi"].result["observed_value"] == pytest.approx(expected_psi)

    assert results["key.unique"].expectation_config.meta == {
        "name": "key.unique",
        "severity": "warn",
    }
    assert results["key.unique"].expectation_config.severity == "warning"
    assert results["key.nn"].expectation_config.severity == "critical"
    assert real.success is False
    assert real.statistics == {
        "evaluated_expectations": 6,
        "successful_expectations": 4,
        "unsuccessful_expectations": 2,
        "success_percent": pytest.approx(400 / 6),
    }
    assert [spec_from_result(evr) for evr in real.results] == SPECS


def test_results_from_outcomes_equal_real_ones(
    real: ExpectationSuiteValidationResult, computed: ExpectationSuiteValidationResult
) -> None:
    real_results, computed_results = _by_name(real), _by_name(computed)
    assert list(computed_results) == list(real_results)
    compared = (
        "observed_value",
        "element_count",
        "unexpected_count",
        "unexpected_percent",
        "missing_count",
        "missing_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
    )
    for name, real_evr in real_results.items():
        mine = computed_results[name]
        assert mine.success == real_evr.success, name
        assert mine.expectation_config.type == real_evr.expectation_config.type
        assert mine.expectation_config.meta == real_evr.expectation_config.meta
        assert mine.expectation_config.kwargs["batch_id"] == "profiles/dt=2024-05-01"
        for key in compared:
            assert mine.result.get(key) == pytest.approx(real_evr.result.get(key)), (name, key)
    assert computed.success == real.success
    assert computed.statistics == real.statistics
    assert computed.suite_name == real.suite_name
    assert computed.meta["run_id"].run_name == "computed-run"


def test_psi_expectation_round_trips_through_suite_and_result(
    suite: ExpectationSuite, computed: ExpectationSuiteValidationResult
) -> None:
    loaded_suite = ExpectationSuite(**json.loads(json.dumps(suite.to_json_dict())))
    psi = [
        e for e in loaded_suite.expectations if e.expectation_type.endswith("psi_to_be_less_than")
    ]
    assert len(psi) == 1
    assert isinstance(psi[0], ExpectColumnPsiToBeLessThan)
    assert psi[0].reference == REFERENCE
    assert psi[0].threshold == 0.1
    assert psi[0].meta == {"name": "segment.psi", "severity": "warn"}

    loaded = expectationSuiteValidationResultSchema.load(
        json.loads(json.dumps(computed.to_json_dict()))
    )
    psi_result = _by_name(loaded)["segment.psi"]
    assert isinstance(psi_result.expectation_config.to_domain_obj(), ExpectColumnPsiToBeLessThan)
    assert spec_from_result(psi_result) == SPECS[-1]
    assert psi_result.result["observed_value"] == pytest.approx(
        _by_name(computed)["segment.psi"].result["observed_value"]
    )


def test_population_stability_index() -> None:
    assert population_stability_index({"a": 5, "b": 5}, {"a": 0.5, "b": 0.5}) == 0
    assert population_stability_index({"a": 0.6, "b": 0.4}, {"a": 0.4, "b": 0.6}) == (
        pytest.approx(0.4 * math.log(1.5))
    )
    # a bin absent on one side is floored, so the index stays finite but large
    assert 0.5 < population_stability_index({"a": 1, "c": 1}, {"a": 1, "b": 1}) < 10


def test_suite_rejects_ambiguous_specs() -> None:
    nn = ExpectationSpec("expect_column_values_to_not_be_null", {"column": "x"})
    assert nn.name == "x.column_values_to_not_be_null"
    with pytest.raises(ValueError, match="duplicate expectation name"):
        build_suite("s", [nn, nn])
    with pytest.raises(ValueError, match="repeats"):
        build_suite("s", [nn, ExpectationSpec(nn.type, {"column": "x"}, name="other")])
    with pytest.raises(ValueError, match="severity"):
        ExpectationSpec(nn.type, {"column": "x"}, severity="fatal")  # type: ignore[arg-type]


def test_data_docs_accumulate_across_calls(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    real: ExpectationSuiteValidationResult,
    computed: ExpectationSuiteValidationResult,
) -> None:
    other_suite = build_suite("orders.daily", SPECS[:2])
    other = result_from_outcomes(
        other_suite,
        [
            (SPECS[0], True, {"observed_value": 3}),
            (SPECS[1], True, {"element_count": 3, "unexpected_count": 0}),
        ],
        run_name="orders-run",
        batch_id="orders/dt=2024-05-01",
    )
    with caplog.at_level(logging.WARNING):
        first = write_data_docs([real, computed], tmp_path)
        second = write_data_docs([other], tmp_path)
    assert first == second == tmp_path / "gx/uncommitted/data_docs/local_site/index.html"
    html = second.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    for name in ("real-run", "computed-run", "orders-run", "profiles.daily", "orders.daily"):
        assert name in html, name

    site = second.parent
    # GX turns the dots of a suite name into folders
    pages = sorted(p.relative_to(site).parts[:4] for p in (site / "validations").rglob("*.html"))
    assert pages == [
        ("validations", "orders", "daily", "orders-run"),
        ("validations", "profiles", "daily", "computed-run"),
        ("validations", "profiles", "daily", "real-run"),
    ]
    psi = population_stability_index({"a": 5, "b": 3}, REFERENCE)
    for page in (site / "validations" / "profiles").rglob("*.html"):
        text = page.read_text()
        assert "population stability index against the reference distribution" in text
        assert f"PSI {psi:.4f}" in text
    suite_page = (site / "expectations" / "profiles" / "daily.html").read_text()
    assert "population stability index" in suite_page
    problems = [r for r in caplog.records if r.name.startswith("great_expectations")]
    assert problems == [], [r.getMessage()[:300] for r in problems]


def test_rows_from_result(computed: ExpectationSuiteValidationResult) -> None:
    rows = rows_from_result(computed, run_id="run-1", dt="2024-05-01", dataset="profiles")
    psi = json.dumps(population_stability_index({"a": 5, "b": 3}, REFERENCE))
    keys = ("column", "severity", "success", "observed_value", "unexpected_count")
    keys += ("unexpected_percent", "element_count")
    # fmt: off
    expected = [
        ("rows", None, "error", True, "8", None, None, None),
        ("key.nn", "user_id", "error", False, "null", 1, 12.5, 8),
        ("key.unique", "user_id", "warn", True, "null", 0, 0.0, 8),
        ("amount.range", "amount", "error", False, "null", 1, 12.5, 8),
        ("segment.in_set", "segment", "error", True, "null", 0, 0.0, 8),
        ("segment.psi", "segment", "warn", True, psi, None, None, None),
    ]
    # fmt: on
    assert rows == [
        {
            "run_id": "run-1",
            "dt": "2024-05-01",
            "dataset": "profiles",
            "expectation": spec.name,
            "expectation_type": spec.type,
            **dict(zip(keys, values, strict=True)),
        }
        for spec, (name, *values) in zip(SPECS, expected, strict=True)
        if spec.name == name
    ]
    assert len(rows) == len(SPECS)


@pytest.mark.spark
def test_spark_engine_gives_the_same_verdicts_as_pandas(
    spark: SparkSession, suite: ExpectationSuite, real: ExpectationSuiteValidationResult
) -> None:
    frame = spark.createDataFrame(ROWS, "user_id bigint, amount double, segment string")
    result = validate_dataframe(frame, suite, engine="spark", run_name="spark-run")
    assert not frame.is_cached  # GX persisted it; the bridge released it
    assert not any(evr.exception_info["raised_exception"] for evr in result.results)
    spark_results, pandas_results = _by_name(result), _by_name(real)
    assert list(spark_results) == list(pandas_results)
    for name, evr in pandas_results.items():
        theirs = spark_results[name]
        assert theirs.success == evr.success, name
        for key in ("observed_value", "unexpected_count", "element_count"):
            assert theirs.result.get(key) == pytest.approx(evr.result.get(key)), (name, key)
    assert result.statistics == real.statistics
