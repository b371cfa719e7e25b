"""Table maintenance: compact small files and vacuum unreferenced ones past a retention period.

Every daily run adds files (one snapshot partition, six audience tables, quality results appended
run by run); a re-run replaces a date and leaves the replaced files in storage for time travel.
:func:`maintain` compacts each table's small files (a ``dataChange=false`` commit: readers see the
same rows) and then deletes files that no live version references and that were removed longer
ago than ``retention_days`` -- so time travel keeps working for every version inside the retention.

The configured writer's store does the work (:meth:`TableStore.compact_and_vacuum`): delta-rs
(``optimize.compact`` / ``vacuum``, no Spark needed) or Delta Lake on Spark (``OPTIMIZE`` / ``VACUUM``). Folders starting with ``_`` (staging,
quarantine, the Delta log) are never touched by either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deltalake import DeltaTable

from tagfactory.compiler.manifest import Manifest, manifest_path, read_manifest
from tagfactory.lakehouse.paths import TableLocation
from tagfactory.lakehouse.store import open_store_without_spark
from tagfactory.progress import log, step

if TYPE_CHECKING:
    from tagfactory.lakehouse.store import TableStore
    from tagfactory.lineage import LineageEmitter
    from tagfactory.settings import Settings


def run_maintenance(manifest_file: str | None = None, config: str | None = None, *,
                    retention_days: float | None = None, lineage_parent_id: str | None = None,
                    lineage_root_parent_id: str | None = None) -> int:
    """Maintain every table of the manifest with the settings' writer (job and CLI entry); exit code.

    Lineage: one run ``maintain_tables`` (parent: ``lineage_parent_id`` / ``lineage_root_parent_id``,
    as for the other jobs) reading and writing every maintained table (versions before and after).
    """
    from tagfactory.pipeline.runtime import job_lineage, lineage_emitter
    from tagfactory.settings import load_settings

    settings = load_settings(config)
    manifest = read_manifest(manifest_file or manifest_path(settings.target))
    retention = settings.maintenance.retention_days if retention_days is None else retention_days
    uris = warehouse_tables(manifest, settings)
    tables = open_store_without_spark(settings)
    if tables is not None:
        import deltalake

        emitter = job_lineage(lineage_emitter(settings), deltalake.__version__, lineage_parent_id,
                              lineage_root_parent_id, engine="delta-rs", integration="TAGFACTORY")
        results = maintain_with_lineage(emitter, settings, manifest, tables, uris, retention_days=retention)
    else:
        from tagfactory.pipeline.runtime import (  # Spark only for a writer that maintains through it
            start_job,
            stop_job,
        )

        job = start_job(settings, None, lineage_parent_id=lineage_parent_id,
                        lineage_root_parent_id=lineage_root_parent_id)
        try:
            results = maintain_with_lineage(job.emitter, settings, manifest, job.tables, uris, retention_days=retention)
        finally:
            stop_job(job.spark, settings, None)
    log(f"maintained {len(results)} tables (retention {retention:g} days): "
        f"{sum(r.files_before for r in results)} -> {sum(r.files_after for r in results)} live files, "
        f"{sum(r.vacuumed for r in results)} files vacuumed")
    return 0


def maintain_with_lineage(emitter: LineageEmitter, settings: Settings, manifest: Manifest, tables: TableStore,
                          uris: list[str], *, retention_days: float) -> list[MaintenanceResult]:
    """:func:`maintain` as the lineage run ``maintain_tables``: START, then COMPLETE with each
    maintained table as input (its version before) and output (after, live files), or FAIL."""
    from tagfactory.lineage import facets as olf
    from tagfactory.pipeline import lineage_refs as refs

    specs = {settings.table_uri(t.name): t for t in [*(t for e in manifest.entities for t in e.tables),
                                                      *manifest.tables]}
    datasets = {uri: refs.table_dataset(settings, specs[uri]) for uri in uris if uri in specs}
    with emitter.run("maintain_tables", list(datasets.values()), list(datasets.values()),
                     parameters={"retention_days": retention_days,
                                 "target_file_mb": settings.maintenance.target_file_mb},
                     job_facets=olf.without_none({"documentation": olf.documentation(
                         "Compacts small files and vacuums files removed longer ago than the retention of every "
                         "maintained warehouse table (readers see the same rows)")})) as run:
        results = maintain(tables, uris, retention_days=retention_days,
                           target_file_mb=settings.maintenance.target_file_mb)
        done = [r for r in results if r.table in datasets]
        run.set_inputs([datasets[r.table].with_stats(version=r.version_before) for r in done])
        run.set_outputs([datasets[r.table].with_stats(version=r.version) for r in done])
    return results


@dataclass(frozen=True)
class MaintenanceResult:
    """What maintaining one table did."""

    table: str
    files_before: int
    files_after: int
    vacuumed: int
    version: int
    seconds: float
    version_before: int | None = None


def warehouse_tables(manifest: Manifest, settings: Settings) -> list[str]:
    """URIs of the tables the manifest lists as maintained (profile, stats, audiences, quality results)."""
    specs = [*(t for e in manifest.entities for t in e.tables), *manifest.tables]
    names = [t.name for t in specs if t.maintained]
    return [settings.table_uri(n) for n in dict.fromkeys(names)]


def maintain(tables: TableStore, uris: list[str], *, retention_days: float,
             target_file_mb: int = 128) -> list[MaintenanceResult]:
    """Compact and vacuum each existing Delta table in ``uris`` (missing tables are skipped).

    Args:
        tables: The job's store (the native one needs a Spark session, the delta-rs one none).
        uris: Table locations.
        retention_days: Files removed from the table longer ago than this are deleted.
        target_file_mb: Compaction target file size.
    """
    results = []
    for uri in uris:
        location = TableLocation.parse(uri)
        if not DeltaTable.is_deltatable(location.delta_uri):
            continue
        started = time.monotonic()
        current = DeltaTable(location.delta_uri)
        before, version_before = len(current.file_uris()), current.version()
        with step(f"maintaining {uri.rsplit('/', 1)[-1]}") as s:
            vacuumed = tables.compact_and_vacuum(uri, retention_days=retention_days, target_file_mb=target_file_mb)
            table = DeltaTable(location.delta_uri)
            after = len(table.file_uris())
            s.detail = f"{before} -> {after} files, {vacuumed} vacuumed, version {table.version()}"
        results.append(MaintenanceResult(uri, before, after, vacuumed, table.version(), time.monotonic() - started,
                                         version_before))
    return results
