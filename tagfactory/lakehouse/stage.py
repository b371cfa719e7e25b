"""Staging, the "write" of write-audit-publish: Spark writes Parquet the Delta table does not see yet.

:func:`stage` writes a DataFrame into ``<table>/_staging/<run_id>/dt=.../`` and returns a
:class:`StagedWrite` (files with their Delta statistics from the Parquet footers, schema,
partitions). Delta readers ignore the folder (it is not in the log, and ``_``-folders are skipped
by readers and VACUUM). An audit reads it with :func:`read_staged`; a
:class:`tagfactory.lakehouse.store.TableStore` then commits it, or :func:`discard` drops it.
Across processes a staged run is found again through its manifest (:mod:`tagfactory.lakehouse.staging`).

Both writers share this module; :func:`check_commit` is the part of publishing they share too.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

import pyarrow as pa
from deltalake import Schema as DeltaSchema

from tagfactory.lakehouse.errors import DeltaPublishError, translated
from tagfactory.lakehouse.footer import footer_stats
from tagfactory.lakehouse.paths import FileInfo, HadoopFs, TableLocation
from tagfactory.lakehouse.schemas import arrow_from_spark, quoted, spark_from_delta

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

CommitMode = Literal["overwrite_partitions", "append"]

STAGING_DIR = "_staging"
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Field names of Delta's commitInfo action: delta-rs writes custom metadata as top-level commitInfo
# keys, and Delta Lake on Spark parses these fields with fixed types, so commit metadata may not
# use them (docs/jvm-components.md, "What we found").
RESERVED_COMMIT_KEYS = frozenset({
    "version", "timestamp", "userId", "userName", "operation", "operationParameters", "job", "notebook",
    "clusterId", "readVersion", "isolationLevel", "isBlindAppend", "operationMetrics", "userMetadata", "tags",
    "engineInfo", "txnId", "inCommitTimestamp"})


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
        spark: The session that staged the data; the commit moves files through it.
        manifest_digest: Digest of the compiled manifest the run was staged from, once its staging
            record is saved (:func:`tagfactory.lakehouse.staging.save_manifest`) or loaded
            (:func:`~tagfactory.lakehouse.staging.load_staged`); None before, or for a run staged
            without one.
    """

    table_uri: str
    run_id: str
    staging_uri: str
    files: list[StagedFile]
    schema: pa.Schema
    partition_by: list[str]
    rows: int
    spark: SparkSession = field(repr=False, compare=False)
    manifest_digest: str | None = None


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
            partition's folder, which spares Spark's per-row partition routing.

    Returns:
        The staged write, to audit and then commit (:class:`~tagfactory.lakehouse.store.TableStore`) or
        :func:`discard`.

    Raises:
        DeltaPublishError: bad partition columns or run id, unsupported column types, or the
            Spark write failed.
    """
    from tagfactory.lakehouse.spark import session_conf

    location = TableLocation.parse(table_uri)
    run_id = run_id or new_run_id()
    _check_stage_args(df, table_uri, partition_by, run_id, partition_values)
    staging_uri = location.spark_child(f"{STAGING_DIR}/{run_id}")
    with translated("Converting the DataFrame schema for", table_uri, "Cast unsupported columns."):
        if partition_values is None:
            schema = arrow_from_spark(df.schema)
        else:
            from pyspark.sql import functions as F

            constants = [F.lit(partition_values[c]).alias(c) for c in partition_by]
            schema = arrow_from_spark(df.select("*", *constants).schema)
    with translated("Staging data for", table_uri, "The table is unchanged; fix and rerun."):
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
    with translated("Reading the staged file footers of", table_uri, "Rerun the job."):
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
    """Read the staged (uncommitted) data, e.g. for a data-quality audit before the commit.

    Args:
        staged: Result of :func:`stage`.

    Returns:
        The staged rows with the staged schema; partition columns keep their types.
    """
    schema = spark_from_delta(DeltaSchema.from_arrow(staged.schema))
    return read_parquet(staged.spark, schema, staged.staging_uri, [f.path for f in staged.files])


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
    relative = relative_path(info.uri, root)
    num_records, stats = footer_stats(fs, info.uri, kinds)
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



def _partition_values(relative: str, partition_by: list[str]) -> dict[str, str | None]:
    """Partition values from Spark's ``col=value/`` folders (values are %-escaped by Spark)."""
    folders = relative.split("/")[:-1]
    pairs = [folder.split("=", 1) for folder in folders]
    if [p[0] for p in pairs] != partition_by or any(len(p) != 2 for p in pairs):
        raise DeltaPublishError(
            f"Staged file {relative} does not sit in {partition_by} partition folders."
        )
    return {name: None if v == HIVE_NULL_PARTITION else unquote(v) for name, v in pairs}



def check_commit(
    staged: StagedWrite, commit_metadata: dict[str, str] | None, empty_partition: dict[str, str] | None
) -> None:
    """What every writer requires before publishing a staged run.

    Raises:
        DeltaPublishError: a commit metadata key is a field of Delta's commitInfo, or the run staged no
            rows and ``empty_partition`` does not say which partition it empties.
    """
    clashing = sorted(RESERVED_COMMIT_KEYS & set(commit_metadata or {}))
    if clashing:
        raise DeltaPublishError(
            f"commit metadata keys {clashing} are fields of Delta's commitInfo; Delta Lake readers would fail "
            "on them (DESCRIBE HISTORY). Rename them (e.g. `job_name`).")
    if not staged.files and empty_partition is None:
        raise DeltaPublishError(
            f"Run {staged.run_id} staged no rows for Delta table {staged.table_uri}: an empty "
            "DataFrame cannot say which partitions it replaces. Check the upstream data, then "
            "rerun or discard() the run."
        )


def relative_path(uri: str, root: str) -> str:
    """``uri`` relative to the folder ``root`` (both qualified URIs)."""
    prefix = root.rstrip("/") + "/"
    if not uri.startswith(prefix):
        raise DeltaPublishError(f"Staged file {uri} is not below the staging folder {root}.")
    return uri[len(prefix) :]


def read_parquet(spark: SparkSession, schema: StructType, base_uri: str, files: list[str]) -> DataFrame:
    """Read Parquet ``files`` below ``base_uri`` with ``schema``, columns in the schema's order."""
    if not files:
        return spark.createDataFrame([], schema)
    df = spark.read.schema(schema).option("basePath", base_uri).parquet(*files)
    # Spark moves partition columns last; keep the table's column order.
    return df.select(*[quoted(name) for name in schema.fieldNames()])
