"""The file-drop destination (``kind: files``) on any Hadoop file system (docs/exports.md, "File drops").

Layout ``run`` (default)::

    <root>/_LATEST                      -> "dt=<D>/run=<content id>" (the newest date's current run)
    <root>/dt=<D>/_LATEST               -> "run=<content id>"        (that date's current run)
    <root>/dt=<D>/run=<content id>/     data files, _manifest.json, then _SUCCESS

A run is written into a hidden folder ``dt=<D>/_tmp.run=<cid>.<attempt>/`` (Spark's output in
its ``_spark/`` sub-folder, then renamed to the template's names), read back and reconciled
(rows delivered == ``selection.rows_expected``, else nothing is published), described by
``_manifest.json``, renamed into place, marked by a non-empty ``_SUCCESS`` and only then pointed
at by the ``_LATEST`` files (replaced atomically). A crash at any step leaves no ``_SUCCESS``
for an incomplete run and ``_LATEST`` unchanged; the next delivery removes the leftovers.

Layout ``flat``: the files live directly in ``<root>`` under fixed names, each renamed over its
predecessor; ``_SUCCESS`` is removed first and written last (weaker: see the docs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tagfactory.errors import ExportError
from tagfactory.exports import csvfmt
from tagfactory.exports.contracts import DeliveredFile, Delivery, Selection, Status
from tagfactory.exports.hadoopfs import DropFs, java_message, normalize

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tagfactory.compiler.export_models import FilesDestination

Hooks = Callable[[str], None]
RUN_STEPS = ("write_data", "verify", "rename_files", "write_manifest", "move_into_place",
             "write_success", "update_latest")
FLAT_STEPS = ("write_data", "verify", "rename_files", "replace_files", "write_manifest", "write_success")
MANIFEST, SUCCESS, LATEST = "_manifest.json", "_SUCCESS", "_LATEST"
MANIFEST_VERSION = 1
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PART = re.compile(r"^part-(\d+)-.*?(?:-c(\d+))?\.")


def deliver_files(spark: SparkSession, selection: Selection, dest: FilesDestination, root_uri: str, *,
                  hooks: Hooks | None = None, now: Callable[[], dt.datetime] | None = None) -> Delivery:
    """Deliver ``selection`` (its staged Parquet) as a file drop under ``root_uri``.

    ``root_uri`` is ``settings.export_uri(dest.path)``. ``hooks(step)`` is called before each
    step of :data:`RUN_STEPS` / :data:`FLAT_STEPS` (tests crash there). A complete drop of the
    same content id is not rewritten (status ``unchanged``).

    Raises:
        ExportError: the drop cannot be written, or the rows read back do not reconcile with
            ``selection.rows_expected`` (nothing is published then).
    """
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    if not _SAFE_ID.match(selection.content_id):
        raise ExportError(f"content id {selection.content_id!r} cannot name a folder "
                          "(letters, digits, `.`, `_`, `-`; not starting with `.`, `_` or `-`)")
    if dest.format == "csv":
        csvfmt.check_options(dest.csv)
    drop = _Drop(spark, selection, dest, DropFs(spark, root_uri), hooks or (lambda step: None), clock)
    return drop.run() if dest.layout == "run" else drop.flat()


def remove_expired(spark: SparkSession, root_uri: str, retention_days: int, today: dt.date) -> list[str]:
    """Delete the ``dt=`` folders of a run-layout drop older than ``retention_days`` before ``today``.

    The folder ``_LATEST`` points at is always kept. Returns the names of the removed folders.
    """
    fs = DropFs(spark, root_uri)
    oldest = today - dt.timedelta(days=retention_days)
    pointed = (fs.read_text(f"{fs.root}/{LATEST}") or "").strip().split("/", 1)[0]
    removed = []
    for entry in fs.list(fs.root):
        date = _date_of(entry.name) if entry.is_dir else None
        if date is not None and date < oldest and entry.name != pointed:
            fs.delete(entry.uri)
            removed.append(entry.name)
    return removed


def file_names(dest: FilesDestination, selection: Selection, count: int) -> list[str]:
    """The names of ``count`` data files from ``dest.file_name`` (parts numbered from 0)."""
    ext = "parquet" if dest.format == "parquet" else "csv.gz" if dest.csv.compression == "gzip" else "csv"
    try:
        names = [dest.file_name.format(export=selection.export, dt=selection.snapshot_date, part=part,
                                       ext=ext, content_id=selection.content_id) for part in range(count)]
    except (ValueError, KeyError, IndexError) as exc:
        raise ExportError(f"file name template {dest.file_name!r} cannot be filled: {exc}") from exc
    bad = [n for n in names if not n or "/" in n or n.startswith(("_", "."))]
    if bad or len(set(names)) != len(names):
        raise ExportError(f"file name template {dest.file_name!r} gives unusable or repeated names "
                          f"({(bad or names)[0]!r}): names must be unique and not start with `_` or `.`")
    return names


class _Drop:
    """One delivery attempt."""

    def __init__(self, spark: SparkSession, selection: Selection, dest: FilesDestination, fs: DropFs,
                 hook: Hooks, clock: Callable[[], dt.datetime]) -> None:
        self.spark, self.sel, self.dest, self.fs, self.hook, self.clock = spark, selection, dest, fs, hook, clock
        self.started = clock()
        self.attempt = f"{self.started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"

    # -- layout run --------------------------------------------------------------------------
    def run(self) -> Delivery:
        fs, cid = self.fs, self.sel.content_id
        date_dir = f"{fs.root}/dt={self.sel.snapshot_date.isoformat()}"
        run_name = f"run={cid}"
        run_dir = f"{date_dir}/{run_name}"
        manifest = _complete(fs, run_dir)
        if manifest is not None:  # already delivered: at most the pointers need repair
            moved = self._point(date_dir, run_name)
            return self._delivery(run_dir, "delivered" if moved else "unchanged", manifest,
                                  {"latest": "repaired"} if moved else {})
        fs.mkdirs(date_dir)
        for entry in fs.list(date_dir):  # leftovers of failed attempts, incomplete runs
            if entry.is_dir and (entry.name.startswith("_tmp.") or
                                 (entry.name.startswith("run=") and _complete(fs, entry.uri) is None)):
                fs.delete(entry.uri)
        supersedes = _previous_run(fs, date_dir, cid)
        temp = f"{date_dir}/_tmp.{run_name}.{self.attempt}"
        files = self._write(temp)
        self.hook("write_manifest")
        manifest = self._manifest(files, supersedes, "run")
        body = _dump(manifest)
        fs.write_bytes(f"{temp}/{MANIFEST}", body)
        self.hook("move_into_place")
        fs.rename(temp, run_dir)
        self.hook("write_success")
        fs.write_bytes(f"{run_dir}/{SUCCESS}", _success(body, manifest))
        self.hook("update_latest")
        self._point(date_dir, run_name)
        return self._delivery(run_dir, "delivered", manifest, {"supersedes": supersedes or ""})

    def _point(self, date_dir: str, run_name: str) -> bool:
        """Point ``dt=<D>/_LATEST`` at the run, and ``<root>/_LATEST`` unless it names a later date."""
        fs, moved = self.fs, False
        date_name = date_dir.rsplit("/", 1)[1]
        if (fs.read_text(f"{date_dir}/{LATEST}") or "").strip() != run_name:
            fs.replace_bytes(f"{date_dir}/{LATEST}", f"{run_name}\n".encode(), f"_tmp.{LATEST}.{self.attempt}")
            moved = True
        current = (fs.read_text(f"{fs.root}/{LATEST}") or "").strip()
        target = f"{date_name}/{run_name}"
        current_date = _date_of(current.split("/", 1)[0])
        if current != target and (current_date is None or current_date <= self.sel.snapshot_date
                                  or _complete(fs, f"{fs.root}/{current}") is None):
            fs.replace_bytes(f"{fs.root}/{LATEST}", f"{target}\n".encode(), f"_tmp.{LATEST}.{self.attempt}")
            moved = True
        return moved

    # -- layout flat -------------------------------------------------------------------------
    def flat(self) -> Delivery:
        fs, root = self.fs, self.fs.root
        previous = _complete(fs, root)
        if previous is not None and previous.get("content_id") == self.sel.content_id \
                and previous.get("snapshot_date") == self.sel.snapshot_date.isoformat():
            return self._delivery(root, "unchanged", previous, {})
        fs.mkdirs(root)
        for entry in fs.list(root):
            if entry.is_dir and entry.name.startswith("_tmp."):
                fs.delete(entry.uri)
        old = _read_manifest(fs, root)
        temp = f"{root}/_tmp.flat.{self.attempt}"
        files = self._write(temp)
        self.hook("replace_files")
        fs.delete(f"{root}/{SUCCESS}", recursive=False)
        for file in files:
            fs.replace(f"{temp}/{file.name}", f"{root}/{file.name}")
        new_names = {f.name for f in files}
        for stale in (old or {}).get("files", []):
            if stale["name"] not in new_names:
                fs.delete(f"{root}/{stale['name']}", recursive=False)
        self.hook("write_manifest")
        supersedes = (old or {}).get("content_id")
        if supersedes == self.sel.content_id:  # an earlier attempt of this content got this far
            supersedes = (old or {}).get("supersedes")
        manifest = self._manifest(files, supersedes, "flat")
        body = _dump(manifest)
        fs.replace_bytes(f"{root}/{MANIFEST}", body, f"_tmp.{MANIFEST}.{self.attempt}")
        self.hook("write_success")
        fs.write_bytes(f"{root}/{SUCCESS}", _success(body, manifest), overwrite=True)
        fs.delete(temp)
        return self._delivery(root, "delivered", manifest, {"supersedes": supersedes or ""})

    # -- shared steps ------------------------------------------------------------------------
    def _write(self, temp: str) -> list[DeliveredFile]:
        """Write the data into ``temp`` under their final names, read back and reconciled.

        Spark writes the parts in parallel (CSV: without a header; Parquet: as many parts as
        files); the parts are read back and counted, then a CSV file is assembled from the header
        and consecutive parts (at most ``max_rows_per_file`` rows), a Parquet part renamed.
        """
        fs, dest = self.fs, self.dest
        self.hook("write_data")
        spark_out = f"{temp}/_spark"
        frame = self._frame()
        observation = None
        if dest.format == "csv":
            from pyspark.sql import Observation
            from pyspark.sql import functions as F

            observation = Observation()
            frame = frame.observe(observation, F.count(F.lit(1)).alias("rows"),
                                  F.sum(csvfmt.line_breaks(frame)).alias("breaks"))
        writer = frame.write.mode("errorifexists").option("maxRecordsPerFile", dest.max_rows_per_file)
        try:
            if dest.format == "csv":
                writer.options(**csvfmt.writer_options(dest.csv)).csv(spark_out)
            else:
                writer.parquet(spark_out)
        except Exception as exc:
            raise ExportError(f"cannot write the drop into {temp}: {java_message(exc)}") from exc
        parts = sorted((e for e in fs.list(spark_out) if _PART.match(e.name)), key=_part_order)
        breaks = int((observation.get.get("breaks") or 0) if observation is not None else 0)
        self.hook("verify")
        on_disk = {e.uri: e.length for e in fs.list(spark_out)}  # one listing: what the hook left
        try:
            rows = self._rows_read_back({p.uri: on_disk[p.uri] for p in parts if p.uri in on_disk}, breaks)
        except Exception as exc:  # a damaged file (checksum, truncated gzip ...)
            fs.delete(temp)
            raise ExportError(f"reconciliation failed for export {self.sel.export} ({self.sel.snapshot_date}): "
                              f"the files cannot be read back: {java_message(exc)}; nothing was published") from exc
        delivered = sum(rows.values())
        if delivered != self.sel.rows_expected or len(rows) != len(parts):
            fs.delete(temp)
            raise ExportError(
                f"reconciliation failed for export {self.sel.export} ({self.sel.snapshot_date}): "
                f"{delivered:,} rows read back from {len(rows)} of {len(parts)} "
                f"files, {self.sel.rows_expected:,} expected; nothing was published")
        self.hook("rename_files")
        groups = _groups(parts, rows, dest.max_rows_per_file, concatenate=dest.format == "csv")
        names = file_names(dest, self.sel, len(groups))
        for group, name in zip(groups, names, strict=True):
            head = csvfmt.head_bytes(frame.columns, dest.csv, empty=not group) if dest.format == "csv" else b""
            if head or len(group) != 1:
                fs.concat(f"{temp}/{name}", head, [p.uri for p in group])
            else:
                fs.rename(group[0].uri, f"{temp}/{name}")
        fs.delete(spark_out)
        counts = [sum(rows[p.uri] for p in group) for group in groups]
        return [DeliveredFile(n, c, fs.length(f"{temp}/{n}"), fs.sha256(f"{temp}/{n}"))
                for n, c in zip(names, counts, strict=True)]

    def _frame(self) -> DataFrame:
        """The staged rows, delivered columns in order (Parquet: in as many partitions as files)."""
        try:
            staged = self.spark.read.parquet(self.sel.staged_uri)
        except Exception as exc:
            raise ExportError(f"cannot read the staged selection {self.sel.staged_uri}: "
                              f"{java_message(exc)}; was the selection step run?") from exc
        wanted = [c.name for c in self.sel.columns]
        missing = sorted(set(wanted) - set(staged.columns))
        if missing:
            raise ExportError(f"the staged selection {self.sel.staged_uri} lacks columns {missing}")
        frame = staged.select(*[f"`{c}`" for c in wanted])
        files = max(1, math.ceil(self.sel.rows_expected / self.dest.max_rows_per_file))
        if self.dest.format == "csv":  # parts are concatenated: as parallel as the cluster is
            files = max(files, self.spark.sparkContext.defaultParallelism)
        if frame.rdd.getNumPartitions() > files:
            frame = frame.coalesce(files)  # keeps the staged order; maxRecordsPerFile caps each part
        return csvfmt.prepare(frame, self.dest.csv) if self.dest.format == "csv" else frame

    def _rows_read_back(self, lengths: dict[str, int], breaks: int) -> dict[str, int]:
        """Rows per part present (``lengths``: URI -> bytes): Parquet footers; CSV lines counted by
        Spark's text reader, or (when a value holds a line break) records parsed by Spark's CSV
        reader. Runs in parallel."""
        counts = dict.fromkeys(lengths, 0)
        present = [u for u, length in lengths.items() if length > 0]
        if self.dest.format == "parquet":
            counts.update({u: self.fs.parquet_rows(u) for u in present})
            return counts
        if not present:
            return counts
        from pyspark.sql import functions as F

        if breaks:
            frame = self.spark.read.options(**csvfmt.reader_options(self.dest.csv)).csv(present)
        else:  # no value holds a line break: one line is one row
            frame = self.spark.read.text(present)
        by_name = {u.rsplit("/", 1)[1]: u for u in present}
        for row in frame.groupBy(F.input_file_name().alias("f")).count().collect():
            counts[by_name[unquote(str(row["f"]).rsplit("/", 1)[1])]] = int(row["count"])
        return counts

    def _manifest(self, files: list[DeliveredFile], supersedes: str | None, layout: str) -> dict[str, Any]:
        sel, dest = self.sel, self.dest
        return {
            "manifest_version": MANIFEST_VERSION,
            "export": sel.export,
            "entity": sel.entity,
            "destination": dest.name,
            "layout": layout,
            "snapshot_date": sel.snapshot_date.isoformat(),
            "content_id": sel.content_id,
            "supersedes": supersedes,
            "source_versions": dict(sorted(sel.source_versions.items())),
            "manifest_digest": sel.manifest_digest,
            "lineage_run_id": sel.lineage_run_id,
            "hash_profiles": list(sel.hash_profiles),
            "format": dest.format,
            "csv": dest.csv.model_dump() if dest.format == "csv" else None,
            "schema": [{"name": c.name, "type": c.type, "pii": c.pii, "description": c.description}
                       for c in sel.columns],
            "rows": {"selected": sel.rows_selected, "suppressed": dict(sorted(sel.rows_suppressed.items())),
                     "delivered": sum(f.rows for f in files)},
            "files": [{"name": f.name, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256} for f in files],
            "attempt": self.attempt,
            "created_at": self.clock().isoformat(),
        }

    def _delivery(self, location: str, status: Status, manifest: dict[str, Any],
                  detail: dict[str, str]) -> Delivery:
        files = tuple(DeliveredFile(f["name"], f["rows"], f["bytes"], f["sha256"]) for f in manifest["files"])
        return Delivery(destination=self.dest.name, kind="files", location=location,
                        status=status,
                        rows_delivered=int(manifest["rows"]["delivered"]), started=self.started,
                        finished=self.clock(), files=files, detail=detail)


def _dump(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _success(body: bytes, manifest: dict[str, Any]) -> bytes:
    """``_SUCCESS``: the manifest's SHA-256 and the rows delivered (never empty)."""
    marker = {"manifest_sha256": hashlib.sha256(body).hexdigest(), "rows": manifest["rows"]["delivered"],
              "files": len(manifest["files"])}
    return (json.dumps(marker) + "\n").encode("utf-8")


def _read_manifest(fs: DropFs, folder: str) -> dict[str, Any] | None:
    body = fs.read_text(f"{folder}/{MANIFEST}")
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _complete(fs: DropFs, folder: str) -> dict[str, Any] | None:
    """The manifest of a complete drop in ``folder`` (``_SUCCESS`` matching the manifest), else None."""
    marker = fs.read_text(f"{folder}/{SUCCESS}")
    body = fs.read_bytes(f"{folder}/{MANIFEST}") if marker and fs.exists(f"{folder}/{MANIFEST}") else None
    if not marker or body is None:
        return None
    try:
        if json.loads(marker).get("manifest_sha256") != hashlib.sha256(body).hexdigest():
            return None
        manifest: dict[str, Any] = json.loads(body)
    except ValueError:
        return None
    return manifest


def _previous_run(fs: DropFs, date_dir: str, cid: str) -> str | None:
    """The content id of the date's current complete run (what a new run supersedes)."""
    pointed = (fs.read_text(f"{date_dir}/{LATEST}") or "").strip()
    if pointed.startswith("run=") and pointed != f"run={cid}" and _complete(fs, f"{date_dir}/{pointed}"):
        return pointed[len("run="):]
    runs = [(e.modified_ms, e.name) for e in fs.list(date_dir)
            if e.is_dir and e.name.startswith("run=") and e.name != f"run={cid}"
            and _complete(fs, e.uri) is not None]
    return max(runs)[1][len("run="):] if runs else None


def _groups(parts: list[Any], rows: dict[str, int], max_rows: int, *, concatenate: bool) -> list[list[Any]]:
    """Consecutive parts per data file, at most ``max_rows`` rows each; empty parts are left out
    (but a drop always has a file). Without ``concatenate`` (Parquet) every non-empty part is one file."""
    groups: list[list[Any]] = []
    size = 0
    for part in parts:
        n = rows[part.uri]
        if n == 0:
            continue
        if not groups or not concatenate or size + n > max_rows:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += n
    if not groups:  # no rows: one file (the header only; Parquet: Spark's empty part with the schema)
        groups.append(parts[:1] if not concatenate and parts else [])
    return groups


def _part_order(entry: Any) -> tuple[int, int]:
    match = _PART.match(entry.name)
    assert match is not None
    return int(match.group(1)), int(match.group(2) or 0)


def _date_of(name: str) -> dt.date | None:
    if not name.startswith("dt="):
        return None
    try:
        return dt.date.fromisoformat(name[3:])
    except ValueError:
        return None


__all__ = ["FLAT_STEPS", "RUN_STEPS", "deliver_files", "file_names", "normalize", "remove_expired"]
