"""Run exports for a snapshot date: select once, deliver to every destination, verify the receipts.

``tagfactory export --date D`` runs the three steps in one process; the DAG runs them as tasks
per export (``--step select``, ``--step deliver --destination NAME``, ``--step verify``), handing
the selection over in ``<warehouse>/_exports/<export>/dt=<D>/_selection.json``. A backfill is the
same command for an older date. See docs/exports.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Literal

from tagfactory.compiler.export_models import FilesDestination, HiveDestination, KafkaDestination
from tagfactory.compiler.manifest import Export, Manifest
from tagfactory.errors import ConfigError, ExportError
from tagfactory.exports import receipts
from tagfactory.exports.contracts import Delivery, Selection, selection_from_json, selection_to_json
from tagfactory.exports.registry import warn_idle
from tagfactory.exports.retired import clean_retired, needs_cleaning
from tagfactory.exports.select import STAGING, select
from tagfactory.pipeline.runtime import load_manifest, safe_run_id, start_job, stop_job
from tagfactory.progress import log, step
from tagfactory.settings import Settings, load_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.compiler.export_models import Destination
    from tagfactory.lakehouse.store import TableStore
    from tagfactory.lineage import LineageEmitter

Step = Literal["all", "select", "deliver", "verify", "clean"]
STEPS: tuple[Step, ...] = ("all", "select", "deliver", "verify")


def due_exports(manifest: Manifest, snapshot_date: dt.date, names: Sequence[str] | None = None) -> list[Export]:
    """Exports to run for the date: named ones (all when None) that are not retired and are due."""
    chosen = [manifest.export(n) for n in names] if names else list(manifest.exports)
    out = []
    for export in chosen:
        if export.lifecycle == "retired":
            log(f"export {export.name}: retired, nothing delivered (its outlets are cleaned after the retention "
                f"of {export.retention.days} days)")
        elif not export.schedule.due(snapshot_date):
            log(f"export {export.name}: not due on {snapshot_date} ({_schedule_text(export)})")
        else:
            out.append(export)
    return out


def run_exports(snapshot_date: dt.date, manifest_file: str | None = None, config: str | None = None,
                master: str | None = None, exports: Sequence[str] | None = None,
                destinations: Sequence[str] | None = None, run_id: str | None = None,
                step_name: Step = "all", lineage_parent_id: str | None = None,
                lineage_root_parent_id: str | None = None) -> int:
    """Run ``step_name`` of every due export for ``snapshot_date``; returns 0 or raises ExportError."""
    settings = load_settings(config)
    manifest = load_manifest(settings, manifest_file)
    chosen = [] if step_name == "clean" else due_exports(manifest, snapshot_date, exports)
    run_id = safe_run_id(run_id) if run_id else f"export_{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    retired = [x for x in ([manifest.export(n) for n in exports] if exports else manifest.exports)
               if x.lifecycle == "retired" and needs_cleaning(x)] if step_name in ("all", "deliver", "clean") else []
    if not chosen and not retired:
        return 0
    if step_name == "verify":
        print_summary(verify(settings, chosen, snapshot_date))
        warn_idle(settings, chosen, snapshot_date, run_id)
        return 0
    writes_hive = any(isinstance(d, HiveDestination) and (not destinations or d.name in destinations
                                                          or d.kind in destinations)
                      for x in chosen + retired for d in x.destinations) and step_name in ("all", "deliver", "clean")
    job = start_job(settings, master, "tagfactory-export", hive=writes_hive, lineage_parent_id=lineage_parent_id,
                    lineage_root_parent_id=lineage_root_parent_id)
    try:
        if writes_hive:
            from tagfactory.exports.catalog_tables import register_lakehouse_tables

            with step("registering the lakehouse tables in the metastore") as s:
                states = register_lakehouse_tables(job.spark, manifest, settings, database=settings.hive.database)
                s.detail = ", ".join(f"{n} {v}" for n, v in sorted(states.items()) if v != "unchanged") or "unchanged"
        for export in chosen:
            if step_name in ("all", "select"):
                selection = select_and_hand_off(job.spark, job.tables, settings, manifest, export, snapshot_date,
                                                emitter=job.emitter)
            else:
                selection = read_hand_off(job.spark, settings, export.name, snapshot_date)
            if step_name in ("all", "deliver"):
                deliver(job.spark, job.tables, settings, export, selection, run_id, destinations, emitter=job.emitter,
                        manifest=manifest)
        for export in retired:
            clean_retired(job.spark, settings, export, snapshot_date)
    finally:
        stop_job(job.spark, settings, master)
    if step_name == "all" and chosen:
        print_summary(verify(settings, chosen, snapshot_date))
        warn_idle(settings, chosen, snapshot_date, run_id)
    return 0


def hand_off_uri(settings: Settings, export: str, snapshot_date: dt.date) -> str:
    """The selection hand-off file of an export and date."""
    return settings.table_uri(f"{STAGING}/{export}/dt={snapshot_date.isoformat()}/_selection.json")


def select_and_hand_off(spark: SparkSession, tables: TableStore, settings: Settings, manifest: Manifest,
                        export: Export, snapshot_date: dt.date, *, emitter: LineageEmitter | None = None) -> Selection:
    """Select and stage the export's rows (the lineage run ``export.<export>.select``), and write the
    hand-off file (atomically)."""
    from tagfactory.exports.hadoopfs import DropFs
    from tagfactory.exports.lineage import select_with_lineage

    selection = select_with_lineage(emitter, settings, manifest, export, snapshot_date,
                                    partial(select, spark, tables, settings, manifest, export, snapshot_date))
    previous = [r for r in receipts.receipts(settings, export.name, snapshot_date)
                if r["status"] in ("delivered", "unchanged") and r["content_id"] != selection.content_id]
    if previous:
        selection = _with_supersedes(selection, str(previous[0]["content_id"]))
    uri = hand_off_uri(settings, export.name, snapshot_date)
    DropFs(spark, uri.rsplit("/", 1)[0]).replace_bytes(uri, selection_to_json(selection).encode(), "_selection.json.tmp")
    return selection


def read_hand_off(spark: SparkSession, settings: Settings, export: str, snapshot_date: dt.date) -> Selection:
    """The selection the select step handed off."""
    from tagfactory.exports.hadoopfs import DropFs

    uri = hand_off_uri(settings, export, snapshot_date)
    text = DropFs(spark, uri.rsplit("/", 1)[0]).read_text(uri)
    if text is None:
        raise ExportError(f"export {export}: no selection for {snapshot_date} at {uri}; run "
                          f"`tagfactory export --date {snapshot_date} --export {export} --step select` first")
    return selection_from_json(text)


def deliver(spark: SparkSession, tables: TableStore, settings: Settings, export: Export, selection: Selection,
            run_id: str, only: Sequence[str] | None = None, *, emitter: LineageEmitter | None = None,
            manifest: Manifest | None = None) -> list[Delivery]:
    """Ship the staged selection to each destination (``only``: names or kinds); receipts; reconcile.

    ``manifest``: gives the lineage inputs their registry schemas and the outputs their column lineage.
    """
    chosen = [d for d in export.destinations if not only or d.name in only or d.kind in only]
    if only and not chosen:
        raise ConfigError(f"export {export.name}: no destination named or of kind {', '.join(only)}; it has "
                          + ", ".join(f"{d.name} ({d.kind})" for d in export.destinations))
    from tagfactory.exports.lineage import ship_with_lineage

    done: list[Delivery] = []
    for dest in chosen:
        started = dt.datetime.now(dt.UTC)
        with step(f"delivering {export.name} to {dest.name} ({dest.kind})") as s:
            try:
                delivery = ship_with_lineage(emitter, settings, export, selection, dest, run_id,
                                             partial(_ship, spark, settings, export, dest=dest), manifest)
            except ExportError as exc:
                failed = Delivery(dest.name, dest.kind, "", "failed", 0, started, dt.datetime.now(dt.UTC),
                                  detail={"error": str(exc)})
                receipts.record(spark, tables, settings, [receipts.receipt_row(selection, failed, run_id, str(exc))])
                raise
            problem = receipts.reconcile(selection, delivery)
            receipts.record(spark, tables, settings, [receipts.receipt_row(selection, delivery, run_id, problem)])
            if problem:
                raise receipts.ReconciliationError(f"export {export.name}: reconciliation failed: {problem}")
            s.detail = f"{delivery.status}, {delivery.rows_delivered:,} rows -> {delivery.location}"
        done.append(delivery)
    return done


def _ship(spark: SparkSession, settings: Settings, export: Export, selection: Selection,
          dest: Destination) -> Delivery:
    from tagfactory.compiler.export_models import ExcelDestination

    if isinstance(dest, ExcelDestination):
        from tagfactory.exports.excel import ship_excel

        return ship_excel(spark, settings, export, selection, dest)
    if isinstance(dest, KafkaDestination):
        from tagfactory.exports.kafka import deliver_kafka

        return deliver_kafka(spark, selection, export, dest, settings.kafka)
    if isinstance(dest, FilesDestination):
        from tagfactory.exports.files import deliver_files, remove_expired

        root = settings.export_uri(dest.path)
        delivery = deliver_files(spark, selection, dest, root)
        if dest.layout == "run":
            removed = remove_expired(spark, root, export.retention.days, selection.snapshot_date)
            if removed:
                log(f"{dest.name}: removed {len(removed)} drops past the retention of {export.retention.days} days")
        return delivery
    from tagfactory.exports import hive

    delivery = hive.deliver_hive(spark, selection, dest, settings.hive.location_root,
                                 properties=hive.table_properties(export))
    removed = hive.remove_expired(spark, dest, settings.hive.location_root, export.retention.days,
                                  selection.snapshot_date)
    if removed:
        log(f"{dest.name}: dropped {len(removed)} partitions past the retention of {export.retention.days} days")
    return delivery


def summary(settings: Settings, snapshot_date: dt.date | None = None) -> list[dict[str, object]]:
    """The newest receipt of every export and destination (of ``snapshot_date``, else of any date)."""
    seen: set[tuple[str, str, str]] = set()
    rows: list[dict[str, object]] = []
    for r in receipts.receipts(settings, None, snapshot_date):
        key = (str(r["export"]), str(r["destination"]), str(r["dt"]))
        if key in seen:
            continue
        seen.add(key)
        rows.append({"export": r["export"], "destination": r["destination"], "kind": r["kind"], "dt": str(r["dt"]),
                     "rows": r["rows_delivered"], "suppressed": r["rows_suppressed"], "status": r["status"],
                     "where": r["location"]})
    return sorted(rows, key=lambda r: (str(r["dt"]), str(r["export"]), str(r["destination"])))


def verify(settings: Settings, exports: Sequence[Export], snapshot_date: dt.date) -> list[dict[str, object]]:
    """Every destination of every export has a reconciled receipt of the date's latest content.

    Raises:
        ReconciliationError: a destination has no such receipt.
    """
    rows: list[dict[str, object]] = []
    problems: list[str] = []
    for export in exports:
        found = receipts.receipts(settings, export.name, snapshot_date)
        for dest in export.destinations:
            mine = [r for r in found if r["destination"] == dest.name]
            latest = mine[0] if mine else None
            if latest is None or latest["status"] == "failed" or latest["rows_delivered"] != latest["rows_expected"]:
                problems.append(f"{export.name} -> {dest.name}: " + ("no receipt" if latest is None else
                                f"{latest['status']}: {latest['error'] or 'rows do not reconcile'}"))
            if latest is not None:
                rows.append({"export": export.name, "destination": dest.name, "kind": dest.kind,
                             "dt": snapshot_date.isoformat(), "rows": latest["rows_delivered"],
                             "suppressed": latest["rows_suppressed"], "status": latest["status"],
                             "where": latest["location"]})
    if problems:
        raise receipts.ReconciliationError("exports not delivered as selected: " + "; ".join(problems))
    return rows


def print_summary(rows: list[dict[str, object]]) -> None:
    """The delivery summary: export, destination, date, rows, status, where."""
    if not rows:
        return
    header = ("export", "destination", "kind", "dt", "rows", "suppressed", "status", "where")
    cells = [[f"{r[h]:,}" if isinstance(r[h], int) else str(r[h]) for h in header] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    log("deliveries:\n" + "\n".join(lines))


def _schedule_text(export: Export) -> str:
    sched = export.schedule
    return f"cron {sched.cron}" if sched.cron else f"weekly on {sched.weekday}" if sched.every == "week" else "daily"


def _with_supersedes(selection: Selection, content_id: str) -> Selection:
    from dataclasses import replace

    return replace(selection, supersedes=content_id)


def is_due(manifest_file: str, export: str, snapshot_date: str) -> bool:
    """Whether ``export`` of the manifest runs for ``snapshot_date`` (the DAG's short-circuit)."""
    from tagfactory.compiler.manifest import read_manifest

    found = read_manifest(manifest_file).export(export)
    due = found.lifecycle != "retired" and found.schedule.due(dt.date.fromisoformat(snapshot_date))
    log(f"export {export}: {'due' if due else 'not due'} on {snapshot_date} ({_schedule_text(found)})")
    return due
