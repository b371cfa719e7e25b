"""The quality gate: audit a DataFrame against a suite and decide whether it may be published.

Every expectation is evaluated once: the common types in one fused Spark pass
(:mod:`tagfactory.quality.metrics`), the rest by Great Expectations itself on the same
DataFrame. Both end as one Great Expectations suite result (rendered in Data Docs) and as rows of
the ``quality_results`` Delta table. An ``error`` expectation that fails blocks the publish; a
``warn`` one is reported.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tagfactory.quality.gx_bridge import (
    ExpectationSpec,
    build_suite,
    result_from_outcomes,
    rows_from_result,
    spec_from_result,
    validate_dataframe,
)
from tagfactory.quality.metrics import evaluate
from tagfactory.quality.psi import PSI_TYPE

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from pyspark.sql import DataFrame


@dataclass
class Finding:
    """One failed expectation, in words."""

    name: str
    severity: str
    message: str


@dataclass
class AuditReport:
    """The outcome of one audit."""

    dataset: str
    dt: str
    run_id: str
    result: ExpectationSuiteValidationResult
    rows: list[dict[str, Any]]
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    evaluated: dict[str, int] = field(default_factory=dict)  # engine -> expectations

    @property
    def passed(self) -> bool:
        """True when no ``error`` expectation failed."""
        return not self.errors

    def summary(self) -> str:
        """One line: counts and verdict."""
        total = len(self.rows)
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"quality gate {verdict} for {self.dataset} dt={self.dt}: {total} expectations, "
                f"{len(self.errors)} errors, {len(self.warnings)} warnings ({self.seconds:.1f}s; "
                + ", ".join(f"{n} by {e}" for e, n in self.evaluated.items() if n) + ")")

    def message(self) -> str:
        """Every failure on its own line, errors first."""
        lines = [self.summary()]
        lines += [f"  ERROR {f.message}" for f in self.errors]
        lines += [f"  WARN  {f.message}" for f in self.warnings]
        return "\n".join(lines)

    def verdict(self) -> dict[str, Any]:
        """JSON-ready verdict stored next to the staged files."""
        return {"passed": self.passed, "dataset": self.dataset, "dt": self.dt, "run_id": self.run_id,
                "errors": [f.message for f in self.errors], "warnings": [f.message for f in self.warnings],
                "audited_at": dt.datetime.now(dt.UTC).isoformat()}


def audit(df: DataFrame, specs: Sequence[ExpectationSpec], *, suite_name: str, dataset: str, snapshot_date: str,
          run_id: str, drift_bins: Mapping[str, Any] | None = None, engine: str = "fast") -> AuditReport:
    """Evaluate ``specs`` on ``df``.

    Args:
        df: The staged data. The fused pass reads it at most twice (cheap for Parquet files); it is
            persisted only while Great Expectations evaluates leftovers (one read per metric).
        specs: The suite's expectations.
        suite_name: GX suite name (e.g. ``profile_user``).
        dataset: What was audited, for messages and the results table (e.g. a table URI).
        snapshot_date: The snapshot date (ISO).
        run_id: The build run.
        drift_bins: Column -> binning for PSI expectations (see :mod:`metrics`).
        engine: ``fast`` (fused pass, GX for the rest) or ``gx`` (Great Expectations for all).

    Returns:
        The report; nothing is raised for failed expectations.
    """
    started = time.perf_counter()
    suite = build_suite(suite_name, specs)
    if engine == "gx":
        # PSI over a numeric column needs binning first, which GX's value counts cannot do:
        # drift is always measured by the fused pass
        drift = [s for s in specs if s.type == PSI_TYPE and s.column in (drift_bins or {})]
        outcomes, _ = evaluate(df, drift, drift_bins=drift_bins) if drift else ([], [])
        leftovers = [s for s in specs if s not in drift]
    else:
        outcomes, leftovers = evaluate(df, specs, drift_bins=drift_bins)
    evaluated = {"fused pass": len(outcomes), "Great Expectations": len(leftovers)}
    outcomes = list(outcomes)
    if leftovers:
        # GX reads the data once per metric: keep it in memory while it does
        cached = df.persist()
        try:
            real = validate_dataframe(cached, build_suite(f"{suite_name}.gx", leftovers), engine="spark",
                                      run_name=run_id)
        finally:
            cached.unpersist()
        for evr in real.results:
            outcomes.append((spec_from_result(evr), bool(evr.success), dict(evr.result or {})))
    order = {s.name: i for i, s in enumerate(specs)}
    outcomes.sort(key=lambda o: order.get(o[0].name, len(order)))
    by_name = {s.name: s for s in specs}
    outcomes = [(by_name.get(s.name, s), ok, r) for s, ok, r in outcomes]
    result = result_from_outcomes(suite, outcomes, run_name=run_id, batch_id=f"{dataset}__{snapshot_date}")
    rows = rows_from_result(result, run_id=run_id, dt=snapshot_date, dataset=dataset)
    report = AuditReport(dataset, snapshot_date, run_id, result, rows, evaluated=evaluated)
    for spec, ok, res in outcomes:
        if ok:
            continue
        finding = Finding(spec.name, spec.severity, describe(spec, res))
        (report.errors if spec.severity == "error" else report.warnings).append(finding)
    report.seconds = time.perf_counter() - started
    return report


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.1f}%"


def _n(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(spec: ExpectationSpec, result: Mapping[str, Any]) -> str:
    """A failed expectation in plain words, e.g. ``tag orders_30d: expected ≥ 95% non-null, got 71.2%``."""
    kw = spec.kwargs
    col = kw.get("column")
    who = f"`{col}`" if col else "table"
    meta = spec.meta or {}
    observed = result.get("observed_value")
    unexpected = result.get("unexpected_count")
    t = spec.type
    if meta.get("check") == "freshness":
        return (f"source {spec.name.split('.')[0]}: the partition for the snapshot date is missing or has "
                f"{_n(observed or 0)} rows (expected at least {_n(kw.get('min_value', 1))})")
    if t == "expect_column_values_to_not_be_null":
        total = result.get("element_count") or 0
        non_null = (total - (unexpected or 0)) / total * 100 if total else 100.0
        if "mostly" in kw:
            extra = ""
            if meta.get("previous_coverage") is not None:
                extra = f" (previous snapshot {meta.get('previous_dt')}: {meta['previous_coverage'] * 100:.1f}%)"
            return f"{who}: expected ≥ {kw['mostly'] * 100:.1f}% non-null, got {non_null:.1f}%{extra}"
        return f"{who}: expected no nulls, found {_n(unexpected or 0)} ({_pct(result.get('unexpected_percent'))})"
    if t == "expect_column_values_to_be_unique":
        return f"{who}: expected unique values, found {_n(unexpected or 0)} rows with a repeated value"
    if t == "expect_column_values_to_be_in_set":
        allowed = ", ".join(str(v) for v in kw.get("value_set", [])[:12])
        return (f"{who}: {_n(unexpected or 0)} values ({_pct(result.get('unexpected_percent'))}) are outside the "
                f"allowed values {allowed}")
    if t == "expect_column_values_to_be_between":
        bounds = f"[{_num(kw.get('min_value', '-∞'))}, {_num(kw.get('max_value', '∞'))}]"
        mostly = f" (allowed: {(1 - kw['mostly']) * 100:.1f}%)" if "mostly" in kw else ""
        return f"{who}: {_n(unexpected or 0)} values ({_pct(result.get('unexpected_percent'))}) outside {bounds}{mostly}"
    if t in ("expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"):
        if meta.get("previous_rows") is not None:
            return (f"table: {_n(observed)} rows, expected {_n(kw.get('min_value'))}–{_n(kw.get('max_value'))} "
                    f"(previous snapshot {meta.get('previous_dt')}: {_n(meta['previous_rows'])} rows, max change "
                    f"{meta.get('max_change', 0) * 100:.0f}%)")
        return f"table: {_n(observed)} rows, expected at least {_n(kw.get('min_value', 1))}"
    if t == "expect_column_psi_to_be_less_than":
        value = f"{float(observed):.3f}" if isinstance(observed, int | float) else str(observed)
        return (f"{who}: distribution drifted from the previous snapshot {meta.get('previous_dt', '')}: "
                f"PSI {value} ≥ {kw.get('threshold')}")
    return f"{who}: {t} failed (observed {json.dumps(observed, default=str)}, unexpected {unexpected})"
