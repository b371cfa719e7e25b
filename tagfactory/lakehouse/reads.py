"""Reading Delta tables: rows (Spark or Arrow), the current version, the commit history.

Every function here reads tables of either writer; delta-rs resolves the table's live files and
schema (``read_table`` with Spark's reader is :func:`tagfactory.lakehouse.native.read`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable

from tagfactory.lakehouse.errors import DeltaIOError, translated
from tagfactory.lakehouse.native import user_metadata
from tagfactory.lakehouse.paths import TableLocation
from tagfactory.lakehouse.schemas import spark_from_delta
from tagfactory.lakehouse.stage import read_parquet

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


def read_table(
    spark: SparkSession,
    table_uri: str,
    *,
    version: int | None = None,
    storage_options: dict[str, str] | None = None,
) -> DataFrame:
    """Read a Delta table (optionally an older version) as a Spark DataFrame.

    delta-rs resolves the live files and the schema, and Spark reads the Parquet files with that
    schema: partition columns keep their Delta types (``dt`` is a date) and files written before a
    column existed read it as null. (:func:`tagfactory.lakehouse.native.read` uses
    ``spark.read.format("delta")``; both read tables of either writer.)

    Args:
        spark: Active session.
        table_uri: Table location.
        version: Table version for time travel; latest when None.
        storage_options: delta-rs object store options.

    Returns:
        The table's rows, columns in table schema order (empty DataFrame for a table without
        files).

    Raises:
        DeltaIOError: no Delta table at ``table_uri`` or no such version.
    """
    location = TableLocation.parse(table_uri)
    with translated(
        "Reading",
        table_uri,
        "Check the path and version (see table_history()).",
        DeltaIOError,
    ):
        table = DeltaTable(location.delta_uri, version=version, storage_options=storage_options)
        schema = spark_from_delta(table.schema())
        files = [location.spark_file_uri(uri) for uri in table.file_uris()]
    return read_parquet(spark, schema, location.spark_uri, files)


def read_arrow(table: DeltaTable, columns: list[str] | None = None, filters: list[Any] | None = None) -> pa.Table:
    """The rows of a delta-rs ``table`` as Arrow (``filters`` in pyarrow's DNF tuples), for CLI reads.

    Scans without pyarrow's thread pool: delta-rs gives pyarrow a filesystem implemented in
    Python, and pyarrow's scan threads could outlive the interpreter and abort the process at exit
    ("terminate called without an active exception", delta-io/delta-rs#2184); `tagfactory
    show-audiences` printed its summary and then exited 134.
    """
    from pyarrow.parquet import filters_to_expression

    expression = filters_to_expression(filters) if filters else None
    dataset = table.to_pyarrow_dataset(filesystem=_native_filesystem(table.table_uri))
    return dataset.to_table(columns=columns, filter=expression, use_threads=False)


def _native_filesystem(table_uri: str) -> Any:
    """pyarrow's own filesystem rooted at a local table, else None (delta-rs's Python one).

    delta-rs's default is a filesystem implemented in Python, which pyarrow calls from its I/O
    threads (fragments are pre-buffered); a thread still inside it at interpreter exit aborted
    `tagfactory lookup` now and then even without scan threads. A local table is read with
    pyarrow's native filesystem, which holds no Python state.
    """
    import pyarrow.fs as pa_fs

    location = TableLocation.parse(table_uri)
    if not location.spark_uri.startswith("file://"):
        return None
    return pa_fs.SubTreeFileSystem(location.delta_uri, pa_fs.LocalFileSystem())


def table_version(uri: str, *, storage_options: dict[str, str] | None = None) -> int | None:
    """Current version of the Delta table at ``uri``, or None when there is no table."""
    table = load_table(TableLocation.parse(uri), storage_options)
    return None if table is None else table.version()


def table_history(
    uri: str, *, limit: int | None = None, storage_options: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Commit infos of the Delta table at ``uri``, newest first ([] when there is no table).

    Each entry has ``version``, ``timestamp``, ``operation`` and the commit metadata
    (``run_id`` and whatever was passed as ``commit_metadata``), whichever writer made the commit:
    the native writer's ``userMetadata`` JSON is merged into the entry.
    """
    table = load_table(TableLocation.parse(uri), storage_options)
    if table is None:
        return []
    entries = table.history(limit)
    for entry in entries:
        extra = user_metadata(entry.get("userMetadata"))
        if extra:
            entry.update({k: v for k, v in extra.items() if k not in entry})
    return entries



def load_table(
    location: TableLocation, storage_options: dict[str, str] | None
) -> DeltaTable | None:
    """The delta-rs table at ``location``, or None when there is no Delta table."""
    if not DeltaTable.is_deltatable(location.delta_uri, storage_options):
        return None
    return DeltaTable(location.delta_uri, storage_options=storage_options)
