"""How exports are consumed: acknowledgements of drops and workbooks, Kafka consumer groups, the log.

Consumption is measured where the destination can tell (docs/exports.md, "Registry and consumption"):

* **file drops and workbooks**: the consumer writes ``_ACK`` (JSON ``{"consumer", "acknowledged_at",
  "rows_loaded"?}``) beside the drop's ``_SUCCESS``, or runs ``tagfactory exports ack``
  (:func:`acknowledge`, through the drops' Hadoop file system layer). Acks are read back without
  Spark (pyarrow's file systems: local, ``hdfs://``, ``s3a://`` as ``s3://``);
* **Kafka topics**: the committed offsets of every consumer group on the topic against the
  topic's read-committed end offsets (confluent-kafka's admin client). A group whose offsets
  advanced to the end (at most :data:`MARKER_SLACK` behind per partition: the transaction's
  commit marker takes an offset) has consumed; the API has no commit time, so the time it was
  *observed* is recorded;
* **Hive tables**: nothing reliable without the metastore's or the query engine's audit log:
  not measurable.

Observations are appended to the ``export_consumption`` Delta table (its columns: the table registry,
:mod:`tagfactory.contracts.tables`) in the warehouse with delta-rs
(no Spark): appends from concurrent runs are safe through the Delta log (a JSON-lines file has no
safe append on HDFS or object stores), analysts query it like the receipts, and acks stay on
record after retention removed their drop folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tagfactory.contracts.tables import CONSUMPTION_TABLE, table_spec
from tagfactory.errors import ExportError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.compiler.export_models import (
        ExcelDestination,
        FilesDestination,
        KafkaDestination,
    )
    from tagfactory.settings import Settings

ACK = "_ACK"
SUCCESS = "_SUCCESS"
#: offsets a caught-up read_committed group may stay behind per partition (the commit marker)
MARKER_SLACK = 1
_DT = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Consumed:
    """One observation: ``consumer`` consumed ``export`` at ``destination`` (``how``: ack | kafka)."""

    export: str
    destination: str
    kind: str
    how: str
    consumer: str
    consumed_at: dt.datetime  # UTC, naive
    dt: dt.date | None = None  # the snapshot date consumed (acks), None for a topic
    rows: int | None = None  # rows loaded (ack) or messages consumed since the last observation
    detail: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        """What makes two observations the same (an ack seen twice, a group that did not move)."""
        if self.how == "kafka":
            return (self.export, self.destination, self.how, self.consumer, json.dumps(self.detail.get("committed")))
        return (self.export, self.destination, self.how, self.consumer, self.dt, self.consumed_at)


def utc_now() -> dt.datetime:
    """Now in UTC, naive (as the Delta tables store timestamps)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# ------------------------------------------------------------------------------------------ acks


def ack_body(consumer: str, acknowledged_at: dt.datetime, rows_loaded: int | None = None,
             **facts: Any) -> dict[str, Any]:
    """The JSON of an ``_ACK`` file."""
    body: dict[str, Any] = {"consumer": consumer, "acknowledged_at": acknowledged_at.isoformat(timespec="seconds")}
    if rows_loaded is not None:
        body["rows_loaded"] = rows_loaded
    return {**body, **facts}


def parse_ack(text: str, where: str) -> tuple[str, dt.datetime, int | None]:
    """(consumer, acknowledged_at in UTC, rows_loaded) of an ``_ACK`` file's text."""
    try:
        body = json.loads(text)
        consumer = str(body["consumer"]).strip()
        moment = dt.datetime.fromisoformat(str(body["acknowledged_at"]).replace("Z", "+00:00"))
        rows = body.get("rows_loaded")
        if not consumer or (rows is not None and (not isinstance(rows, int) or rows < 0)):
            raise ValueError("consumer must be non-empty, rows_loaded a count")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportError(f"{where}: not an acknowledgement ({exc}); expected JSON "
                          '{"consumer": "...", "acknowledged_at": "2026-11-25T06:10:00Z", "rows_loaded": 123}') from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return consumer, moment, rows


def drop_folder(dest: FilesDestination | ExcelDestination, root: str, snapshot_date: dt.date,
                latest: str | None) -> str:
    """The folder holding ``_SUCCESS`` of a drop or workbook of ``snapshot_date`` (``latest``: the
    text of ``dt=<D>/_LATEST`` of a run-layout drop)."""
    if dest.kind == "excel":
        return f"{root}/dt={snapshot_date.isoformat()}"
    if dest.layout == "flat":
        return root
    if not latest or not latest.strip().startswith("run="):
        raise ExportError(f"no drop of {snapshot_date} at {root}/dt={snapshot_date.isoformat()} "
                          "(no _LATEST naming a run): nothing to acknowledge")
    return f"{root}/dt={snapshot_date.isoformat()}/{latest.strip()}"


def acknowledge(spark: SparkSession, settings: Settings, export: str, dest: FilesDestination | ExcelDestination,
                snapshot_date: dt.date, by: str, rows_loaded: int | None = None,
                now: dt.datetime | None = None) -> tuple[str, Consumed]:
    """Write ``_ACK`` beside the ``_SUCCESS`` of the drop of ``snapshot_date`` (``tagfactory exports ack``).

    Raises:
        ExportError: there is no complete drop of that date (no ``_SUCCESS``), or the file system fails.
    """
    from tagfactory.exports.hadoopfs import DropFs

    fs = DropFs(spark, settings.export_uri(dest.path))
    latest = None if dest.kind == "excel" or dest.layout == "flat" else \
        fs.read_text(f"{fs.root}/dt={snapshot_date.isoformat()}/_LATEST")
    folder = drop_folder(dest, fs.root, snapshot_date, latest)
    success = fs.read_text(f"{folder}/{SUCCESS}")
    if success is None:
        raise ExportError(f"the drop at {folder} is not complete (no {SUCCESS}): nothing to acknowledge yet")
    facts = json.loads(success or "{}") if success.strip().startswith("{") else {}
    if dest.kind == "files" and dest.layout == "flat":
        manifest = json.loads(fs.read_text(f"{folder}/_manifest.json") or "{}")
        if manifest.get("snapshot_date") != snapshot_date.isoformat():
            raise ExportError(f"the flat drop at {folder} holds {manifest.get('snapshot_date')}, not {snapshot_date}")
        facts.setdefault("content_id", manifest.get("content_id"))
    moment = (now or utc_now()).replace(microsecond=0)
    content_id = facts.get("content_id") or (latest or "").strip().removeprefix("run=") or None
    body = ack_body(by, moment, rows_loaded, export=export, destination=dest.name,
                    snapshot_date=snapshot_date.isoformat(), content_id=content_id)
    uri = f"{folder}/{ACK}"
    fs.replace_bytes(uri, (json.dumps(body, indent=2) + "\n").encode(), f"{ACK}.tmp")
    return uri, Consumed(export, dest.name, dest.kind, "ack", by, moment, snapshot_date, rows_loaded,
                         {"location": uri, "content_id": content_id})


def read_acks(export: str, dest: FilesDestination | ExcelDestination, root: str) -> list[Consumed]:
    """Every ``_ACK`` of a drop or workbook destination, read without Spark (pyarrow file systems)."""
    from pyarrow import fs as pafs

    filesystem, path = _filesystem(root)
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot list {root}: {exc}") from None
    out = []
    for info in infos:
        relative = info.path[len(path.rstrip("/")) + 1:].split("/")
        if info.type != pafs.FileType.File or relative[-1] != ACK or any(p.startswith("_tmp") for p in relative):
            continue
        date_match = next((m for m in map(_DT.match, relative[:-1]) if m), None)
        where = f"{root.rstrip('/')}/{'/'.join(relative)}"
        with filesystem.open_input_stream(info.path) as stream:
            text = stream.read().decode("utf-8", errors="replace")
        consumer, moment, rows = parse_ack(text, where)
        snapshot = dt.date.fromisoformat(date_match.group(1)) if date_match else _snapshot_of(text)
        out.append(Consumed(export, dest.name, dest.kind, "ack", consumer, moment, snapshot, rows, {"location": where}))
    return out


def _snapshot_of(text: str) -> dt.date | None:
    value = json.loads(text).get("snapshot_date")
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def _filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri.removeprefix("file:"))
    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), uri.removeprefix("file://")
    try:
        return pafs.FileSystem.from_uri("s3://" + uri.split("://", 1)[1] if uri.startswith("s3a://") else uri)
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot open {uri} without Spark: {exc}") from None


# ----------------------------------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class GroupState:
    """A consumer group's position on a topic: committed and end offsets per partition."""

    group: str
    committed: dict[int, int]
    end: dict[int, int]

    @property
    def lag(self) -> int:
        """Messages (and markers) the group has still to read."""
        return sum(end - max(self.committed.get(p, 0), 0) for p, end in self.end.items())

    @property
    def caught_up(self) -> bool:
        """Whether the group read to the end of every partition (within :data:`MARKER_SLACK`)."""
        return all(end - max(self.committed.get(p, 0), 0) <= MARKER_SLACK for p, end in self.end.items())


def group_states(config: dict[str, Any], topic: str, timeout: float = 15.0) -> list[GroupState]:
    """Every consumer group with committed offsets on ``topic``, with the topic's end offsets.

    End offsets are read ``read_committed`` (the last stable offset), as a transactional consumer
    sees them. Raises ExportError when the cluster cannot be asked.
    """
    from confluent_kafka import (
        ConsumerGroupTopicPartitions,
        IsolationLevel,
        KafkaException,
        TopicPartition,
    )
    from confluent_kafka.admin import AdminClient, OffsetSpec

    admin = AdminClient(dict(config))
    try:
        found = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
        if found is None or found.error is not None:
            return []
        partitions = sorted(found.partitions)
        ends = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in partitions},
                                  isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=timeout)
        end = {tp.partition: int(f.result().offset) for tp, f in ends.items()}
        groups = admin.list_consumer_groups(request_timeout=timeout).result()
        states = []
        for listing in sorted(groups.valid, key=lambda g: g.group_id):
            request = [ConsumerGroupTopicPartitions(listing.group_id, [TopicPartition(topic, p) for p in partitions])]
            answer = admin.list_consumer_group_offsets(request, request_timeout=timeout)[listing.group_id].result()
            committed = {tp.partition: int(tp.offset) for tp in answer.topic_partitions
                         if tp.error is None and tp.offset >= 0}
            if committed:
                states.append(GroupState(listing.group_id, committed, end))
    except KafkaException as exc:
        raise ExportError(f"Kafka topic {topic}: cannot read the consumer groups: {exc.args[0]}") from None
    return states


def kafka_observations(export: str, dest: KafkaDestination, states: list[GroupState], previous: list[Consumed],
                       now: dt.datetime) -> list[Consumed]:
    """New consumption records: caught-up groups whose committed offsets moved since their last record."""
    last: dict[str, Consumed] = {}
    for record in sorted(previous, key=lambda r: r.consumed_at):
        if record.how == "kafka" and record.export == export and record.destination == dest.name:
            last[record.consumer] = record
    out = []
    for state in states:
        committed = {str(p): o for p, o in sorted(state.committed.items())}
        before = last.get(state.group)
        if not state.caught_up or (before is not None and before.detail.get("committed") == committed):
            continue
        moved = sum(state.committed.values()) - sum((before.detail.get("committed") or {}).values() if before else [])
        out.append(Consumed(export, dest.name, "kafka", "kafka", state.group, now, None, moved,
                            {"topic": dest.topic, "committed": committed,
                             "end": {str(p): o for p, o in sorted(state.end.items())}, "lag": state.lag}))
    return out


# ------------------------------------------------------------------------------------------- log


def _schema() -> Any:
    """The registry's ``export_consumption`` columns as a pyarrow schema (timestamps in UTC)."""
    from tagfactory.lakehouse.schemas import arrow_schema

    return arrow_schema(table_spec("export_consumption"))


def _read(settings: Settings) -> Any:
    """The log as a pyarrow table (delta-rs, no Spark); None before the first observation."""
    from tagfactory.lakehouse.reads import TableLocation, load_table, read_arrow

    table = load_table(TableLocation.parse(settings.table_uri(CONSUMPTION_TABLE)), None)
    return None if table is None else read_arrow(table)


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def read_log(settings: Settings) -> list[Consumed]:
    """Every recorded observation (delta-rs, no Spark); [] before the first."""
    return _records(_read(settings))


def _records(log: Any) -> list[Consumed]:
    if log is None:
        return []
    return [Consumed(r["export"], r["destination"], r["kind"], r["how"], r["consumer"], _naive_utc(r["consumed_at"]),
                     r["dt"], r["rows"], json.loads(r["detail"] or "{}")) for r in log.to_pylist()]


def append_log(settings: Settings, records: list[Consumed], now: dt.datetime | None = None) -> int:
    """Append the observations that are not on record yet; returns how many were written."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from tagfactory.lakehouse.paths import TableLocation

    if not records:
        return 0
    log = _read(settings)
    seen = {r.key() for r in _records(log)}
    new = []
    for record in records:
        if record.key() not in seen:
            seen.add(record.key())
            new.append(record)
    if not new:
        return 0
    recorded = now or utc_now()
    rows = [{**asdict(r), "detail": json.dumps(r.detail, sort_keys=True), "recorded_at": recorded} for r in new]
    # a log written before the registry listed it stores naive timestamps: appends keep its schema
    schema = log.schema if log is not None else _schema()
    write_deltalake(TableLocation.parse(settings.table_uri(CONSUMPTION_TABLE)).delta_uri,
                    pa.Table.from_pylist(rows, schema=schema), mode="append")
    return len(new)
