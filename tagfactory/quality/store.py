"""Where audit results go: the ``quality_results`` Delta table and Great Expectations Data Docs.

Every audit appends one row per expectation (and every override one row with the reason) to
``<warehouse>/quality_results`` partitioned by ``dt``; analysts query it like any other table.
Data Docs (static HTML) are rebuilt under ``<warehouse>/_quality/gx/uncommitted/data_docs/`` when
the warehouse is a local path; for ``hdfs://``/``s3a://`` warehouses they are rendered into
``<target>/quality`` on the machine that runs the job (see ``gx_bridge.write_data_docs``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagfactory.contracts.tables import RESULTS_TABLE, table_spec
from tagfactory.errors import ConfigError
from tagfactory.lakehouse.schemas import struct_type
from tagfactory.progress import log

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.lakehouse.store import TableStore
    from tagfactory.quality.gate import AuditReport
    from tagfactory.settings import Settings

__all__ = ["RESULTS_TABLE", "docs_root", "override_row", "record", "record_override", "render_docs"]


def docs_root(settings: Settings) -> Path:
    """Local folder of the Great Expectations project that renders the Data Docs."""
    if "://" in settings.warehouse and not settings.warehouse.startswith("file:"):
        return Path(settings.target) / "quality"
    return Path(settings.warehouse.removeprefix("file://").removeprefix("file:")) / "_quality"


def record(spark: SparkSession, settings: Settings, reports: Sequence[AuditReport],
           extra_rows: Sequence[dict[str, Any]] = (), *, tables: TableStore) -> int | None:
    """Append the reports' rows (and ``extra_rows``) to the results table; return its new version.

    ``tables`` is the job's store, which appends the rows; None is returned when there are none.
    """
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for report in reports:
        suite = report.result.meta.get("expectation_suite_name") or report.result.suite_name
        for row in report.rows:
            rows.append(_row({**row, "suite": suite}, now))
    rows += [_row(r, now) for r in extra_rows]
    if not rows:
        return None
    spec = table_spec("quality_results")
    frame = spark.createDataFrame(rows, struct_type(spec, storage=True))
    result = tables.publish(frame, settings.table_uri(spec.name), partition_by=spec.partition_by, mode="append",
                            commit_metadata={"job_name": "quality_gate"})
    return result.version


def override_row(*, run_id: str, dataset: str, snapshot_date: str, reason: str, actor: str,
                 overridden: Sequence[str]) -> dict[str, Any]:
    """The results-table row that records a gate override."""
    return {"run_id": run_id, "dataset": dataset, "suite": "override", "expectation": "__override__",
            "expectation_type": "override", "column": None, "severity": "error", "success": True,
            "observed_value": json.dumps({"overridden": list(overridden)}), "unexpected_count": None,
            "unexpected_percent": None, "element_count": None, "dt": snapshot_date,
            "details": json.dumps({"reason": reason, "by": actor})}


def record_override(spark: SparkSession, settings: Settings, *, tables: TableStore, run_id: str, dataset: str,
                    snapshot_date: str, reason: str, actor: str | None, overridden: Sequence[str]) -> dict[str, str]:
    """Check and record a gate override; return the Delta commit metadata that carries it.

    Raises:
        ValueError: the reason does not say why (fewer than 10 characters).
    """
    reason = reason.strip()
    if len(reason) < 10:
        raise ConfigError("--reason must say why the gate is overridden (at least 10 characters)")
    who = actor or os.environ.get("USER") or "unknown"
    record(spark, settings, [], [override_row(run_id=run_id, dataset=dataset, snapshot_date=snapshot_date,
                                              reason=reason, actor=who, overridden=overridden)], tables=tables)
    log(f"quality gate of {dataset} overridden by {who}: {reason}")
    return {"gate_override": reason, "gate_override_by": who}


def _row(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    out = {k: row.get(k) for k in ("run_id", "dataset", "suite", "expectation", "expectation_type", "column",
                                   "severity", "success", "observed_value", "unexpected_count",
                                   "unexpected_percent", "element_count", "details")}
    out["recorded_at"] = now
    out["dt"] = dt.date.fromisoformat(str(row["dt"]))
    if out["unexpected_count"] is not None:
        out["unexpected_count"] = int(out["unexpected_count"])
    if out["element_count"] is not None:
        out["element_count"] = int(out["element_count"])
    if out["unexpected_percent"] is not None:
        out["unexpected_percent"] = float(out["unexpected_percent"])
    return out


def render_docs(settings: Settings, reports: Sequence[AuditReport]) -> Path:
    """Add the reports to the Data Docs site and return the path of its ``index.html``."""
    # Great Expectations: imported when rendering (~5 s)
    from tagfactory.quality.gx_bridge import write_data_docs

    return write_data_docs([r.result for r in reports], docs_root(settings))
