"""Receipts: one ``export_receipts`` row per destination delivery, and the reconciliation rule.

A destination task appends its receipt (delivered, unchanged or failed) and then fails unless
the rows the destination holds, read back, equal the rows the selection staged
(:func:`reconcile`). The verify task reads the receipts of a run back and checks every
destination of the export has a reconciled receipt of the current content id.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from tagfactory.contracts.tables import RECEIPTS_TABLE, table_spec
from tagfactory.errors import ExportError
from tagfactory.exports.contracts import Delivery, Selection

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.lakehouse.store import TableStore
    from tagfactory.settings import Settings


class ReconciliationError(ExportError):
    """A destination holds a different number of rows than the selection staged."""


def receipt_row(selection: Selection, delivery: Delivery, run_id: str, error: str | None = None) -> dict[str, Any]:
    """The receipt of one delivery (the ``export_receipts`` row)."""
    return {
        "export": selection.export, "destination": delivery.destination, "kind": delivery.kind,
        "content_id": selection.content_id, "supersedes": delivery.detail.get("supersedes") or selection.supersedes,
        "status": delivery.status if error is None else "failed",
        "rows_selected": selection.rows_selected, "rows_suppressed": sum(selection.rows_suppressed.values()),
        "suppressed_by": json.dumps(selection.rows_suppressed, sort_keys=True),
        "rows_expected": selection.rows_expected, "rows_delivered": delivery.rows_delivered,
        "files": len(delivery.files), "bytes": delivery.bytes,
        "checksums": json.dumps({f.name: f.sha256 for f in delivery.files}, sort_keys=True),
        "location": delivery.location, "hash_profiles": ",".join(selection.hash_profiles),
        "source_versions": json.dumps(selection.source_versions, sort_keys=True),
        "manifest_digest": selection.manifest_digest, "run_id": run_id, "error": error,
        "started_at": _naive(delivery.started), "finished_at": _naive(delivery.finished),
        "dt": selection.snapshot_date,
    }


def reconcile(selection: Selection, delivery: Delivery) -> str | None:
    """Why ``delivery`` does not reconcile with ``selection`` (None when it does)."""
    if delivery.status == "failed":
        return delivery.detail.get("error") or "the destination reported a failure"
    if delivery.rows_delivered != selection.rows_expected:
        return (f"{delivery.destination}: delivered {delivery.rows_delivered:,} rows, expected "
                f"{selection.rows_expected:,} (selected {selection.rows_selected:,} - suppressed "
                f"{sum(selection.rows_suppressed.values()):,})")
    return None


def record(spark: SparkSession, tables: TableStore, settings: Settings, rows: list[dict[str, Any]]) -> int | None:
    """Append receipt rows; returns the table version written."""
    from tagfactory.lakehouse.schemas import struct_type

    if not rows:
        return None
    spec = table_spec("export_receipts")
    frame = spark.createDataFrame(rows, struct_type(spec, storage=True))
    result = tables.publish(frame, settings.table_uri(RECEIPTS_TABLE), partition_by=spec.partition_by,
                            mode="append", commit_metadata={"job_name": "export"})
    return result.version


def receipts(settings: Settings, export: str | None = None, snapshot_date: dt.date | None = None
             ) -> list[dict[str, Any]]:
    """Receipt rows (newest first), read with delta-rs (no Spark); [] before the first receipt."""
    from tagfactory.lakehouse.reads import TableLocation, load_table, read_arrow

    table = load_table(TableLocation.parse(settings.table_uri(RECEIPTS_TABLE)), None)
    if table is None:
        return []
    filters: list[Any] = []
    if export is not None:
        filters.append(("export", "=", export))
    if snapshot_date is not None:
        filters.append(("dt", "=", snapshot_date))
    rows = read_arrow(table, filters=filters or None).to_pylist()
    return sorted(rows, key=lambda r: r["finished_at"] or dt.datetime.min, reverse=True)


def latest_delivered(settings: Settings, export: str, destination: str, snapshot_date: dt.date) -> str | None:
    """Content id of the newest reconciled delivery of ``export`` to ``destination`` for the date."""
    for row in receipts(settings, export, snapshot_date):
        if row["destination"] == destination and row["status"] in ("delivered", "unchanged"):
            return str(row["content_id"])
    return None


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
