"""Table maintenance: compact small files and vacuum unreferenced ones past a retention period.

Every daily run adds files (one snapshot partition, six audience tables, quality results appended
run by run); a re-run replaces a date and leaves the replaced files in storage for time travel.
:func:`maintain` compacts each table's small files (a ``dataChange=false`` commit: readers see the
same rows) and then deletes files that no live version references and that were removed longer
ago than ``retention_days`` -- so time travel keeps working for every version inside the retention.

The configured writer does the work: delta-rs (``optimize.compact`` / ``vacuum``, no Spark needed)
or Delta Lake on Spark (``OPTIMIZE`` / ``VACUUM``). Folders starting with ``_`` (staging,
quarantine, the Delta log) are never touched by either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deltalake import DeltaTable

from tagfactory.compiler.manifest import Manifest, manifest_path, read_manifest
from tagfactory.lakehouse.delta import Writer
from tagfactory.lakehouse.paths import TableLocation
from tagfactory.progress import log, step
from tagfactory.quality.store import RESULTS_TABLE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.settings import Settings


def run_maintenance(manifest_file: str | None = None, config: str | None = None, *,
                    retention_days: float | None = None) -> int:
    """Maintain every table of the manifest with the settings' writer (job and CLI entry); exit code."""
    from tagfactory.settings import load_settings

    settings = load_settings(config)
    manifest = read_manifest(manifest_file or manifest_path(settings.target))
    retention = settings.maintenance.retention_days if retention_days is None else retention_days
    if settings.writer != "native":
        results = maintain(None, warehouse_tables(manifest, settings), writer=settings.writer,
                           retention_days=retention, target_file_mb=settings.maintenance.target_file_mb)
    else:
        from tagfactory.pipeline.runtime import (  # Spark only for the native writer
            start_job,
            stop_job,
        )

        spark, _ = start_job(settings, None)
        try:
            results = maintain(spark, warehouse_tables(manifest, settings), writer=settings.writer,
                               retention_days=retention, target_file_mb=settings.maintenance.target_file_mb)
        finally:
            stop_job(spark, settings, None)
    log(f"maintained {len(results)} tables (retention {retention:g} days): "
        f"{sum(r.files_before for r in results)} -> {sum(r.files_after for r in results)} live files, "
        f"{sum(r.vacuumed for r in results)} files vacuumed")
    return 0


@dataclass(frozen=True)
class MaintenanceResult:
    """What maintaining one table did."""

    table: str
    files_before: int
    files_after: int
    vacuumed: int
    version: int
    seconds: float


def warehouse_tables(manifest: Manifest, settings: Settings) -> list[str]:
    """URIs of the tables the manifest's jobs write (profile, stats, audiences, quality results)."""
    names: list[str] = []
    for entity in manifest.entities:
        names += [entity.profile_table, entity.stats_table, *entity.audience_tables.values()]
    names.append(RESULTS_TABLE)
    return [settings.table_uri(n) for n in dict.fromkeys(names)]


def maintain(spark: SparkSession | None, uris: list[str], *, writer: Writer, retention_days: float,
             target_file_mb: int = 128) -> list[MaintenanceResult]:
    """Compact and vacuum each existing Delta table in ``uris`` (missing tables are skipped).

    Args:
        spark: Active session; needed only for ``writer="native"``.
        uris: Table locations.
        writer: ``"deltars"`` or ``"native"``.
        retention_days: Files removed from the table longer ago than this are deleted.
        target_file_mb: Compaction target file size.
    """
    results = []
    for uri in uris:
        location = TableLocation.parse(uri)
        if not DeltaTable.is_deltatable(location.delta_uri):
            continue
        started = time.monotonic()
        before = len(DeltaTable(location.delta_uri).file_uris())
        with step(f"maintaining {uri.rsplit('/', 1)[-1]}") as s:
            if writer == "native":
                if spark is None:
                    raise ValueError("writer='native' maintenance needs a Spark session")
                vacuumed = _native(spark, location.spark_uri, retention_days, target_file_mb)
            else:
                vacuumed = _deltars(location.delta_uri, retention_days, target_file_mb)
            table = DeltaTable(location.delta_uri)
            after = len(table.file_uris())
            s.detail = f"{before} -> {after} files, {vacuumed} vacuumed, version {table.version()}"
        results.append(MaintenanceResult(uri, before, after, vacuumed, table.version(), time.monotonic() - started))
    return results


def _deltars(uri: str, retention_days: float, target_file_mb: int) -> int:
    table = DeltaTable(uri)
    table.optimize.compact(target_size=target_file_mb * 2**20)
    removed = DeltaTable(uri).vacuum(retention_hours=int(retention_days * 24), dry_run=False,
                                     enforce_retention_duration=False)
    return len(removed)


def _native(spark: SparkSession, uri: str, retention_days: float, target_file_mb: int) -> int:
    from delta.tables import DeltaTable as SparkDeltaTable

    from tagfactory.lakehouse.delta import session_conf
    from tagfactory.lakehouse.paths import HadoopFs

    fs = HadoopFs(spark, uri)
    before = {f.uri for f in fs.list_files(uri)}
    with session_conf(spark, "spark.databricks.delta.optimize.maxFileSize", str(target_file_mb * 2**20)), \
            session_conf(spark, "spark.databricks.delta.retentionDurationCheck.enabled", "false"):
        table = SparkDeltaTable.forPath(spark, uri)
        table.optimize().executeCompaction()
        table.vacuum(retention_days * 24)
    return len(before - {f.uri for f in fs.list_files(uri)})
