"""The gate's steps for one entity and date, as the build job and the DAG call them.

* :func:`check_sources` -- before the build: every source's rows for the date;
* :func:`audit_profile` -- after staging: the staged snapshot, compared with the previous one.

Both record their results (Delta table and Data Docs) and return the reports; the caller decides
what a failure does (the job raises :class:`~tagfactory.quality.failures.QualityGateError`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from tagfactory.compiler.manifest import Entity
from tagfactory.progress import log, step
from tagfactory.quality import store
from tagfactory.quality.gate import AuditReport, audit
from tagfactory.quality.gx_bridge import PSI_OTHER_BIN
from tagfactory.quality.metrics import DriftBins
from tagfactory.quality.suites import Reference, profile_specs, source_specs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tagfactory.lakehouse.store import TableStore
    from tagfactory.settings import Settings


def check_sources(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
                  run_id: str, *, tables: TableStore) -> list[AuditReport]:
    """Audit each source's rows for ``snapshot_date`` (sources must be registered as temp views).

    ``tables`` is the job's store: the results are appended to the results table through it.
    """
    reports = []
    for source in entity.sources:
        frame: DataFrame = spark.table(f"`{source.name}`")
        part = source.partition_column
        if part:
            frame = frame.where(F.col(f"`{part}`") == F.lit(snapshot_date))
        specs = source_specs(source, entity.key)
        report = audit(frame, specs, suite_name=f"sources.{source.name}",
                       dataset=f"source:{source.name}", snapshot_date=snapshot_date.isoformat(),
                       run_id=run_id, engine=settings.quality.engine)
        reports.append(report)
    _record(spark, settings, reports, tables)
    return reports


def audit_profile(spark: SparkSession, settings: Settings, entity: Entity, staged: DataFrame,
                  snapshot_date: dt.date, run_id: str, *, tables: TableStore) -> AuditReport:
    """Audit a staged profile snapshot against its suite and the previous published snapshot.

    ``tables`` is the job's store: it reads the previous snapshot's statistics and records the results.
    """
    reference = load_reference(settings, entity, snapshot_date, tables=tables)
    specs = profile_specs(entity, reference)
    bins = drift_bins(entity, reference) if reference else None
    report = audit(staged, specs, suite_name=entity.profile_table, dataset=entity.profile_table,
                   snapshot_date=snapshot_date.isoformat(), run_id=run_id, drift_bins=bins,
                   engine=settings.quality.engine)
    _record(spark, settings, [report], tables)
    return report


def _record(spark: SparkSession, settings: Settings, reports: list[AuditReport], tables: TableStore) -> None:
    for report in reports:
        log(report.message() if not report.passed or report.warnings else report.summary())
    with step("recording quality results"):
        store.record(spark, settings, reports, tables=tables)
    if settings.quality.data_docs:
        with step("rendering Data Docs") as s:
            s.detail = str(store.render_docs(settings, reports))


def load_reference(settings: Settings, entity: Entity, snapshot_date: dt.date, *,
                   tables: TableStore) -> Reference | None:
    """What the latest published snapshot before ``snapshot_date`` looked like (from the stats table)."""
    uri = settings.table_uri(entity.stats_table)
    if tables.version(uri) is None:
        return None
    stats = tables.read(uri).where(F.col("dt") < F.lit(snapshot_date))
    latest = stats.agg(F.max("dt")).collect()[0][0]
    if latest is None:
        return None
    rows = stats.where(F.col("dt") == F.lit(latest)).collect()
    if not rows:
        return None
    reference = Reference(dt=latest.isoformat(), rows=int(rows[0]["rows"]))
    has_histogram = "histogram" in stats.columns
    types = {t.name: t.type for t in entity.tags}
    for row in rows:
        tag = row["tag"]
        reference.coverage[tag] = float(row["coverage"])
        if row["top_values"] and row["non_null"]:
            top = json.loads(row["top_values"])
            # bins are labelled like DriftBins does: str() of the Python value (True, not true)
            label = (lambda v: str(v == "true")) if types.get(tag) == "boolean" else str
            shares = {label(value): count / row["non_null"] for value, count in top}
            rest = 1.0 - sum(shares.values())
            if rest > 1e-9:
                shares[PSI_OTHER_BIN] = rest
            reference.distributions[tag] = shares
        if has_histogram and row["histogram"]:
            histogram = json.loads(row["histogram"])
            reference.edges[tag] = [float(e) for e in histogram["edges"]]
            reference.distributions[tag] = {str(k): float(v) for k, v in histogram["shares"].items()}
    return reference


def drift_bins(entity: Entity, reference: Reference) -> dict[str, Any]:
    """How to bin each drift-checked column the way its reference distribution was measured."""
    out: dict[str, Any] = {}
    for tag in entity.tags:
        name = tag.name
        if tag.quality.drift is None or name not in reference.distributions:
            continue
        edges = reference.edges.get(name)
        out[name] = DriftBins(reference=reference.distributions[name], edges=edges)
    return out

