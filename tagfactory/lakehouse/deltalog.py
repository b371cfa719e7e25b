"""The delta-rs writer: staged Parquet files moved into the table and committed to the Delta log.

Spark only writes Parquet (:mod:`tagfactory.lakehouse.stage`); :func:`commit` moves the staged
files into ``<table>/dt=.../`` and commits them with delta-rs (the ``deltalake`` package) in one
transaction that replaces exactly the staged partitions (or appends). Only now do readers see the
new data.

Schema evolution (what delta-rs 1.6.6 does, and what we add on top):

* ``create_write_transaction(mode="overwrite", schema=S)`` writes a ``metaData`` action whenever S
  differs from the table schema, in the same commit. It *replaces* the schema: columns missing
  from S would be dropped from the table. So :func:`commit` always passes the merged schema: the
  table's columns in their order, then new columns (nullable). Old files lack the new columns and
  read back as null.
* A column missing from the new data stays in the table (nullable) and reads as null for the new
  partitions, as Delta's ``mergeSchema`` does. Dropping a tag column is a deliberate migration,
  not a side effect of one run's DataFrame.
* A column whose type changed, or whose name differs only in case, fails the commit.
* ``mode="append"`` ignores a changed schema in delta-rs 1.6.6 (new columns would be silently
  hidden), so appends with new columns first run ``TableAlterer.add_columns``: two commits.

All Delta columns are nullable: NOT NULL is a data-quality rule for the audit, not a storage
constraint that would make a later run fail to commit.

:func:`compact_and_vacuum` is this writer's table maintenance (no Spark job).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from deltalake import DeltaTable, Field
from deltalake import Schema as DeltaSchema
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    RemoveAction,
    create_table_with_add_actions,
)

from tagfactory.lakehouse.errors import DeltaPublishError, reason, translated
from tagfactory.lakehouse.paths import HadoopFs, TableLocation
from tagfactory.lakehouse.reads import load_table
from tagfactory.lakehouse.stage import CommitMode, StagedWrite, check_commit, relative_path

log = logging.getLogger(__name__)


def commit(
    staged: StagedWrite,
    *,
    mode: CommitMode = "overwrite_partitions",
    commit_metadata: dict[str, str] | None = None,
    storage_options: dict[str, str] | None = None,
    empty_partition: dict[str, str] | None = None,
) -> int:
    """Publish a staged write: move its files into the table and commit them to the Delta log.

    ``overwrite_partitions`` replaces exactly the staged partitions (all of them in one commit;
    the whole table when it is unpartitioned) and leaves the others untouched, so re-running a
    date gives one copy of its rows. The table is created on first commit. See the module
    docstring for schema evolution.

    Args:
        staged: Result of :func:`tagfactory.lakehouse.stage.stage`.
        mode: ``"overwrite_partitions"`` or ``"append"``.
        commit_metadata: Extra keys for the commit info (e.g. job name, snapshot date); the run id
            is recorded as ``run_id``.
        storage_options: delta-rs object store options (e.g. S3 credentials).
        empty_partition: When the run staged no rows, the partition (column -> value) it
            replaces with nothing, e.g. ``{"dt": "2026-11-24"}`` for a day without changes;
            without it an empty run is an error.

    Returns:
        The table version created by this commit.

    Raises:
        DeltaPublishError: nothing staged, incompatible schema or partitioning, or the commit
            failed. The table is then unchanged and the staged files stay in staging, so the
            commit can be retried or the run discarded.
    """
    check_commit(staged, commit_metadata, empty_partition)
    location = TableLocation.parse(staged.table_uri)
    with translated("Reading", staged.table_uri, "Check the table path."):
        table = load_table(location, storage_options)
    schema, added = _target_schema(table, staged)
    log_write = _LogWrite(
        location=location,
        schema=schema,
        added=added,
        partition_by=staged.partition_by,
        mode=mode,
        partition_filter=(
            _replace_filter(staged) if staged.files else
            [(c, "=", str(empty_partition[c])) for c in staged.partition_by] if empty_partition else None
        ) if mode == "overwrite_partitions" else None,
        properties=CommitProperties(
            custom_metadata={"run_id": staged.run_id, **(commit_metadata or {})}
        ),
        storage_options=storage_options,
    )
    fs = HadoopFs(staged.spark, location.spark_uri)
    staging_root = fs.qualify(staged.staging_uri)
    relative = {f.path: relative_path(f.path, staging_root) for f in staged.files}
    moves = _move_into_table(fs, staged, location, relative)
    now_ms = int(time.time() * 1000)
    adds = [
        AddAction(relative[f.path], f.size, f.partition_values, now_ms, True, f.stats_json)
        for f in staged.files
    ]
    try:
        log_write.apply(table, adds)
    except Exception as exc:
        _move_back(fs, moves)
        current = (
            "does not exist yet" if table is None else f"is still at version {table.version()}"
        )
        raise DeltaPublishError(
            f"Committing run {staged.run_id} to Delta table {staged.table_uri} failed: "
            f"{reason(exc)}. Nothing was published (the table {current}); the staged files are "
            f"back in {staged.staging_uri}: retry commit() or discard() the run."
        ) from exc
    try:
        fs.delete(staged.staging_uri)
    except Exception:  # the commit succeeded; an empty staging folder is harmless
        log.warning("could not delete the staging folder %s", staged.staging_uri)
    version = _committed_version(location, staged.run_id, storage_options)
    log.info("committed run %s to %s as version %d", staged.run_id, staged.table_uri, version)
    return version


def _target_schema(
    table: DeltaTable | None, staged: StagedWrite
) -> tuple[DeltaSchema, list[dict[str, Any]]]:
    """Schema to commit, and the columns it adds to the table's schema."""
    staged_json = json.loads(DeltaSchema.from_arrow(staged.schema).to_json())
    if table is None:
        return DeltaSchema.from_json(json.dumps(staged_json)), []
    table_partitions = list(table.metadata().partition_columns)
    if table_partitions != staged.partition_by:
        raise DeltaPublishError(
            f"Delta table {staged.table_uri} is partitioned by {table_partitions}, but run "
            f"{staged.run_id} staged partitions {staged.partition_by}; stage with the table's "
            "partitioning."
        )
    merged, added = merge_schemas(
        json.loads(table.schema().to_json()), staged_json, staged.table_uri
    )
    return DeltaSchema.from_json(json.dumps(merged)), added


def merge_schemas(
    table: dict[str, Any], new: dict[str, Any], table_uri: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Merge a new Delta schema (JSON form) into the table's, Delta ``mergeSchema`` style.

    Args:
        table: The table's schema as Delta schema JSON (``{"type": "struct", "fields": [...]}``).
        new: The incoming data's schema in the same form.
        table_uri: Named in error messages.

    Returns:
        The merged schema (table columns in order, then new columns, nullable) and the new
        columns' fields.

    Raises:
        DeltaPublishError: a column changed type, differs only in letter case, or is a NOT NULL
            table column that the new data lacks.
    """
    by_name = {f["name"].lower(): f for f in table["fields"]}
    added = []
    for new_field in new["fields"]:
        existing = by_name.get(new_field["name"].lower())
        if existing is None:
            added.append({**new_field, "nullable": True})
        elif existing["name"] != new_field["name"]:
            raise DeltaPublishError(
                f"Column {new_field['name']!r} differs only in letter case from column "
                f"{existing['name']!r} of Delta table {table_uri}; use the table's spelling."
            )
        elif _shape(existing["type"]) != _shape(new_field["type"]):
            raise DeltaPublishError(
                f"Column {new_field['name']!r} of Delta table {table_uri} has type "
                f"{json.dumps(existing['type'])}, the new data has {json.dumps(new_field['type'])}; "
                "cast it in the query, or migrate the table (rename the column) deliberately."
            )
    new_names = {f["name"].lower() for f in new["fields"]}
    for old in table["fields"]:
        if old["name"].lower() not in new_names and not old.get("nullable", True):
            raise DeltaPublishError(
                f"Column {old['name']!r} of Delta table {table_uri} is NOT NULL but missing from "
                "the new data; add it to the query."
            )
    return {"type": "struct", "fields": [*table["fields"], *added]}, added


def _shape(data_type: Any) -> Any:
    """A Delta type JSON without nullability and metadata, for comparing types."""
    if isinstance(data_type, dict):
        ignored = {"nullable", "containsNull", "valueContainsNull", "metadata"}
        return {k: _shape(v) for k, v in data_type.items() if k not in ignored}
    if isinstance(data_type, list):
        return [_shape(v) for v in data_type]
    return data_type


def _move_into_table(
    fs: HadoopFs, staged: StagedWrite, location: TableLocation, relative: dict[str, str]
) -> list[tuple[str, str]]:
    """Rename staged files into their partition folders; returns (staged, table) URI pairs."""
    moves: list[tuple[str, str]] = []
    try:
        for staged_file in staged.files:
            target = location.spark_child(relative[staged_file.path])
            fs.rename(staged_file.path, target)
            moves.append((staged_file.path, target))
    except Exception as exc:
        _move_back(fs, moves)
        raise DeltaPublishError(
            f"Moving the staged files of run {staged.run_id} into Delta table "
            f"{staged.table_uri} failed: {reason(exc)}. Nothing was published; retry commit() "
            "or discard() the run."
        ) from exc
    return moves


def _move_back(fs: HadoopFs, moves: list[tuple[str, str]]) -> None:
    for staged_path, table_path in moves:
        try:
            fs.rename(table_path, staged_path)
        except (
            Exception
        ):  # best effort: unreferenced files are invisible; VACUUM (full) removes them
            log.warning("could not move %s back to %s", table_path, staged_path)


@dataclass(frozen=True)
class _LogWrite:
    """One Delta log commit, fully prepared (and validated) before any file moves."""

    location: TableLocation
    schema: DeltaSchema
    added: list[dict[str, Any]]
    partition_by: list[str]
    mode: CommitMode
    partition_filter: list[tuple[str, str, Any]] | None
    properties: CommitProperties
    storage_options: dict[str, str] | None

    def apply(self, table: DeltaTable | None, adds: list[AddAction]) -> None:
        """Write the commit: create the table, append, or replace the staged partitions."""
        if table is None:
            create_table_with_add_actions(
                self.location.delta_uri,
                self.schema,
                adds,
                mode="error",
                partition_by=self.partition_by,
                storage_options=self.storage_options,
                commit_properties=self.properties,
            )
            return
        actions: list[AddAction | RemoveAction] = list(adds)
        if self.mode == "append":
            if self.added:
                # delta-rs 1.6.6 ignores a new schema on append: add the columns first.
                table.alter.add_columns(
                    _delta_fields(self.added), commit_properties=self.properties
                )
            table.create_write_transaction(
                actions, "append", self.schema, self.partition_by, commit_properties=self.properties
            )
        else:
            table.create_write_transaction(
                actions,
                "overwrite",
                self.schema,
                self.partition_by,
                self.partition_filter,
                commit_properties=self.properties,
            )


def _delta_fields(fields: list[dict[str, Any]]) -> list[Field]:
    return list(DeltaSchema.from_json(json.dumps({"type": "struct", "fields": fields})).fields)


def _replace_filter(staged: StagedWrite) -> list[tuple[str, str, Any]] | None:
    """delta-rs partition filter matching exactly the staged partitions.

    delta-rs takes one conjunction of ``(column, op, value)`` filters, so several partitions
    are expressed with ``in`` per column; that is exact only when the staged partitions are
    all combinations of those values (always true for a single partition column).
    None (no partition columns) replaces the whole table.
    """
    if not staged.partition_by:
        return None
    # delta-rs matches a null partition value with ''.
    partitions = {
        tuple(f.partition_values[c] or "" for c in staged.partition_by) for f in staged.files
    }
    values = [sorted({p[i] for p in partitions}) for i in range(len(staged.partition_by))]
    if len(partitions) != math.prod(len(v) for v in values):
        raise DeltaPublishError(
            f"Run {staged.run_id} staged {len(partitions)} partitions of Delta table "
            f"{staged.table_uri} that are not a full grid of {staged.partition_by} values, which "
            "one delta-rs overwrite cannot replace exactly; publish them in separate runs."
        )
    return [
        (c, "=", v[0]) if len(v) == 1 else (c, "in", v)
        for c, v in zip(staged.partition_by, values, strict=True)
    ]


def _committed_version(
    location: TableLocation, run_id: str, storage_options: dict[str, str] | None
) -> int:
    table = DeltaTable(location.delta_uri, storage_options=storage_options)
    # Look the commit up by run id: another writer may have committed right after us.
    for entry in table.history(limit=20):
        if entry.get("run_id") == run_id:
            return int(entry["version"])
    return table.version()



def compact_and_vacuum(uri: str, retention_days: float, target_file_mb: int,
                       storage_options: dict[str, str] | None = None) -> int:
    """Compact the table's small files, then vacuum files removed longer ago than the retention;
    returns the number of files vacuumed."""
    location = TableLocation.parse(uri)
    table = DeltaTable(location.delta_uri, storage_options=storage_options)
    table.optimize.compact(target_size=target_file_mb * 2**20)
    removed = DeltaTable(location.delta_uri, storage_options=storage_options).vacuum(
        retention_hours=int(retention_days * 24), dry_run=False, enforce_retention_duration=False)
    return len(removed)
