"""The Hive destination (``kind: hive``): an external Parquet table partitioned by ``dt`` (docs/exports.md).

One date is published in three steps:

1. the staged Parquet copy of the selection is copied into its own content folder,
   ``<location_root>/<database>/<table>/dt=<D>/content=<content_id>/`` (written under a hidden
   name and renamed, so a folder of that name is always complete);
2. **one** metastore write points the partition at it: ``ALTER TABLE … ADD IF NOT EXISTS
   PARTITION (dt='D') LOCATION '…'`` for a new date, ``ALTER TABLE … PARTITION (dt='D') SET
   LOCATION '…'`` for a date published before with other content. Readers see the old or the new
   content, never a mix; ``MSCK REPAIR`` is never used (it lists every partition folder);
3. the partition is counted back through the metastore by Spark (``rows_delivered``; the caller
   reconciles it with the selection).

The same content id already at the partition's location is ``unchanged``: no copy, no metastore
write. Content that replaces other content keeps the old folder (a query that started on it still
finds its files) and names it in ``Delivery.detail["supersedes"]``; :func:`remove_expired` drops the
partitions of dates past the export's retention and deletes their folders, superseded content
included.

``dt`` is a STRING partition column holding ``YYYY-MM-DD``: the metastore stores every partition
value as a string anyway, Hive 2.3 pushes string equality and ranges on partition columns down to
its SQL store (DATE filters need ``hive.metastore.integral.jdo.pushdown``-style support that 2.3
lacks for dates, so a DATE filter can fetch all partitions to the client), and every client
(Spark, Hive, Trino, pyhive) compares ``dt = '2026-11-24'`` the same way. ISO dates sort as
strings.

Columns follow the staged copy: new columns are added (``ALTER TABLE … ADD COLUMNS``; older
partitions read them as NULL); a column whose type changed, or that is no longer delivered, is an
:class:`~tagfactory.errors.ExportError` saying how to migrate. Every metastore write goes through
:func:`metastore_write`, the one place tests observe.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tagfactory.errors import ExportError
from tagfactory.exports.contracts import Delivery, Selection, Status
from tagfactory.lakehouse.paths import TableLocation

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

    from tagfactory.compiler.export_models import HiveDestination
    from tagfactory.compiler.manifest import Export

PARTITION = "dt"
PARTITION_TYPE = "string"
PREFIX = "tagfactory."


def deliver_hive(spark: SparkSession, selection: Selection, dest: HiveDestination, location_root: str, *,
                 properties: Mapping[str, str] | None = None) -> Delivery:
    """Publish ``selection`` as the ``dt`` partition of ``dest.database``.``dest.table``.

    Args:
        spark: a session whose catalog is the Hive metastore (``spark.sql.catalogImplementation=hive``,
            see :func:`tagfactory.lakehouse.spark.build_spark_session`'s ``hive_metastore_uri``).
        selection: the staged copy to publish.
        dest: the destination (database and table).
        location_root: root of the Hive export tables' data (``settings.hive.location_root``).
        properties: extra table properties written when the table is created, e.g.
            :func:`table_properties` of the export (owner, consumer).

    Raises:
        ExportError: no Hive catalog, the table belongs to something else, a column changed type or
            disappeared (the message says how to migrate), or a file system / metastore call failed.
    """
    started = _now()
    _require_hive(spark)
    date = selection.snapshot_date.isoformat()
    table_uri = TableLocation.parse(location_root).spark_child(f"{dest.database}/{dest.table}")
    target = f"{table_uri}/{PARTITION}={date}/content={selection.content_id}"
    catalog = HiveCatalog(spark, dest.database, dest.table)
    staged = _staged_schema(spark, selection.staged_uri)
    catalog.ensure_table(table_uri, staged, selection, properties or {})
    current = catalog.partition_location(date)
    detail = {"table": catalog.name, "partition": f"{PARTITION}={date}", "content_id": selection.content_id}
    status: Status
    if current is not None and _content_of(current) == selection.content_id:
        status = "unchanged"
    else:
        _copy_content(spark, selection.staged_uri, target)
        if current is None:
            catalog.add_partition(date, target)
        else:
            catalog.set_partition_location(date, target)
            detail["supersedes"] = _content_of(current) or current
            detail["superseded_location"] = current
        status = "delivered"
    rows = catalog.count(date)
    return Delivery(destination=dest.name, kind="hive", location=target, status=status, rows_delivered=rows,
                    started=started, finished=_now(), detail=detail)


def remove_expired(spark: SparkSession, dest: HiveDestination, location_root: str, retention_days: int,
                   today: dt.date) -> list[str]:
    """Drop the partitions of dates older than ``retention_days`` before ``today`` and delete their
    folders (every content folder of such a date, superseded ones included).

    The dates come from the table's folder (``dt=`` names; at most the retained days plus the
    expired ones), not from a listing of the metastore's partitions. Each partition is dropped
    with one metastore write (``ALTER TABLE … DROP IF EXISTS PARTITION``) before its folder is
    deleted, so no query meets a partition without data. Returns the removed ``dt=`` names.
    """
    from tagfactory.exports.hadoopfs import DropFs

    _require_hive(spark)
    table_uri = TableLocation.parse(location_root).spark_child(f"{dest.database}/{dest.table}")
    fs = DropFs(spark, table_uri)
    oldest = today - dt.timedelta(days=retention_days)
    catalog = HiveCatalog(spark, dest.database, dest.table)
    removed = []
    for entry in fs.list(fs.root):
        date = _date_folder(entry.name) if entry.is_dir else None
        if date is None or date >= oldest:
            continue
        catalog.drop_partition(date.isoformat())
        fs.delete(entry.uri)
        removed.append(entry.name)
    return removed


def table_properties(export: Export) -> dict[str, str]:
    """Table properties naming an export's owner, consumer and purpose (``tagfactory.*``)."""
    return {f"{PREFIX}owner": export.owner, f"{PREFIX}consumer.system": export.consumer.system,
            f"{PREFIX}consumer.team": export.consumer.team, f"{PREFIX}consumer.contact": export.consumer.contact,
            f"{PREFIX}purpose": export.purpose, f"{PREFIX}display_name": export.display_name}


def metastore_write(spark: SparkSession, statement: str, call: Callable[[], object] | None = None) -> None:
    """Every metastore write of this module: ``statement``, run by Spark SQL or by ``call``.

    ``call`` is the equivalent catalog call for partition changes (it skips Spark SQL's statement
    overhead, see benchmarks/hive_publish.py); ``statement`` is then what it does, in SQL.

    Raises:
        ExportError: the metastore refused it.
    """
    try:
        if call is None:
            spark.sql(statement)
        else:
            call()
    except Exception as exc:  # py4j / AnalysisException: one readable line
        raise ExportError(f"metastore: {statement[:200]} failed: {_first_line(exc)}") from None


class HiveCatalog:
    """The metastore reads and writes of one export table."""

    def __init__(self, spark: SparkSession, database: str, table: str) -> None:
        """Bind to ``database``.``table`` (which may not exist yet)."""
        self.spark = spark
        self.database = database
        self.table = table
        self.name = f"`{database}`.`{table}`"
        self._external: Any = spark._jsparkSession.sessionState().catalog().externalCatalog()  # type: ignore[attr-defined]
        self._jvm: Any = spark._jvm  # type: ignore[attr-defined]

    # -- the table ---------------------------------------------------------------------------
    def ensure_table(self, location: str, staged: StructType, selection: Selection,
                     properties: Mapping[str, str]) -> None:
        """Create the database and table if absent; add new columns; refuse retyped or removed ones."""
        if not self._external.databaseExists(self.database):
            metastore_write(self.spark, f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        data = [f for f in staged.fields if f.name.lower() != PARTITION]
        comments = {c.name: _column_comment(c.description, c.pii) for c in selection.columns}
        if not self._external.tableExists(self.database, self.table):
            props = {f"{PREFIX}export": selection.export, f"{PREFIX}entity": selection.entity,
                     f"{PREFIX}managed_by": "tagfactory exports", **properties}
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}"
                                + (f" COMMENT {_literal(comments[f.name])}" if comments.get(f.name) else "")
                                for f in data)
            metastore_write(self.spark, (
                f"CREATE EXTERNAL TABLE IF NOT EXISTS {self.name} ({columns}) "
                f"COMMENT {_literal(f'export {selection.export} (tagfactory); one partition per snapshot date')} "
                f"PARTITIONED BY (`{PARTITION}` {PARTITION_TYPE.upper()}) STORED AS PARQUET "
                f"LOCATION {_literal(location)} "
                f"TBLPROPERTIES ({', '.join(f'{_literal(k)}={_literal(v)}' for k, v in props.items())})"))
            return
        self._check_owner(selection.export)
        existing = {f.name.lower(): f for f in self.spark.table(self.name).schema.fields
                    if f.name.lower() != PARTITION}
        wanted = {f.name.lower(): f for f in data}
        retyped = [(n, existing[n].dataType.simpleString(), f.dataType.simpleString()) for n, f in wanted.items()
                   if n in existing and existing[n].dataType.simpleString() != f.dataType.simpleString()]
        removed = [n for n in existing if n not in wanted]
        if retyped or removed:
            raise ExportError(self._migration_message(selection.export, retyped, removed))
        added = [f for n, f in wanted.items() if n not in existing]
        if added:
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}"
                                + (f" COMMENT {_literal(comments[f.name])}" if comments.get(f.name) else "")
                                for f in added)
            metastore_write(self.spark, f"ALTER TABLE {self.name} ADD COLUMNS ({columns})")

    def _check_owner(self, export: str) -> None:
        table = self._external.getTable(self.database, self.table)
        props = table.properties()
        owner = props.get(f"{PREFIX}export")
        owner = str(owner.get()) if owner.isDefined() else None
        parts = [str(n) for n in _iterate(table.partitionColumnNames())]
        if owner != export or parts != [PARTITION]:
            raise ExportError(
                f"Hive table {self.database}.{self.table} exists but is not export {export}'s table "
                f"(its {PREFIX}export property is {owner!r}, partitioned by {parts}); choose another "
                "`table:` in the destination or drop that table")

    def _migration_message(self, export: str, retyped: list[tuple[str, str, str]], removed: list[str]) -> str:
        what = "; ".join([f"column {n} is {old} in the table but {new} in the export" for n, old, new in retyped]
                         + [f"column {n} is in the table but no longer delivered" for n in removed])
        return (f"export {export}: Hive table {self.database}.{self.table} cannot take this delivery: {what}. "
                "Existing partitions would be unreadable, so the table is not changed. To migrate, either "
                "(a) give the destination a new `table:` name (a new table, filled from this run on; backfill "
                "(re-deliver) older dates if consumers need them), or (b) drop the "
                f"table (`DROP TABLE {self.database}.{self.table}`: external, the data folders stay) and "
                "re-deliver every date still needed (backfill), which recreates it with the new columns")

    # -- partitions --------------------------------------------------------------------------
    def partition_location(self, date: str) -> str | None:
        """Location of the ``dt=date`` partition, or None when it does not exist (no listing)."""
        found = self._external.getPartitionOption(self.database, self.table, self._spec(date))
        return str(found.get().location().toString()) if found.isDefined() else None

    def add_partition(self, date: str, location: str) -> None:
        """``ALTER TABLE … ADD IF NOT EXISTS PARTITION (dt=date) LOCATION location``."""
        statement = (f"ALTER TABLE {self.name} ADD IF NOT EXISTS PARTITION (`{PARTITION}`={_literal(date)}) "
                     f"LOCATION {_literal(location)}")
        metastore_write(self.spark, statement, lambda: self._create_partition(date, location))

    def set_partition_location(self, date: str, location: str) -> None:
        """``ALTER TABLE … PARTITION (dt=date) SET LOCATION location``."""
        statement = f"ALTER TABLE {self.name} PARTITION (`{PARTITION}`={_literal(date)}) SET LOCATION {_literal(location)}"
        metastore_write(self.spark, statement, lambda: self._move_partition(date, location))

    def drop_partition(self, date: str) -> None:
        """``ALTER TABLE … DROP IF EXISTS PARTITION (dt=date)`` (the data is deleted by the caller)."""
        statement = f"ALTER TABLE {self.name} DROP IF EXISTS PARTITION (`{PARTITION}`={_literal(date)})"
        metastore_write(self.spark, statement, lambda: self._external.dropPartitions(
            self.database, self.table, self._seq([self._spec(date)]), True, False, True))

    def count(self, date: str) -> int:
        """Rows of the ``dt=date`` partition, read through the metastore by Spark."""
        from pyspark.sql import functions as F

        self.spark.catalog.refreshTable(f"{self.database}.{self.table}")
        try:
            return int(self.spark.table(self.name).where(F.col(PARTITION) == F.lit(date)).count())
        except Exception as exc:  # py4j: name the table
            raise ExportError(f"counting {self.database}.{self.table} {PARTITION}={date} failed: "
                              f"{_first_line(exc)}") from None

    def _spec(self, date: str) -> Any:
        return self._jvm.org.apache.spark.api.python.PythonUtils.toScalaMap({PARTITION: date})

    def _create_partition(self, date: str, location: str) -> None:
        table = self._external.getTable(self.database, self.table)
        empty = self._jvm.org.apache.spark.api.python.PythonUtils.toScalaMap({})
        part = self._jvm.org.apache.spark.sql.catalyst.catalog.CatalogTablePartition(
            self._spec(date), self._storage(table.storage(), location), empty,
            self._jvm.System.currentTimeMillis(), -1, self._jvm.scala.Option.apply(None))
        self._external.createPartitions(self.database, self.table, self._seq([part]), True)

    def _move_partition(self, date: str, location: str) -> None:
        part = self._external.getPartition(self.database, self.table, self._spec(date))
        moved = part.copy(part.spec(), self._storage(part.storage(), location), part.parameters(),
                          part.createTime(), part.lastAccessTime(), part.stats())
        self._external.alterPartitions(self.database, self.table, self._seq([moved]))

    def _storage(self, storage: Any, location: str) -> Any:
        """``storage`` with another location (the other fields as they are, whatever their number)."""
        uri = self._jvm.scala.Some(self._jvm.org.apache.spark.sql.catalyst.catalog.CatalogUtils
                                   .stringToURI(location))
        args = [uri] + [storage.productElement(i) for i in range(1, storage.productArity())]
        return storage.copy(*args)

    def _seq(self, items: list[Any]) -> Any:
        return self._jvm.org.apache.spark.api.python.PythonUtils.toSeq(items)


def _require_hive(spark: SparkSession) -> None:
    if spark.conf.get("spark.sql.catalogImplementation", "in-memory") != "hive":
        raise ExportError("Hive destinations need a Spark session on the Hive metastore: set "
                          "`hive.metastore_uri` in the settings (the export job then builds its session with "
                          "spark.sql.catalogImplementation=hive and spark.hadoop.hive.metastore.uris)")


def _staged_schema(spark: SparkSession, uri: str) -> StructType:
    try:
        return spark.read.parquet(uri).schema
    except Exception as exc:  # py4j: name the staged copy
        raise ExportError(f"reading the staged selection at {uri} failed: {_first_line(exc)}") from None


def _copy_content(spark: SparkSession, staged_uri: str, target: str) -> None:
    """Copy the staged folder to ``target``: into a hidden sibling first, then one rename.

    An existing ``target`` is complete (only a finished copy is ever renamed to that name) and kept.
    """
    jvm: Any = spark._jvm  # type: ignore[attr-defined]
    conf: Any = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    source = jvm.org.apache.hadoop.fs.Path(TableLocation.parse(staged_uri).spark_uri)
    final = jvm.org.apache.hadoop.fs.Path(target)
    fs = final.getFileSystem(conf)
    try:
        if fs.exists(final):
            return
        tmp = jvm.org.apache.hadoop.fs.Path(final.getParent(), f"_tmp_{final.getName()}_{uuid.uuid4().hex[:8]}")
        copied = jvm.org.apache.hadoop.fs.FileUtil.copy(source.getFileSystem(conf), source, fs, tmp, False, True,
                                                        conf)
        if not copied or not fs.rename(tmp, final):
            fs.delete(tmp, True)
            if not fs.exists(final):
                raise OSError(f"copy or rename to {target} refused")
    except Exception as exc:  # py4j / OSError: one line naming both folders
        raise ExportError(f"copying the staged selection {staged_uri} to {target} failed: "
                          f"{_first_line(exc)}") from None


def _date_folder(name: str) -> dt.date | None:
    """The date of a ``dt=YYYY-MM-DD`` folder name, else None."""
    if not name.startswith(f"{PARTITION}="):
        return None
    try:
        return dt.date.fromisoformat(name[len(PARTITION) + 1:])
    except ValueError:
        return None


def _content_of(location: str) -> str | None:
    """The content id in a partition location ``…/content=<id>`` (None for other layouts)."""
    last = location.rstrip("/").rsplit("/", 1)[-1]
    return last.split("=", 1)[1] if last.startswith("content=") else None


def _column_comment(description: str, pii: str | None) -> str:
    return "; ".join(p for p in (description, f"PII: {pii}" if pii else "") if p)


def _literal(text: str) -> str:
    """A single-quoted Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _iterate(seq: Any) -> list[Any]:
    it = seq.iterator()
    out = []
    while it.hasNext():
        out.append(it.next())
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
