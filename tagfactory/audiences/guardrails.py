"""The audience guardrails: each audience's size and change checked against its stats row, as a GX result.

``check_guardrails`` builds the :class:`~tagfactory.quality.gate.AuditReport` of a run;
``record_results`` appends it to ``quality_results`` (and the Data Docs) like every other gate.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pyspark.sql import SparkSession

from tagfactory.compiler.manifest import Entity
from tagfactory.lakehouse.store import TableStore
from tagfactory.progress import log, step
from tagfactory.quality import store
from tagfactory.quality.gate import AuditReport, Finding
from tagfactory.quality.gx_bridge import (
    ExpectationSpec,
    build_suite,
    result_from_outcomes,
    rows_from_result,
)
from tagfactory.settings import Settings


def check_guardrails(settings: Settings, entity: Entity, stats_rows: list[dict[str, Any]], snapshot_date: dt.date,
                     run_id: str) -> AuditReport:
    """Check each audience's guardrails against its stats row; a GX result like every other gate.

    The outcomes are computed here from the audience's stats row; GX only records them. The specs
    are ``internal`` (built here from validated audience names), so their ``row_condition`` naming
    the stats row passes the bridge, which refuses conditions from definitions.
    """
    started = time.perf_counter()
    by_name = {r["audience"]: r for r in stats_rows}
    outcomes: list[tuple[ExpectationSpec, bool, dict[str, Any]]] = []
    findings: list[tuple[str, Finding]] = []
    for a in entity.audiences:
        g = a.guardrails
        row = by_name[a.name]
        size = row["size"]
        severity = g.severity
        if g.min_size is not None or g.max_size is not None:
            spec = ExpectationSpec("expect_column_values_to_be_between",
                                   {"column": "size", "min_value": g.min_size, "max_value": g.max_size,
                                    **_row_of(a.name)},
                                   severity, name=f"{a.name}.size", meta={"audience": a.name}, internal=True)
            ok = (g.min_size is None or size >= g.min_size) and (g.max_size is None or size <= g.max_size)
            outcomes.append((spec, ok, {"observed_value": size, "element_count": 1, "unexpected_count": 0 if ok else 1,
                                        "unexpected_percent": 0.0 if ok else 100.0, "partial_unexpected_list": [] if ok else [size]}))
            if not ok:
                bound = (f"below min_size {g.min_size:,}" if g.min_size is not None and size < g.min_size
                         else f"above max_size {g.max_size:,}")
                findings.append((severity, Finding(spec.name, severity, f"audience `{a.name}`: {size:,} users, {bound}")))
        if g.max_change is not None and row["change"] is not None:
            spec = ExpectationSpec("expect_column_values_to_be_between",
                                   {"column": "change", "min_value": 0, "max_value": g.max_change, **_row_of(a.name)},
                                   severity, name=f"{a.name}.change", meta={"audience": a.name}, internal=True)
            ok = row["change"] <= g.max_change
            outcomes.append((spec, ok, {"observed_value": row["change"], "element_count": 1,
                                        "unexpected_count": 0 if ok else 1, "unexpected_percent": 0.0 if ok else 100.0,
                                        "partial_unexpected_list": [] if ok else [row["change"]]}))
            if not ok:
                findings.append((severity, Finding(spec.name, severity, (
                    f"audience `{a.name}`: {row['previous_size']:,} -> {size:,} users on {row['previous_dt']} -> "
                    f"{snapshot_date}, a change of {row['change']:.1%} > max_change {g.max_change:.0%}"))))
    dataset = entity.audience_tables["audience_members"]
    suite_name = f"audiences_{entity.name}"
    specs = [o[0] for o in outcomes]
    suite = build_suite(suite_name, specs)
    result = result_from_outcomes(suite, outcomes, run_name=run_id, batch_id=f"{dataset}__{snapshot_date}")
    rows = rows_from_result(result, run_id=run_id, dt=snapshot_date.isoformat(), dataset=dataset)
    report = AuditReport(dataset, snapshot_date.isoformat(), run_id, result, rows,
                         evaluated={"guardrails": len(outcomes)})
    for level, finding in findings:
        (report.errors if level == "error" else report.warnings).append(finding)
    report.seconds = time.perf_counter() - started
    return report


def _row_of(audience: str) -> dict[str, str]:
    """GX kwargs restricting an expectation to one audience's row of the stats table."""
    return {"row_condition": f'audience == "{audience}"', "condition_parser": "spark"}



def record_results(spark: SparkSession, settings: Settings, tables: TableStore, report: AuditReport) -> None:
    """Append the guardrail results to ``quality_results``, render the Data Docs (if on), log the outcome."""
    with step("recording guardrail results"):
        store.record(spark, settings, [report], tables=tables)
    if settings.quality.data_docs:
        with step("rendering Data Docs") as s:
            s.detail = str(store.render_docs(settings, [report]))
    log(report.message() if not report.passed or report.warnings else report.summary())
