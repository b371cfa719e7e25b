"""The native Delta Lake writer: Spark's ``format("delta")`` with the Delta Lake jars.

Write-audit-publish is the same for both writers: Spark stages Parquet files in
``<table>/_staging/<run_id>/`` (:func:`tagfactory.lakehouse.stage.stage`), the audit reads them, and
only the publish differs. Here the publish reads the staged files and writes them with Delta Lake's
own writer in one transaction: ``replaceWhere`` over exactly the staged partitions (or ``append``),
``mergeSchema`` for new tag columns, the commit metadata as Delta's ``userMetadata`` (JSON). Delta
writes its own data files and statistics; the staged files are deleted after the commit. A failed
write commits nothing (Delta's optimistic transaction) and leaves the staged run for a retry.

The cost over the delta-rs writer is that the staged rows are written a second time; the
measurement that chose the default writer is in docs/jvm-components.md. Table maintenance is
Delta's ``OPTIMIZE`` and ``VACUUM`` (:func:`compact_and_vacuum`).

Only the standard library is imported at module level: :mod:`tagfactory.lakehouse.reads` uses
:func:`user_metadata` without Spark.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from tagfactory.lakehouse.paths import HadoopFs, TableLocation

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tagfactory.lakehouse.stage import CommitMode, StagedWrite

log = logging.getLogger(__name__)

NATIVE_ADVICE = (
    "writer='native' needs the Delta Lake jars (.jars/spark from `make jars`, or --jars on a cluster) and "
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension; without them use writer='deltars'."
)


def commit(
    staged: StagedWrite,
    *,
    mode: CommitMode = "overwrite_partitions",
    commit_metadata: dict[str, str] | None = None,
    empty_partition: dict[str, str] | None = None,
) -> int:
    """Publish a staged run with Spark's Delta writer; returns the new table version.

    Same modes and metadata as :func:`tagfactory.lakehouse.deltalog.commit`; the staged files are
    deleted after the commit.

    Args:
        staged: The staged run.
        mode: ``"overwrite_partitions"`` (replace exactly the staged partitions) or ``"append"``.
        commit_metadata: Extra keys, recorded with ``run_id`` as the commit's ``userMetadata`` JSON.
        empty_partition: For a run without rows, the partition it replaces with nothing.

    Raises:
        DeltaPublishError: see :func:`tagfactory.lakehouse.stage.check_commit`, or the write failed;
            nothing was published and the staged files stay for a retry.
    """
    from tagfactory.lakehouse.errors import translated
    from tagfactory.lakehouse.stage import check_commit, read_staged

    check_commit(staged, commit_metadata, empty_partition)
    metadata = {"run_id": staged.run_id, **(commit_metadata or {})}
    with translated(f"Committing run {staged.run_id} (writer='native') to", staged.table_uri,
                    f"Nothing was published; the staged files are still in {staged.staging_uri}. "
                    + NATIVE_ADVICE):
        version = _write_staged(staged, mode=mode, commit_metadata=metadata,
                                empty_partition=empty_partition, staged_df=read_staged(staged))
    log.info("committed run %s to %s as version %d (native)", staged.run_id, staged.table_uri, version)
    return version


def _write_staged(
    staged: StagedWrite,
    *,
    mode: CommitMode,
    commit_metadata: dict[str, str],
    empty_partition: dict[str, str] | None,
    staged_df: DataFrame,
) -> int:
    from tagfactory.lakehouse.spark import session_conf

    spark = staged.spark
    uri = TableLocation.parse(staged.table_uri).spark_uri
    writer = staged_df.write.format("delta").option("mergeSchema", "true") \
        .option("userMetadata", json.dumps(commit_metadata, sort_keys=True))
    if staged.partition_by:
        writer = writer.partitionBy(*staged.partition_by)
    if mode == "append":
        writer = writer.mode("append")
    elif staged.partition_by:
        partitions = {tuple(f.partition_values[c] for c in staged.partition_by) for f in staged.files}
        if not partitions and empty_partition is not None:
            partitions = {tuple(empty_partition[c] for c in staged.partition_by)}
        writer = writer.mode("overwrite").option("replaceWhere", replace_where(staged.partition_by, partitions))
    else:
        writer = writer.mode("overwrite")
    with session_conf(spark, "spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS"):
        writer.save(uri)
    HadoopFs(spark, staged.staging_uri).delete(staged.staging_uri)
    return committed_version(spark, uri, staged.run_id)


def replace_where(partition_by: list[str], partitions: set[tuple[str | None, ...]]) -> str:
    """SQL predicate matching exactly ``partitions`` (tuples of Delta partition value strings).

    Values are compared as strings (``CAST(col AS STRING)``): that is how Delta stores partition
    values, so a ``date`` or ``int`` partition column matches its folder value exactly.
    """
    terms = []
    for values in sorted(partitions, key=lambda p: tuple("" if v is None else v for v in p)):
        terms.append(" AND ".join(_equals(c, v) for c, v in zip(partition_by, values, strict=True)))
    return " OR ".join(f"({t})" for t in terms) or "false"


def _equals(column: str, value: str | None) -> str:
    from tagfactory.lakehouse.schemas import quoted

    name = quoted(column)
    if value is None:
        return f"{name} IS NULL"
    text = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"CAST({name} AS STRING) = '{text}'"


def committed_version(spark: SparkSession, uri: str, run_id: str) -> int:
    """The version of the commit whose ``userMetadata`` names ``run_id`` (latest as a fallback)."""
    from delta.tables import DeltaTable as SparkDeltaTable

    rows = SparkDeltaTable.forPath(spark, uri).history(20).select("version", "userMetadata").collect()
    for row in rows:
        if (user_metadata(row["userMetadata"]) or {}).get("run_id") == run_id:
            return int(row["version"])
    return int(rows[0]["version"])


def user_metadata(text: str | None) -> dict[str, Any] | None:
    """Delta's ``userMetadata`` string as a dict when it is a JSON object (as this writer stores it)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read(spark: SparkSession, table_uri: str, version: int | None = None) -> DataFrame:
    """Read a Delta table (optionally at ``version``) with Delta Lake on Spark.

    Raises:
        DeltaIOError: no Delta table there, no such version, or no Delta Lake jars.
    """
    from tagfactory.lakehouse.errors import DeltaIOError, translated

    with translated("Reading (writer='native')", table_uri, NATIVE_ADVICE, DeltaIOError):
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(TableLocation.parse(table_uri).spark_uri)


#: The number of tasks Delta's VACUUM lists the table's folders with (Spark's default: 10,000).
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def listing_parallelism(spark: SparkSession) -> str:
    """Tasks for VACUUM's file listing: the session's own setting if it has one, else 2 per core.

    Spark's default of 10,000 made VACUUM of a 40-row table take 100-180 s on 2 cores (10,000 tiny
    listing tasks; 10 s with 4); two tasks per core of the cluster keep every core busy on a big table.
    """
    explicit = spark.conf.get(LISTING_PARALLELISM, None)  # None unless set (Spark's default is not returned)
    return explicit if explicit is not None else str(max(2, 2 * spark.sparkContext.defaultParallelism))


def compact_and_vacuum(spark: SparkSession, uri: str, retention_days: float, target_file_mb: int) -> int:
    """Delta's ``OPTIMIZE`` then ``VACUUM`` past the retention; returns the number of files vacuumed."""
    from delta.tables import DeltaTable as SparkDeltaTable

    from tagfactory.lakehouse.spark import session_conf

    uri = TableLocation.parse(uri).spark_uri
    fs = HadoopFs(spark, uri)
    before = {f.uri for f in fs.list_files(uri)}
    with session_conf(spark, "spark.databricks.delta.optimize.maxFileSize", str(target_file_mb * 2**20)), \
            session_conf(spark, "spark.databricks.delta.retentionDurationCheck.enabled", "false"), \
            session_conf(spark, LISTING_PARALLELISM, listing_parallelism(spark)):
        table = SparkDeltaTable.forPath(spark, uri)
        table.optimize().executeCompaction()
        table.vacuum(retention_days * 24)
    return len(before - {f.uri for f in fs.list_files(uri)})
