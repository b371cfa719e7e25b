"""Staged runs across processes: manifests, audit verdicts, quarantine and its retention.

In the DAG, staging, auditing and publishing are separate Airflow tasks (separate Spark
applications), so a staged run must be found again by ``(table, run_id)``:

* ``<table>/_staging/<run_id>/_staged.json`` -- the staging record of :class:`StagedWrite` (files with
  their Delta statistics, schema, partition columns, rows, and the digest of the compiled manifest);
* ``<table>/_staging/<run_id>/_audit.json`` -- the audit verdict; publishing requires a passing
  verdict or a recorded override;
* ``<table>/_quarantine/<run_id>/`` -- where a run that failed its audit is moved, with its
  manifest and verdict, so nobody can publish it by accident and an engineer can inspect it.
  :func:`purge_quarantine` removes runs older than the retention period.

Folders starting with ``_`` are invisible to Delta readers, Spark and VACUUM.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tagfactory.errors import WarehouseError
from tagfactory.lakehouse.paths import HadoopFs, TableLocation
from tagfactory.lakehouse.stage import STAGING_DIR, StagedFile, StagedWrite

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

QUARANTINE_DIR = "_quarantine"
MANIFEST = "_staged.json"
VERDICT = "_audit.json"


class StagingError(WarehouseError, RuntimeError):
    """A staged run cannot be found or is not in the expected state."""


def run_folder(table_uri: str, run_id: str, *, quarantined: bool = False) -> str:
    """Where a staged (or quarantined) run lives."""
    return TableLocation.parse(table_uri).spark_child(f"{QUARANTINE_DIR if quarantined else STAGING_DIR}/{run_id}")


def save_manifest(staged: StagedWrite, *, manifest_digest: str | None = None) -> StagedWrite:
    """Write the staging record of a run next to its files; return the run carrying its digest.

    ``manifest_digest`` (default: the one ``staged`` carries) is the digest of the compiled manifest
    the run was staged from: the audit and publish steps refuse a run staged from another one
    (they compare :attr:`StagedWrite.manifest_digest`).
    """
    digest = manifest_digest if manifest_digest is not None else staged.manifest_digest
    fs = HadoopFs(staged.spark, staged.staging_uri)
    data = {
        "table_uri": staged.table_uri,
        "run_id": staged.run_id,
        "staging_uri": fs.qualify(staged.staging_uri),
        "files": [asdict(f) for f in staged.files],
        "schema": base64.b64encode(staged.schema.serialize().to_pybytes()).decode("ascii"),
        "partition_by": staged.partition_by,
        "rows": staged.rows,
        "saved_at": time.time(),
        "manifest_digest": digest,
    }
    fs.write_text(f"{staged.staging_uri.rstrip('/')}/{MANIFEST}", json.dumps(data))
    return replace(staged, manifest_digest=digest)


def load_staged(spark: SparkSession, table_uri: str, run_id: str, *, quarantined: bool = False) -> StagedWrite:
    """The staged run ``run_id`` of ``table_uri``, as :func:`save_manifest` left it.

    Raises:
        StagingError: no such run (it was published, discarded, or never staged).
    """
    folder = run_folder(table_uri, run_id, quarantined=quarantined)
    fs = HadoopFs(spark, folder)
    try:
        data = json.loads(fs.read_text(f"{folder}/{MANIFEST}"))
    except FileNotFoundError:
        where = "quarantine" if quarantined else "staging area"
        raise StagingError(f"no staged run `{run_id}` in the {where} of {table_uri} ({folder}); it was already "
                           "published or discarded, or the stage step did not finish") from None
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["schema"])))
    old_root = data["staging_uri"].rstrip("/")
    new_root = fs.qualify(folder).rstrip("/")
    files = [StagedFile(**{**f, "path": new_root + f["path"][len(old_root):]}) for f in data["files"]]
    digest = data.get("manifest_digest")
    return StagedWrite(table_uri=data["table_uri"], run_id=data["run_id"], staging_uri=new_root, files=files,
                       schema=schema, partition_by=list(data["partition_by"]), rows=int(data["rows"]), spark=spark,
                       manifest_digest=str(digest) if digest else None)


def staged_digest(staged: StagedWrite) -> str | None:
    """The manifest digest a staged run recorded (None for a run staged without one).

    The digest travels in the :class:`StagedWrite` (set by :func:`save_manifest`, read from the
    staging record by :func:`load_staged`); nothing is read here.
    """
    return staged.manifest_digest


def write_verdict(staged: StagedWrite, verdict: dict[str, Any]) -> None:
    """Record the audit verdict of a staged run."""
    HadoopFs(staged.spark, staged.staging_uri).write_text(
        f"{staged.staging_uri.rstrip('/')}/{VERDICT}", json.dumps(verdict, default=str))


def read_verdict(staged: StagedWrite) -> dict[str, Any] | None:
    """The audit verdict of a staged run, or None when it was not audited."""
    try:
        return dict(json.loads(HadoopFs(staged.spark, staged.staging_uri).read_text(
            f"{staged.staging_uri.rstrip('/')}/{VERDICT}")))
    except FileNotFoundError:
        return None


def quarantine(staged: StagedWrite) -> StagedWrite:
    """Move a staged run (files, manifest, verdict) to the quarantine; return it at its new place."""
    fs = HadoopFs(staged.spark, staged.staging_uri)
    target = run_folder(staged.table_uri, staged.run_id, quarantined=True)
    fs.delete(target)  # an older quarantined attempt with the same run id
    fs.rename(staged.staging_uri, target)
    new_root = fs.qualify(target).rstrip("/")
    old_root = fs.qualify(staged.staging_uri).rstrip("/")
    files = [replace(f, path=new_root + f.path[len(old_root):]) if f.path.startswith(old_root) else f
             for f in staged.files]
    moved = replace(staged, staging_uri=new_root, files=files)
    log.info("quarantined run %s of %s at %s", staged.run_id, staged.table_uri, new_root)
    return moved


def purge_quarantine(spark: SparkSession, table_uri: str, retention_days: float) -> list[str]:
    """Delete quarantined runs older than ``retention_days``; return what was deleted."""
    folder = TableLocation.parse(table_uri).spark_child(QUARANTINE_DIR)
    fs = HadoopFs(spark, folder)
    cutoff = (time.time() - retention_days * 86400) * 1000
    removed = []
    for entry in fs.list_dirs(folder):
        if entry.modification_time < cutoff:
            fs.delete(entry.uri)
            removed.append(entry.uri)
    return removed


def list_quarantined(spark: SparkSession, table_uri: str) -> list[str]:
    """Run ids in the quarantine of a table, oldest first."""
    folder = TableLocation.parse(table_uri).spark_child(QUARANTINE_DIR)
    entries = sorted(HadoopFs(spark, folder).list_dirs(folder), key=lambda e: e.modification_time)
    return [e.uri.rstrip("/").rsplit("/", 1)[-1] for e in entries]
