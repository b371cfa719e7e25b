"""The Excel destination (``kind: excel``): one workbook per export and date (docs/exports.md).

Layout under ``settings.export_uri(dest.path)`` (any Hadoop file system, through
:class:`~tagfactory.exports.hadoopfs.DropFs` like the file drops)::

    <root>/dt=<D>/<export>_<YYYYMMDD>.xlsx   the workbook (``file_name`` template)
    <root>/dt=<D>/_SUCCESS                   {"content_id", "file", "rows", "sheets", "bytes", "sha256"}

The workbook is written on the driver's local disk (:mod:`tagfactory.exports.workbook`, from the
staged Parquet in Arrow batches), its rows are counted back from the sheets' XML and reconciled
with the selection, then it is uploaded under a hidden name ``dt=<D>/_tmp.<name>.<attempt>`` and
renamed over the old workbook of the date (atomic on local disks and HDFS). ``_SUCCESS`` is
removed before and written after the rename. The same content id with a complete workbook is not
rewritten (``unchanged``). Dates older than the export's retention are removed like file drops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tagfactory.errors import ExportError
from tagfactory.exports.contracts import DeliveredFile, Delivery, Selection, Status
from tagfactory.exports.hadoopfs import DropFs
from tagfactory.exports.workbook import (
    AboutFacts,
    WrittenWorkbook,
    check_max_rows,
    count_rows,
    open_staged,
    write_workbook_file,
)
from tagfactory.exports.workbook_summary import SummarySeries

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.compiler.export_models import ExcelDestination
    from tagfactory.compiler.manifest import Export
    from tagfactory.settings import Settings

Hooks = Callable[[str], None]
EXCEL_STEPS = ("write_workbook", "verify", "upload", "move_into_place", "write_success")
SUCCESS = "_SUCCESS"


def ship_excel(spark: SparkSession, settings: Settings, export: Export, selection: Selection,
               dest: ExcelDestination) -> Delivery:
    """The export job's delivery to an Excel destination: Summary series, workbook, retention."""
    from tagfactory.exports.files import remove_expired
    from tagfactory.progress import log

    check_max_rows(export.name, dest.name, selection.rows_expected, dest.max_rows)  # before reading anything
    summary = None
    if dest.summary:
        from tagfactory.exports.excel_summary import read_summary
        from tagfactory.lakehouse.store import open_store

        summary = read_summary(open_store(settings, spark), settings, export, selection.snapshot_date)
    root = settings.export_uri(dest.path)
    delivery = deliver_excel(spark, selection, dest, root, about_facts(export, selection), summary)
    removed = remove_expired(spark, root, export.retention.days, selection.snapshot_date)
    if removed:
        log(f"{dest.name}: removed {len(removed)} workbooks past the retention of {export.retention.days} days")
    return delivery


def about_facts(export: Export, selection: Selection, now: dt.datetime | None = None) -> AboutFacts:
    """The About sheet's facts of an export's selection."""
    consumer = export.consumer
    return AboutFacts(
        export=export.name, display_name=export.display_name, description=export.description,
        purpose=export.purpose, owner=export.owner,
        consumer=f"{consumer.system} ({consumer.team}, {consumer.contact})",
        snapshot_date=selection.snapshot_date, content_id=selection.content_id,
        manifest_digest=selection.manifest_digest, source_versions=dict(selection.source_versions),
        rows_selected=selection.rows_selected, rows_suppressed=dict(selection.rows_suppressed),
        columns=selection.columns, created_at=now or dt.datetime.now(dt.UTC), supersedes=selection.supersedes)


def workbook_name(dest: ExcelDestination, selection: Selection) -> str:
    """The workbook's file name from ``dest.file_name``."""
    try:
        name = dest.file_name.format(export=selection.export, dt=selection.snapshot_date,
                                     content_id=selection.content_id)
    except (ValueError, KeyError, IndexError) as exc:
        raise ExportError(f"file name template {dest.file_name!r} cannot be filled: {exc}") from exc
    if not name.endswith(".xlsx") or "/" in name or name.startswith(("_", ".")):
        raise ExportError(f"file name template {dest.file_name!r} gives an unusable name {name!r}")
    return name


def deliver_excel(spark: SparkSession, selection: Selection, dest: ExcelDestination, root_uri: str,
                  about: AboutFacts, summary: SummarySeries | None, *, hooks: Hooks | None = None,
                  now: Callable[[], dt.datetime] | None = None) -> Delivery:
    """Write ``selection`` as the workbook of its date under ``root_uri``.

    ``hooks(step)`` is called before each step of :data:`EXCEL_STEPS`.

    Raises:
        ExportError: more rows than ``dest.max_rows``; a cell xlsxwriter refused; the rows counted
            back from the workbook differ from those written or expected (nothing is published).
    """
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    hook = hooks or (lambda step: None)
    started = clock()
    check_max_rows(selection.export, dest.name, selection.rows_expected, dest.max_rows)
    name = workbook_name(dest, selection)
    fs = DropFs(spark, root_uri)
    date_dir = f"{fs.root}/dt={selection.snapshot_date.isoformat()}"
    final, marker_uri = f"{date_dir}/{name}", f"{date_dir}/{SUCCESS}"
    marker = _marker(fs, marker_uri)
    if marker and marker.get("content_id") == selection.content_id and marker.get("file") == name \
            and fs.exists(final) and fs.length(final) == marker.get("bytes"):
        return _delivery(dest, final, "unchanged", marker, started, clock(), {})
    fs.mkdirs(date_dir)
    for entry in fs.list(date_dir):  # leftovers of failed attempts
        if entry.name.startswith("_tmp."):
            fs.delete(entry.uri)
    attempt = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tagfactory-excel-") as local:
        path = os.path.join(local, name)
        hook("write_workbook")
        staged = open_staged(selection.staged_uri, [c.name for c in selection.columns])
        written = write_workbook_file(path, staged, about, summary, sheet=dest.sheet, max_rows=dest.max_rows,
                                      destination=dest.name)
        hook("verify")
        _reconcile(selection, written, count_rows(path))
        size, digest = os.path.getsize(path), _sha256(path)
        temp = f"{date_dir}/_tmp.{name}.{attempt}"
        hook("upload")
        try:
            fs.upload(path, temp)
            if fs.length(temp) != size:
                raise ExportError(f"the upload of {name} to {temp} has {fs.length(temp):,} bytes, not {size:,}")
            hook("move_into_place")
            fs.delete(marker_uri, recursive=False)
            fs.replace(temp, final)
        except BaseException:
            fs.delete(temp, recursive=False)
            raise
    marker = {"content_id": selection.content_id, "supersedes": _previous(marker, selection.content_id),
              "file": name, "rows": written.total, "sheets": written.rows, "bytes": size, "sha256": digest,
              "snapshot_date": selection.snapshot_date.isoformat(), "created_at": clock().isoformat()}
    hook("write_success")
    fs.write_bytes(marker_uri, (json.dumps(marker, indent=1) + "\n").encode(), overwrite=True)
    return _delivery(dest, final, "delivered", marker, started, clock(), {"supersedes": marker["supersedes"] or ""})


def _reconcile(selection: Selection, written: WrittenWorkbook, counted: dict[str, int]) -> None:
    """Rows counted back per data sheet (minus the header) == rows written == rows expected."""
    back = {sheet: counted.get(sheet, 0) - 1 for sheet in written.rows}
    if back != written.rows or written.total != selection.rows_expected:
        raise ExportError(f"reconciliation failed for export {selection.export} ({selection.snapshot_date}): "
                          f"rows written {written.rows}, read back {back}, {selection.rows_expected:,} expected; "
                          "nothing was published")


def _previous(marker: dict[str, Any] | None, content_id: str) -> str | None:
    if not marker:
        return None
    if marker.get("content_id") == content_id:  # an earlier attempt of this content got this far
        return marker.get("supersedes")
    return marker.get("content_id")


def _marker(fs: DropFs, uri: str) -> dict[str, Any] | None:
    text = fs.read_text(uri)
    try:
        found = json.loads(text) if text else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _delivery(dest: ExcelDestination, location: str, status: Status, marker: dict[str, Any], started: dt.datetime,
              finished: dt.datetime, detail: dict[str, str]) -> Delivery:
    sheets = marker.get("sheets") or {}
    detail = {**detail, "sheets": ", ".join(f"{k}={v}" for k, v in sheets.items())}
    return Delivery(destination=dest.name, kind="excel", location=location, status=status,
                    rows_delivered=int(marker["rows"]), started=started, finished=finished,
                    files=(DeliveredFile(str(marker["file"]), int(marker["rows"]), int(marker["bytes"]),
                                         str(marker["sha256"])),), detail=detail)
