"""Publish Spark DataFrames as Delta tables, write-audit-publish style.

Two writers share the same staging and audit; they differ only in how a staged run is published
(``writer`` in the settings, see docs/jvm-components.md). With ``deltars`` (the default) Spark only
writes Parquet and delta-rs (the ``deltalake`` package) writes the Delta log; with ``native`` Delta
Lake on Spark writes the staged rows (:mod:`tagfactory.lakehouse.native`):

1. :func:`stage` -- Spark writes Parquet into ``<table>/_staging/<run_id>/dt=.../``. Delta readers
   ignore it (it is not in the log, and ``_``-folders are skipped by readers and VACUUM).
   An audit can read it with :func:`read_staged`.
2. :func:`commit` -- moves the files into ``<table>/dt=.../`` and commits them in one Delta
   transaction that replaces exactly the staged partitions (or appends). Only now do readers see
   the new data. :func:`discard` drops a staged run instead.

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
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable, Field
from deltalake import Schema as DeltaSchema
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    RemoveAction,
    create_table_with_add_actions,
)

from tagfactory.errors import PublishError, WarehouseError
from tagfactory.lakehouse import native
from tagfactory.lakehouse.paths import FileInfo, HadoopFs, TableLocation

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

Writer = Literal["deltars", "native"]
CommitMode = Literal["overwrite_partitions", "append"]

STAGING_DIR = "_staging"
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Delta Spark's default prefix length for string statistics.
STRING_STATS_PREFIX = 32
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NATIVE_ADVICE = native.NATIVE_ADVICE
# Field names of Delta's commitInfo action: delta-rs writes custom metadata as top-level commitInfo
# keys, and Delta Lake on Spark parses these fields with fixed types (a string `job` made DESCRIBE
# HISTORY fail with CANNOT_PARSE_JSON_FIELD), so commit metadata may not use them.
RESERVED_COMMIT_KEYS = frozenset({
    "version", "timestamp", "userId", "userName", "operation", "operationParameters", "job", "notebook",
    "clusterId", "readVersion", "isolationLevel", "isBlindAppend", "operationMetrics", "userMetadata", "tags",
    "engineInfo", "txnId", "inCommitTimestamp"})
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class DeltaIOError(WarehouseError, RuntimeError):
    """A Delta table could not be read or written; the message says what to do."""


class DeltaPublishError(DeltaIOError, PublishError):
    """Staging or committing data to a Delta table failed; the table is left unchanged."""


@dataclass(frozen=True)
class StagedFile:
    """One staged Parquet data file.

    Attributes:
        path: Absolute URI of the staged file (Hadoop spelling, e.g. ``file:/...``).
        size: Size in bytes.
        partition_values: Partition column -> value as Delta stores it (``None`` for null).
        num_records: Rows in the file, from its Parquet footer.
        stats_json: Delta statistics JSON (numRecords, nullCount, minValues, maxValues).
    """

    path: str
    size: int
    partition_values: dict[str, str | None]
    num_records: int
    stats_json: str


@dataclass(frozen=True)
class StagedWrite:
    """Data written by :func:`stage` and not yet visible in the Delta table.

    Attributes:
        table_uri: The target table, as given to :func:`stage`.
        run_id: Identifier of this run; names the staging folder and is recorded in history.
        staging_uri: Folder holding the staged files.
        files: The staged data files.
        schema: Arrow schema of the data, partition columns included, all fields nullable.
        partition_by: Partition columns.
        rows: Total rows over all files.
        spark: The session that staged the data; :func:`commit` moves files through it.
    """

    table_uri: str
    run_id: str
    staging_uri: str
    files: list[StagedFile]
    schema: pa.Schema
    partition_by: list[str]
    rows: int
    spark: SparkSession = field(repr=False, compare=False)


@dataclass(frozen=True)
class PublishResult:
    """Outcome of :func:`publish_partition`."""

    version: int
    rows: int
    files: int
    bytes: int
    seconds: float


# --------------------------------------------------------------------------------------- stage


def stage(
    spark: SparkSession,
    df: DataFrame,
    table_uri: str,
    *,
    partition_by: Sequence[str] = ("dt",),
    run_id: str | None = None,
    partition_values: Mapping[str, date | int | str] | None = None,
) -> StagedWrite:
    """Write ``df`` as Parquet into the table's staging area, invisible to Delta readers.

    Args:
        spark: Active session.
        df: Data to publish; must contain the partition columns, unless ``partition_values``
            gives them.
        table_uri: Table location (local path, ``file://``, ``hdfs://``, ``s3a://``, ...).
        partition_by: Partition columns, in folder order. Empty for an unpartitioned table.
        run_id: Staging folder name; a timestamped random id by default. Staging again with the
            same id replaces that run's staged files.
        partition_values: The single partition every row belongs to (column -> value, one per
            ``partition_by`` column, e.g. ``{"dt": date(2026, 11, 24)}`` for a daily snapshot);
            ``df`` then has no partition columns. The files are written straight into that
            partition's folder, which spares Spark's per-row partition routing (measured: ~30%
            of writing 8M narrow rows).

    Returns:
        The staged write, to audit and then :func:`commit` or :func:`discard`.

    Raises:
        DeltaPublishError: bad partition columns or run id, unsupported column types, or the
            Spark write failed.
    """
    location = TableLocation.parse(table_uri)
    run_id = run_id or new_run_id()
    _check_stage_args(df, table_uri, partition_by, run_id, partition_values)
    staging_uri = location.spark_child(f"{STAGING_DIR}/{run_id}")
    with _translated("Converting the DataFrame schema for", table_uri, "Cast unsupported columns."):
        if partition_values is None:
            schema = _arrow_schema(df.schema)
        else:
            from pyspark.sql import functions as F

            constants = [F.lit(partition_values[c]).alias(c) for c in partition_by]
            schema = _arrow_schema(df.select("*", *constants).schema)
    with _translated("Staging data for", table_uri, "The table is unchanged; fix and rerun."):
        # INT96, Spark's default timestamp encoding, is deprecated and carries no statistics.
        # Concurrent writers instead of sorting every row by the partition columns first: a
        # snapshot writes one dt, so the sort Spark plans otherwise is pure cost (it falls back to
        # sorting past 16 open partitions per task).
        with session_conf(spark, "spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS"), \
                session_conf(spark, "spark.sql.maxConcurrentOutputFileWriters", "16"):
            writer = (
                df.write.mode("overwrite")
                .option("partitionOverwriteMode", "static")
                .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
            )
            fs = HadoopFs(spark, staging_uri)
            if partition_values is None:
                writer.partitionBy(*partition_by).parquet(staging_uri)
            else:
                fs.delete(staging_uri)
                writer.parquet(_partition_folder(spark, staging_uri, partition_by, partition_values))
    with _translated("Reading the staged file footers of", table_uri, "Rerun the job."):
        root = fs.qualify(staging_uri)
        kinds: dict[str, str | None] = {}
        files = [
            _staged_file(fs, info, root, list(partition_by), kinds)
            for info in fs.list_files(staging_uri)
        ]
        if partition_values is not None:
            # an empty DataFrame written without partitionBy still leaves one schema-only file;
            # a partitioned write leaves none, and neither should this path
            for empty in [f for f in files if f.num_records == 0]:
                fs.delete(empty.path)
            files = [f for f in files if f.num_records > 0]
    staged = StagedWrite(
        table_uri=table_uri,
        run_id=run_id,
        staging_uri=staging_uri,
        files=files,
        schema=schema,
        partition_by=list(partition_by),
        rows=sum(f.num_records for f in files),
        spark=spark,
    )
    log.info("staged %d rows in %d files at %s", staged.rows, len(files), staging_uri)
    return staged


def new_run_id() -> str:
    """A sortable, unique run id such as ``20240501T020304Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def read_staged(staged: StagedWrite) -> DataFrame:
    """Read the staged (uncommitted) data, e.g. for a data-quality audit before :func:`commit`.

    Args:
        staged: Result of :func:`stage`.

    Returns:
        The staged rows with the staged schema; partition columns keep their types.
    """
    schema = _spark_schema(DeltaSchema.from_arrow(staged.schema))
    return _read_parquet(staged.spark, schema, staged.staging_uri, [f.path for f in staged.files])


def discard(staged: StagedWrite) -> None:
    """Delete a staged run that will not be committed (e.g. after a failed audit).

    Args:
        staged: Result of :func:`stage`.
    """
    HadoopFs(staged.spark, staged.staging_uri).delete(staged.staging_uri)
    log.info("discarded staged run %s of %s", staged.run_id, staged.table_uri)


def _check_stage_args(
    df: DataFrame,
    table_uri: str,
    partition_by: Sequence[str],
    run_id: str,
    partition_values: Mapping[str, date | int | str] | None,
) -> None:
    if not _RUN_ID.match(run_id):
        raise DeltaPublishError(
            f"Run id {run_id!r} for Delta table {table_uri} is not a plain folder name; "
            "use letters, digits, '_', '.' and '-'."
        )
    if partition_values is not None:
        if sorted(partition_values) != sorted(partition_by) or not partition_by:
            raise DeltaPublishError(
                f"partition_values {dict(partition_values)} for Delta table {table_uri} must give "
                f"exactly the partition columns {list(partition_by)}."
            )
        present = [c for c in partition_by if c in df.columns]
        if present:
            raise DeltaPublishError(
                f"Partition column(s) {present} are both in the DataFrame and in partition_values "
                f"for Delta table {table_uri}; drop them from the DataFrame."
            )
        bad = {c: v for c, v in partition_values.items() if not isinstance(v, date | int | str)
               or isinstance(v, bool | datetime)}
        if bad:
            raise DeltaPublishError(
                f"partition_values {bad} for Delta table {table_uri}: only dates, integers and "
                "strings can name a partition folder here; stage with the column in the DataFrame."
            )
        return
    missing = [c for c in partition_by if c not in df.columns]
    if missing:
        raise DeltaPublishError(
            f"Partition column(s) {missing} are not in the DataFrame for Delta table {table_uri} "
            f"(columns: {df.columns}); add them to the query or change partition_by."
        )


def _staged_file(
    fs: HadoopFs,
    info: FileInfo,
    root: str,
    partition_by: list[str],
    kinds: dict[str, str | None],
) -> StagedFile:
    relative = _relative(info.uri, root)
    num_records, stats = _footer_stats(fs, info.uri, kinds)
    return StagedFile(
        path=info.uri,
        size=info.size,
        partition_values=_partition_values(relative, partition_by),
        num_records=num_records,
        stats_json=stats,
    )


def _partition_folder(
    spark: SparkSession,
    staging_uri: str,
    partition_by: Sequence[str],
    partition_values: Mapping[str, date | int | str],
) -> str:
    """``staging_uri/col=value/...``, the folder Spark's ``partitionBy`` would write these rows to."""
    utils = spark.sparkContext._jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils  # type: ignore[union-attr]
    parts = []
    for c in partition_by:
        v = partition_values[c]
        parts.append(str(utils.getPartitionPathString(c, v.isoformat() if isinstance(v, date) else str(v))))
    return "/".join([staging_uri, *parts])


def _relative(uri: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    if not uri.startswith(prefix):
        raise DeltaPublishError(f"Staged file {uri} is not below the staging folder {root}.")
    return uri[len(prefix) :]


def _partition_values(relative: str, partition_by: list[str]) -> dict[str, str | None]:
    """Partition values from Spark's ``col=value/`` folders (values are %-escaped by Spark)."""
    folders = relative.split("/")[:-1]
    pairs = [folder.split("=", 1) for folder in folders]
    if [p[0] for p in pairs] != partition_by or any(len(p) != 2 for p in pairs):
        raise DeltaPublishError(
            f"Staged file {relative} does not sit in {partition_by} partition folders."
        )
    return {name: None if v == HIVE_NULL_PARTITION else unquote(v) for name, v in pairs}


# ------------------------------------------------------------------------------ Parquet footers


@dataclass
class _ColumnStats:
    """Statistics of one top-level column, accumulated over a file's row groups."""

    kind: str | None  # "int" | "float" | "date" | "string"; None: null counts only
    null_count: int | None = 0
    low: Any = None
    high: Any = None
    bounds_known: bool = True

    def add(self, stats: Any, rows: int) -> None:
        nulls: int | None = int(stats.getNumNulls())
        if nulls is not None and nulls < 0:  # parquet-mr reports -1 when the file has no count
            nulls = None
        self.null_count = (
            None if nulls is None or self.null_count is None else self.null_count + nulls
        )
        if self.kind is None:
            return
        if not stats.hasNonNullValue():
            # A chunk with values but without min/max leaves the bounds unknown.
            self.bounds_known &= nulls == rows
            return
        low = _stat_value(self.kind, stats.genericGetMin())
        high = _stat_value(self.kind, stats.genericGetMax())
        if low is None or high is None:
            self.bounds_known = False
            return
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)


def _stat_value(kind: str, raw: Any) -> Any:
    """A min/max from parquet-mr as a comparable Python value, or None if unusable."""
    if kind == "int":
        return int(raw)
    if kind == "float":
        value = float(raw)
        return value if math.isfinite(value) else None  # JSON has no NaN/Infinity
    if kind == "date":
        try:
            return date(1970, 1, 1) + timedelta(days=int(raw))
        except OverflowError:
            return None
    return str(raw.toStringUsingUTF8())


def _column_kind(primitive_type: Any) -> str | None:
    """Which Delta min/max we can derive from a Parquet column type (None: null counts only)."""
    physical = str(primitive_type.getPrimitiveTypeName().name())
    annotation = primitive_type.getLogicalTypeAnnotation()
    logical = None if annotation is None else str(annotation.toString())
    if physical in ("INT32", "INT64") and (
        logical is None or re.fullmatch(r"INTEGER\(\d+,true\)", logical)
    ):
        return "int"
    if physical == "INT32" and logical == "DATE":
        return "date"
    if physical in ("FLOAT", "DOUBLE") and logical is None:
        return "float"
    if physical == "BINARY" and logical == "STRING":
        return "string"
    return None  # booleans, decimals, timestamps, binary, nested


def _footer_stats(fs: HadoopFs, uri: str, kinds: dict[str, str | None]) -> tuple[int, str]:
    """Row count and Delta stats JSON of one Parquet file, from its footer only."""
    parquet = fs.jvm.org.apache.parquet.hadoop
    reader = parquet.ParquetFileReader.open(
        parquet.util.HadoopInputFile.fromPath(fs.path(uri), fs.conf)
    )
    try:
        blocks = list(reader.getFooter().getBlocks())
    finally:
        reader.close()
    num_records = 0
    columns: dict[str, _ColumnStats] = {}
    for block in blocks:
        rows = int(block.getRowCount())
        num_records += rows
        for chunk in block.getColumns():
            column_path = chunk.getPath()
            if column_path.size() != 1:
                continue  # nested field: Delta nests its stats; we leave them out
            name = str(column_path.toDotString())
            if name not in kinds:
                kinds[name] = _column_kind(chunk.getPrimitiveType())
            columns.setdefault(name, _ColumnStats(kinds[name])).add(chunk.getStatistics(), rows)
    return num_records, _stats_json(num_records, columns)


def _stats_json(num_records: int, columns: dict[str, _ColumnStats]) -> str:
    null_count = {n: c.null_count for n, c in columns.items() if c.null_count is not None}
    bounded = {n: c for n, c in columns.items() if c.bounds_known and c.low is not None}
    min_values = {n: _json_bound(c.low, is_max=False) for n, c in bounded.items()}
    max_values = {n: _json_bound(c.high, is_max=True) for n, c in bounded.items()}
    stats = {
        "numRecords": num_records,
        "minValues": min_values,
        "maxValues": {n: v for n, v in max_values.items() if v is not None},
        "nullCount": null_count,
    }
    return json.dumps(stats, separators=(",", ":"), allow_nan=False)


def _json_bound(value: Any, *, is_max: bool) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) > STRING_STATS_PREFIX:
        # A prefix is still a lower bound; it is not an upper bound, so the max is dropped.
        return None if is_max else value[:STRING_STATS_PREFIX]
    return value


# -------------------------------------------------------------------------------------- commit


def commit(
    staged: StagedWrite,
    *,
    mode: CommitMode = "overwrite_partitions",
    commit_metadata: dict[str, str] | None = None,
    storage_options: dict[str, str] | None = None,
    empty_partition: dict[str, str] | None = None,
    writer: Writer = "deltars",
) -> int:
    """Publish a staged write: move its files into the table and commit them to the Delta log.

    With ``writer="native"`` Delta Lake on Spark writes the staged rows instead (same modes and
    metadata, see :mod:`tagfactory.lakehouse.native`); the staged files are then deleted.

    ``overwrite_partitions`` replaces exactly the staged partitions (all of them in one commit;
    the whole table when it is unpartitioned) and leaves the others untouched, so re-running a
    date gives one copy of its rows. The table is created on first commit. See the module
    docstring for schema evolution.

    Args:
        staged: Result of :func:`stage`.
        mode: ``"overwrite_partitions"`` or ``"append"``.
        commit_metadata: Extra keys for the commit info (e.g. job name, snapshot date); the run id
            is recorded as ``run_id``.
        storage_options: delta-rs object store options (e.g. S3 credentials).
        empty_partition: When the run staged no rows, the partition (column -> value) it
            replaces with nothing, e.g. ``{"dt": "2026-11-24"}`` for a day without changes;
            without it an empty run is an error.
        writer: ``"deltars"`` or ``"native"``.

    Returns:
        The table version created by this commit.

    Raises:
        DeltaPublishError: nothing staged, incompatible schema or partitioning, or the commit
            failed. The table is then unchanged and the staged files stay in staging, so the
            commit can be retried or the run discarded.
    """
    clashing = sorted(RESERVED_COMMIT_KEYS & set(commit_metadata or {}))
    if clashing:
        raise DeltaPublishError(
            f"commit metadata keys {clashing} are fields of Delta's commitInfo; Delta Lake readers would fail "
            "on them (DESCRIBE HISTORY). Rename them (e.g. `job_name`).")
    location = TableLocation.parse(staged.table_uri)
    if not staged.files and empty_partition is None:
        raise DeltaPublishError(
            f"Run {staged.run_id} staged no rows for Delta table {staged.table_uri}: an empty "
            "DataFrame cannot say which partitions it replaces. Check the upstream data, then "
            "rerun or discard() the run."
        )
    if writer == "native":
        metadata = {"run_id": staged.run_id, **(commit_metadata or {})}
        with _translated(f"Committing run {staged.run_id} (writer='native') to", staged.table_uri,
                         f"Nothing was published; the staged files are still in {staged.staging_uri}. "
                         + _NATIVE_ADVICE):
            version = native.commit_staged(staged, mode=mode, commit_metadata=metadata,
                                           empty_partition=empty_partition, staged_df=read_staged(staged))
        log.info("committed run %s to %s as version %d (native)", staged.run_id, staged.table_uri, version)
        return version
    with _translated("Reading", staged.table_uri, "Check the table path."):
        table = _load_table(location, storage_options)
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
    relative = {f.path: _relative(f.path, staging_root) for f in staged.files}
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
            f"{_reason(exc)}. Nothing was published (the table {current}); the staged files are "
            f"back in {staged.staging_uri}: retry commit() or discard() the run."
        ) from exc
    try:
        fs.delete(staged.staging_uri)
    except Exception:  # the commit succeeded; an empty staging folder is harmless
        log.warning("could not delete the staging folder %s", staged.staging_uri)
    version = _committed_version(location, staged.run_id, storage_options)
    log.info("committed run %s to %s as version %d", staged.run_id, staged.table_uri, version)
    return version


def _load_table(
    location: TableLocation, storage_options: dict[str, str] | None
) -> DeltaTable | None:
    if not DeltaTable.is_deltatable(location.delta_uri, storage_options):
        return None
    return DeltaTable(location.delta_uri, storage_options=storage_options)


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
            f"{staged.table_uri} failed: {_reason(exc)}. Nothing was published; retry commit() "
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


# ------------------------------------------------------------------------------------- publish


def publish_partition(
    spark: SparkSession,
    df: DataFrame,
    table_uri: str,
    *,
    partition_by: Sequence[str] = ("dt",),
    run_id: str | None = None,
    mode: CommitMode = "overwrite_partitions",
    commit_metadata: dict[str, str] | None = None,
    writer: Writer = "deltars",
    storage_options: dict[str, str] | None = None,
) -> PublishResult:
    """Stage and commit ``df`` in one call (no audit in between).

    With ``writer="deltars"`` (default) this is :func:`stage` then :func:`commit`; if the commit
    fails the staged run is kept for inspection (see :class:`DeltaPublishError` message).

    ``writer="native"`` commits the staged rows with Delta Lake on Spark instead (``replaceWhere``
    over the staged partitions, ``mergeSchema``, ``commit_metadata`` as ``userMetadata``).

    Args:
        spark: Active session.
        df: Data to publish.
        table_uri: Table location.
        partition_by: Partition columns.
        run_id: Run id (names the staging folder, recorded in the commit); generated when None.
        mode: ``"overwrite_partitions"`` or ``"append"``.
        commit_metadata: Extra commit info keys (job name, snapshot date, ...).
        writer: ``"deltars"`` or ``"native"``.
        storage_options: delta-rs object store options (deltars only).

    Returns:
        Version, rows, files, bytes and wall-clock seconds of the publish.

    Raises:
        DeltaPublishError: see :func:`stage` and :func:`commit`.
    """
    started = time.monotonic()
    staged = stage(spark, df, table_uri, partition_by=partition_by, run_id=run_id)
    version = commit(
        staged, mode=mode, commit_metadata=commit_metadata, storage_options=storage_options, writer=writer
    )
    return PublishResult(
        version=version,
        rows=staged.rows,
        files=len(staged.files),
        bytes=sum(f.size for f in staged.files),
        seconds=time.monotonic() - started,
    )


# ---------------------------------------------------------------------------------------- read


def read_table(
    spark: SparkSession,
    table_uri: str,
    *,
    version: int | None = None,
    writer: Writer = "deltars",
    storage_options: dict[str, str] | None = None,
) -> DataFrame:
    """Read a Delta table (optionally an older version) as a Spark DataFrame.

    With ``writer="deltars"`` delta-rs resolves the live files and the schema, and Spark reads
    the Parquet files with that schema: partition columns keep their Delta types (``dt`` is a
    date) and files written before a column existed read it as null. ``writer="native"`` uses
    ``spark.read.format("delta")`` (Delta Lake on Spark). Both read tables of either writer.

    Args:
        spark: Active session.
        table_uri: Table location.
        version: Table version for time travel; latest when None.
        writer: ``"deltars"`` or ``"native"``.
        storage_options: delta-rs object store options.

    Returns:
        The table's rows, columns in table schema order (empty DataFrame for a table without
        files).

    Raises:
        DeltaIOError: no Delta table at ``table_uri`` or no such version.
    """
    location = TableLocation.parse(table_uri)
    if writer == "native":
        with _translated("Reading (writer='native')", table_uri, _NATIVE_ADVICE, DeltaIOError):
            return native.read(spark, table_uri, version)
    with _translated(
        "Reading",
        table_uri,
        "Check the path and version (see table_history()).",
        DeltaIOError,
    ):
        table = DeltaTable(location.delta_uri, version=version, storage_options=storage_options)
        schema = _spark_schema(table.schema())
        files = [location.spark_file_uri(uri) for uri in table.file_uris()]
    return _read_parquet(spark, schema, location.spark_uri, files)


def read_arrow(table: DeltaTable, columns: list[str] | None = None, filters: list[Any] | None = None) -> pa.Table:
    """The rows of a delta-rs ``table`` as Arrow (``filters`` in pyarrow's DNF tuples), for CLI reads.

    Scans without pyarrow's thread pool: delta-rs gives pyarrow a filesystem implemented in
    Python, and pyarrow's scan threads could outlive the interpreter and abort the process at exit
    ("terminate called without an active exception", delta-io/delta-rs#2184); `tagfactory
    show-audiences` printed its summary and then exited 134.
    """
    from pyarrow.parquet import filters_to_expression

    expression = filters_to_expression(filters) if filters else None
    return table.to_pyarrow_dataset().to_table(columns=columns, filter=expression, use_threads=False)


def table_version(uri: str, *, storage_options: dict[str, str] | None = None) -> int | None:
    """Current version of the Delta table at ``uri``, or None when there is no table."""
    table = _load_table(TableLocation.parse(uri), storage_options)
    return None if table is None else table.version()


def table_history(
    uri: str, *, limit: int | None = None, storage_options: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Commit infos of the Delta table at ``uri``, newest first ([] when there is no table).

    Each entry has ``version``, ``timestamp``, ``operation`` and the commit metadata
    (``run_id`` and whatever was passed as ``commit_metadata``), whichever writer made the commit:
    the native writer's ``userMetadata`` JSON is merged into the entry.
    """
    table = _load_table(TableLocation.parse(uri), storage_options)
    if table is None:
        return []
    entries = table.history(limit)
    for entry in entries:
        extra = native.user_metadata(entry.get("userMetadata"))
        if extra:
            entry.update({k: v for k, v in extra.items() if k not in entry})
    return entries


def _read_parquet(
    spark: SparkSession, schema: StructType, base_uri: str, files: list[str]
) -> DataFrame:
    if not files:
        return spark.createDataFrame([], schema)
    df = spark.read.schema(schema).option("basePath", base_uri).parquet(*files)
    # Spark moves partition columns last; keep the table's column order.
    return df.select(*[_quoted(name) for name in schema.fieldNames()])


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ------------------------------------------------------------------------------------- helpers


def _arrow_schema(spark_schema: StructType) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(spark_schema, timezone="UTC")
    return pa.schema([f.with_nullable(True) for f in arrow])


def _spark_schema(delta_schema: DeltaSchema) -> StructType:
    # Delta's schema JSON is Spark's StructType JSON, so this conversion is exact.
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(delta_schema.to_json()))


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set one SQL conf of ``spark`` for the duration of the block, then restore (or unset) it."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


@contextmanager
def _translated(
    action: str,
    table_uri: str,
    advice: str,
    error: type[DeltaIOError] = DeltaPublishError,
) -> Iterator[None]:
    """Turn library errors (py4j, Spark, delta-rs) into one readable error naming the table."""
    try:
        yield
    except DeltaIOError:
        raise
    except Exception as exc:
        raise error(f"{action} Delta table {table_uri} failed: {_reason(exc)}. {advice}") from exc


def _reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened, for an error message.

    Uses the Java exception rather than py4j's wrapper text, and joins delta-rs's cause chain
    (one cause per line, each marked with an arrow) with colons.
    """
    java = getattr(exc, "java_exception", None)
    text = _ANSI_ESCAPE.sub("", str(java.toString()) if java is not None else str(exc))
    lines = [line.strip().lstrip("\u21b3").strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if "\u21b3" not in text:
        lines = lines[:1]
    return (": ".join(lines) or type(exc).__name__)[:500].rstrip(".")
