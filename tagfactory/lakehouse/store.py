"""One interface for writing and reading warehouse tables, whichever Delta writer runs.

A job opens its store ONCE from the settings (:func:`open_store`, ``writer`` in the settings; see
docs/jvm-components.md) and passes it to whatever writes or reads tables. Only entry points open
one: :func:`tagfactory.pipeline.runtime.start_job`, the CLI commands, and the maintenance job
(:func:`open_store_without_spark`: delta-rs maintains tables without Spark). The two stores:

* :class:`DeltaRsStore` (``deltars``, the default): Spark stages Parquet, delta-rs commits the
  staged files to the Delta log (:mod:`tagfactory.lakehouse.deltalog`), delta-rs resolves reads;
* :class:`NativeStore` (``native``): the same staging, Delta Lake on Spark writes the staged rows
  and reads (:mod:`tagfactory.lakehouse.native`).

Write-audit-publish through a store: :meth:`TableStore.stage` -> :meth:`TableStore.read_staged`
(the audit) -> :meth:`TableStore.commit` (publish) or :meth:`TableStore.discard`;
:meth:`TableStore.publish` stages and commits in one call (no audit in between). Both stores read
tables of either writer; ``version`` and ``history`` read the Delta log with delta-rs for both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from tagfactory.lakehouse import deltalog, native, reads, stage
from tagfactory.lakehouse.stage import CommitMode, StagedWrite

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tagfactory.settings import Settings

Writer = Literal["deltars", "native"]


@dataclass(frozen=True)
class PublishResult:
    """Outcome of :meth:`TableStore.publish`."""

    version: int
    rows: int
    files: int
    bytes: int
    seconds: float


class TableStore(Protocol):
    """Writes (write-audit-publish), reads and maintains Delta tables with one writer."""

    @property
    def writer(self) -> Writer:
        """``deltars`` or ``native``."""
        ...

    def stage(self, df: DataFrame, table_uri: str, *, partition_by: Sequence[str] = ("dt",),
              run_id: str | None = None,
              partition_values: Mapping[str, date | int | str] | None = None) -> StagedWrite:
        """Write ``df`` into the table's staging area (see :func:`tagfactory.lakehouse.stage.stage`)."""
        ...

    def read_staged(self, staged: StagedWrite) -> DataFrame:
        """The staged rows, for the audit."""
        ...

    def commit(self, staged: StagedWrite, *, mode: CommitMode = "overwrite_partitions",
               commit_metadata: dict[str, str] | None = None,
               empty_partition: dict[str, str] | None = None) -> int:
        """Publish a staged run; returns the table version it created."""
        ...

    def discard(self, staged: StagedWrite) -> None:
        """Delete a staged run that will not be published."""
        ...

    def publish(self, df: DataFrame, table_uri: str, *, partition_by: Sequence[str] = ("dt",),
                run_id: str | None = None, mode: CommitMode = "overwrite_partitions",
                commit_metadata: dict[str, str] | None = None) -> PublishResult:
        """Stage and commit ``df`` in one call (no audit in between)."""
        ...

    def read(self, table_uri: str, *, version: int | None = None) -> DataFrame:
        """The table's rows (optionally at an older version) as a Spark DataFrame."""
        ...

    def version(self, table_uri: str) -> int | None:
        """Current version of the table, None when there is no table."""
        ...

    def history(self, table_uri: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit infos, newest first, with the commit metadata of either writer."""
        ...

    def compact_and_vacuum(self, table_uri: str, *, retention_days: float, target_file_mb: int) -> int:
        """Compact small files and vacuum files removed longer ago than the retention; files vacuumed."""
        ...


class _BaseStore:
    """What both stores share: staging, the audit read, delta-rs version and history."""

    writer: ClassVar[Writer]
    #: Whether maintenance, version and history need a Spark session (:func:`open_store_without_spark`).
    needs_spark: ClassVar[bool]

    def __init__(self, spark: SparkSession | None, storage_options: dict[str, str] | None = None) -> None:
        self._spark = spark
        self.storage_options = storage_options

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            raise ValueError(f"the {self.writer} store was opened without a Spark session; this needs one")
        return self._spark

    def __repr__(self) -> str:
        return f"{type(self).__name__}(writer={self.writer!r})"

    def stage(self, df: DataFrame, table_uri: str, *, partition_by: Sequence[str] = ("dt",),
              run_id: str | None = None,
              partition_values: Mapping[str, date | int | str] | None = None) -> StagedWrite:
        return stage.stage(self._spark or df.sparkSession, df, table_uri, partition_by=partition_by,
                           run_id=run_id, partition_values=partition_values)

    def read_staged(self, staged: StagedWrite) -> DataFrame:
        return stage.read_staged(staged)

    def discard(self, staged: StagedWrite) -> None:
        stage.discard(staged)

    def commit(self, staged: StagedWrite, *, mode: CommitMode = "overwrite_partitions",
               commit_metadata: dict[str, str] | None = None,
               empty_partition: dict[str, str] | None = None) -> int:
        raise NotImplementedError

    def publish(self, df: DataFrame, table_uri: str, *, partition_by: Sequence[str] = ("dt",),
                run_id: str | None = None, mode: CommitMode = "overwrite_partitions",
                commit_metadata: dict[str, str] | None = None) -> PublishResult:
        """Stage and commit ``df``; if the commit fails the staged run is kept for inspection."""
        started = time.monotonic()
        staged = self.stage(df, table_uri, partition_by=partition_by, run_id=run_id)
        version = self.commit(staged, mode=mode, commit_metadata=commit_metadata)
        return PublishResult(version=version, rows=staged.rows, files=len(staged.files),
                             bytes=sum(f.size for f in staged.files), seconds=time.monotonic() - started)

    def version(self, table_uri: str) -> int | None:
        return reads.table_version(table_uri, storage_options=self.storage_options)

    def history(self, table_uri: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        return reads.table_history(table_uri, limit=limit, storage_options=self.storage_options)


class DeltaRsStore(_BaseStore):
    """``deltars``: staged files are moved into the table and committed by delta-rs.

    The Spark session is needed for staging and reading rows, not for committing metadata only
    operations such as maintenance, version and history (``spark=None`` is fine there).
    """

    writer: ClassVar[Writer] = "deltars"
    needs_spark: ClassVar[bool] = False

    def commit(self, staged: StagedWrite, *, mode: CommitMode = "overwrite_partitions",
               commit_metadata: dict[str, str] | None = None,
               empty_partition: dict[str, str] | None = None) -> int:
        return deltalog.commit(staged, mode=mode, commit_metadata=commit_metadata,
                               storage_options=self.storage_options, empty_partition=empty_partition)

    def read(self, table_uri: str, *, version: int | None = None) -> DataFrame:
        return reads.read_table(self.spark, table_uri, version=version, storage_options=self.storage_options)

    def compact_and_vacuum(self, table_uri: str, *, retention_days: float, target_file_mb: int) -> int:
        return deltalog.compact_and_vacuum(table_uri, retention_days, target_file_mb, self.storage_options)


class NativeStore(_BaseStore):
    """``native``: Delta Lake on Spark writes the staged rows, reads and maintains the tables."""

    writer: ClassVar[Writer] = "native"
    needs_spark: ClassVar[bool] = True

    def commit(self, staged: StagedWrite, *, mode: CommitMode = "overwrite_partitions",
               commit_metadata: dict[str, str] | None = None,
               empty_partition: dict[str, str] | None = None) -> int:
        return native.commit(staged, mode=mode, commit_metadata=commit_metadata, empty_partition=empty_partition)

    def read(self, table_uri: str, *, version: int | None = None) -> DataFrame:
        return native.read(self.spark, table_uri, version)

    def compact_and_vacuum(self, table_uri: str, *, retention_days: float, target_file_mb: int) -> int:
        return native.compact_and_vacuum(self.spark, table_uri, retention_days, target_file_mb)


STORES: dict[str, type[DeltaRsStore] | type[NativeStore]] = {"deltars": DeltaRsStore, "native": NativeStore}


def open_store(settings: Settings, spark: SparkSession | None = None) -> TableStore:
    """The store of the settings' writer (``writer``), bound to ``spark``.

    ``spark`` may be None only for the delta-rs store's metadata operations (maintenance,
    version, history); the native store always needs a session.
    """
    return store_for(settings.writer, spark)


def open_store_without_spark(settings: Settings) -> TableStore | None:
    """The settings' store opened without a Spark session, or None when its writer needs one.

    The delta-rs store maintains tables and reads versions and history without Spark; the native
    store needs a session for them (a started job opens it:
    :func:`tagfactory.pipeline.runtime.start_job`).
    """
    cls = _store_class(settings.writer)
    return None if cls.needs_spark else cls(None)


def store_for(writer: str, spark: SparkSession | None = None,
              storage_options: dict[str, str] | None = None) -> TableStore:
    """The store of ``writer`` (``deltars`` or ``native``), bound to ``spark``."""
    cls = _store_class(writer)
    if cls is NativeStore and spark is None:
        raise ValueError("writer='native' needs a Spark session")
    return cls(spark, storage_options)


def _store_class(writer: str) -> type[DeltaRsStore] | type[NativeStore]:
    try:
        return STORES[writer]
    except KeyError:
        raise ValueError(f"unknown writer {writer!r}; one of {', '.join(STORES)}") from None
