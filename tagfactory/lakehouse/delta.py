"""Publish Spark DataFrames as Delta tables, write-audit-publish style: the compatibility facade.

The code lives in one module per concern (see README.md in this folder):

* :mod:`~tagfactory.lakehouse.stage` -- staging (:func:`stage`, :class:`StagedWrite`,
  :func:`read_staged`, :func:`discard`);
* :mod:`~tagfactory.lakehouse.footer` -- Delta statistics from Parquet footers;
* :mod:`~tagfactory.lakehouse.deltalog` -- the delta-rs commit and schema merge (:func:`commit`);
* :mod:`~tagfactory.lakehouse.native` -- the Delta-Lake-on-Spark writer;
* :mod:`~tagfactory.lakehouse.reads` -- :func:`read_table`, :func:`read_arrow`, versions, history;
* :mod:`~tagfactory.lakehouse.store` -- the :class:`~tagfactory.lakehouse.store.TableStore`
  interface over both writers, which jobs use (:func:`~tagfactory.lakehouse.store.open_store`).

This module re-exports the delta-rs path under its old names. New code takes a ``TableStore``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tagfactory.lakehouse.deltalog import commit, merge_schemas
from tagfactory.lakehouse.errors import DeltaIOError, DeltaPublishError
from tagfactory.lakehouse.reads import read_arrow, read_table, table_history, table_version
from tagfactory.lakehouse.spark import session_conf
from tagfactory.lakehouse.stage import (
    RESERVED_COMMIT_KEYS,
    STAGING_DIR,
    CommitMode,
    StagedFile,
    StagedWrite,
    discard,
    new_run_id,
    read_staged,
    stage,
)
from tagfactory.lakehouse.store import DeltaRsStore, PublishResult, Writer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "RESERVED_COMMIT_KEYS", "STAGING_DIR", "CommitMode", "DeltaIOError", "DeltaPublishError", "PublishResult",
    "StagedFile", "StagedWrite", "Writer", "commit", "discard", "merge_schemas", "new_run_id",
    "publish_partition", "read_arrow", "read_staged", "read_table", "session_conf", "stage", "table_history",
    "table_version",
]


def publish_partition(
    spark: SparkSession,
    df: DataFrame,
    table_uri: str,
    *,
    partition_by: Sequence[str] = ("dt",),
    run_id: str | None = None,
    mode: CommitMode = "overwrite_partitions",
    commit_metadata: dict[str, str] | None = None,
    storage_options: dict[str, str] | None = None,
) -> PublishResult:
    """Stage and commit ``df`` with delta-rs in one call (``DeltaRsStore(spark).publish``)."""
    return DeltaRsStore(spark, storage_options).publish(
        df, table_uri, partition_by=partition_by, run_id=run_id, mode=mode, commit_metadata=commit_metadata)
