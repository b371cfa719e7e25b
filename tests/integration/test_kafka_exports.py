"""Kafka export destination (tagfactory/exports/kafka.py) on a real Apache Kafka 4.4 broker with
transactions: a producer killed half-way, re-runs, the broker stopped mid-export, message schemas."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tagfactory.compiler.export_models import KafkaDestination
from tagfactory.compiler.manifest import Export
from tagfactory.errors import ExportError
from tagfactory.exports import kafka_messages as km
from tagfactory.exports.contracts import ExportedColumn, Selection
from tagfactory.exports.kafka import committed_run, deliver_kafka, plan_run, produce_run
from tagfactory.exports.kafka_topics import CONTROL_CONFIGS, destination_configs, ensure_topic
from tagfactory.settings import KafkaSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers.kafka import KafkaBroker

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
D = dt.date(2026, 11, 24)
N = 300
PARTITIONS = 3
HEADERS = {"export", "content_id", "snapshot_date", "source_table_version", "message_type"}
#: (name, from, type) of the columns of each kind of rows
COLUMNS = {
    "changes": [("user_id", "key", "string"), ("audience", "audience", "string"), ("change", "change", "string"),
                ("value_tier", "tag.value_tier", "string"), ("score", "tag.score", "int")],
    "members": [("user_id", "key", "string"), ("audience", "audience", "string"), ("email_sha256", "users.email",
                                                                                    "string")],
    "scenes": [("user_id", "key", "string"), ("scene", "scene", "string"), ("branch", "branch", "string"),
               ("group", "group", "string"), ("variant", "variant", "string"), ("payload", "payload", "string")],
    "tag_slice": [("user_id", "key", "string"), ("value_tier", "tag.value_tier", "string"),
                  ("interests", "tag.interests", "array<string>")],
}
WHAT = {"changes": {"kind": "changes", "audiences": ["a"]}, "members": {"kind": "members", "audiences": ["a"]},
        "scenes": {"kind": "scenes", "scenes": ["s"]}, "tag_slice": {"kind": "tag_slice", "audiences": ["a"]}}


def export_of(kind: str, topic: str = "t") -> Export:
    def column(name: str, ref: str, type_: str) -> dict[str, Any]:
        origin = "tag" if ref.startswith("tag.") else "source" if "." in ref else "builtin"
        return {"name": name, "origin": origin, "ref": ref.removeprefix("tag."), "type": type_, "source_type": type_}

    return Export.model_validate({
        "name": "changes_stream", "display_name": "x", "description": "x", "owner": "o", "purpose": "p",
        "consumer": {"system": "s", "team": "t", "contact": "c"}, "lifecycle": "active", "entity": "user",
        "definition": "x.yaml:1", "what": WHAT[kind], "columns": [column(*c) for c in COLUMNS[kind]],
        "suppression": {}, "schedule": {}, "retention": {},
        "destinations": [{"kind": "kafka", "name": "bus", "topic": topic, "partitions": PARTITIONS}]})


def rows_of(kind: str, n: int) -> list[tuple[Any, ...]]:
    if kind == "changes":
        return [(f"u{i:04d}", "a", "entered" if i % 3 else "exited", None if i % 7 == 0 else "gold", i)
                for i in range(n)]
    if kind == "members":
        return [(f"u{i:04d}", "a", "ab" * 32) for i in range(n)]
    if kind == "scenes":
        return [(f"u{i:04d}", "s", "b1", None, "v2", '{"x": 1}') for i in range(n)]
    return [(f"u{i:04d}", "gold", ["x", "y"] if i % 2 else None) for i in range(n)]


def make_selection(spark: SparkSession, base: Path, kind: str, n: int, cid: str = "c1") -> Selection:
    staged = base / f"staged-{kind}-{cid}"
    schema = ", ".join(f"`{name}` {type_.upper()}" for name, _, type_ in COLUMNS[kind])
    spark.createDataFrame(rows_of(kind, n), schema).write.mode("overwrite").parquet(str(staged))
    return Selection(export="changes_stream", entity="user", snapshot_date=D, content_id=cid,
                     staged_uri=str(staged), columns=tuple(ExportedColumn(c[0], c[2]) for c in COLUMNS[kind]),
                     source_versions={"audience_changes_user": 4}, manifest_digest="d" * 64, rows_selected=n + 1,
                     rows_suppressed={"opt_out": 1})


def settings_for(broker: KafkaBroker, **kw: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=broker.bootstrap, control_topic=f"control-{uuid.uuid4().hex[:6]}", **kw)


def consume(bootstrap: str, topic: str, isolation: str = "read_committed") -> list[Any]:
    """Every message readable at ``isolation`` from offset 0 of all partitions."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "isolation.level": isolation, "enable.auto.commit": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: list[Any] = []
        at_end: set[int] = set()
        for _ in range(400):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_end.add(msg.partition())
                if len(at_end) == PARTITIONS:
                    break
                continue
            out.append(msg)
        assert len(at_end) == PARTITIONS
        return out
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)]
    finally:
        consumer.close()


def check_one_copy(bootstrap: str, topic: str, n: int) -> None:
    """read_committed: n data messages with n distinct event ids, then one control message counting them."""
    seen = consume(bootstrap, topic)
    data = [m for m in seen if dict(m.headers())["message_type"] != km.CONTROL_TYPE.encode()]
    control = [m for m in seen if dict(m.headers())["message_type"] == km.CONTROL_TYPE.encode()]
    assert len(data) == n
    assert len({json.loads(m.value())["event_id"] for m in data}) == n
    assert len(control) == 1
    body = json.loads(control[0].value())
    assert body["count"] == n and sum(body["partitions"].values()) == n
    for m in data:
        assert {k for k, _ in m.headers()} == HEADERS
        assert m.key().decode() == json.loads(m.value())["key"]


def test_killed_half_way_then_rerun_leaves_one_copy(spark: SparkSession, kafka_broker: KafkaBroker,
                                                    tmp_path: Path) -> None:
    topic = f"changes-{uuid.uuid4().hex[:6]}"
    selection = make_selection(spark, tmp_path, "changes", N)
    export, kafka = export_of("changes", topic), settings_for(kafka_broker)
    dest = export.destinations[0]
    assert isinstance(dest, KafkaDestination)
    plan = plan_run(selection, dest, kafka)
    assert ensure_topic(plan.config, topic, PARTITIONS, destination_configs(dest.retention_hours)) == "created"
    assert ensure_topic(plan.config, kafka.control_topic, 1, CONTROL_CONFIGS) == "created"
    messages = tmp_path / "messages"
    km.build_messages(spark, selection, export).write.parquet(str(messages))
    (tmp_path / "plan.pickle").write_bytes(pickle.dumps(plan))
    # the producing task, killed (SIGKILL) after 150 messages reached the broker, inside its transaction
    script = textwrap.dedent(f"""
        import os, pickle, signal, time
        import pyarrow.parquet as pq
        from tagfactory.exports.kafka import produce_run
        plan = pickle.loads(open({str(tmp_path / 'plan.pickle')!r}, "rb").read())
        batches = pq.read_table({str(messages)!r}).to_batches(max_chunksize=50)
        def progress(n):
            if n >= 150:
                time.sleep(1.5)  # linger: the messages are sent
                os.kill(os.getpid(), signal.SIGKILL)
        produce_run(batches, plan, progress)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    assert len(consume(kafka_broker.bootstrap, topic, "read_uncommitted")) >= 150  # in the log, uncommitted
    assert consume(kafka_broker.bootstrap, topic) == []

    delivery = deliver_kafka(spark, selection, export, dest, kafka)
    assert (delivery.status, delivery.rows_delivered) == ("delivered", N)
    parts = json.loads(delivery.detail["partitions"])
    assert sum(parts.values()) == N and len(parts) == PARTITIONS
    assert (delivery.detail["failed"], delivery.detail["flush_remaining"]) == ("0", "0")
    assert {f.name: f.rows for f in delivery.files} == {f"{topic}:{p}": n for p, n in parts.items()}
    check_one_copy(kafka_broker.bootstrap, topic, N)

    # a re-run of the published date sends nothing (also when the receipt was never written)
    before = end_offsets(kafka_broker.bootstrap, topic)
    again = deliver_kafka(spark, selection, export, dest, kafka)
    assert (again.status, again.rows_delivered, again.detail["messages_sent"]) == ("unchanged", N, "0")
    assert end_offsets(kafka_broker.bootstrap, topic) == before
    check_one_copy(kafka_broker.bootstrap, topic, N)
    assert committed_run(plan)["content_id"] == "c1"  # type: ignore[index]


def test_topic_config_is_checked(kafka_broker: KafkaBroker) -> None:
    topic, config = f"cfg-{uuid.uuid4().hex[:6]}", {"bootstrap.servers": kafka_broker.bootstrap}
    assert ensure_topic(config, topic, 2, destination_configs(24)) == "created"
    assert ensure_topic(config, topic, 2, destination_configs(24)) == "checked"
    with pytest.raises(ExportError, match="2 partitions, configured 3"):
        ensure_topic(config, topic, 3, destination_configs(24))
    with pytest.raises(ExportError, match="retention.ms=86400000, configured 172800000"):
        ensure_topic(config, topic, 2, destination_configs(48))


def test_broker_stopped_mid_export_fails_then_rerun_loses_nothing(spark: SparkSession, tmp_path: Path) -> None:
    from tests.servers.kafka import restart_kafka, start_kafka

    broker = start_kafka(tmp_path / "kafka")
    try:
        topic = f"stop-{uuid.uuid4().hex[:6]}"
        selection = make_selection(spark, tmp_path, "changes", N)
        export = export_of("changes", topic)
        dest = export.destinations[0]
        assert isinstance(dest, KafkaDestination)
        kafka = settings_for(broker, delivery_timeout_ms=4000, transaction_timeout_ms=60_000)
        plan = dataclasses.replace(plan_run(selection, dest, kafka), timeout=8.0)
        ensure_topic(plan.config, topic, PARTITIONS, destination_configs(dest.retention_hours))
        ensure_topic(plan.config, kafka.control_topic, 1, CONTROL_CONFIGS)
        batches = km.build_messages(spark, selection, export).toArrow().to_batches(max_chunksize=50)

        def stop_broker(n: int) -> None:
            if n == 50:
                broker.stop()

        with pytest.raises(ExportError, match="transaction was aborted"):
            produce_run(batches, plan, stop_broker)
        broker = restart_kafka(broker)
        delivery = deliver_kafka(spark, selection, export, dest, kafka)
        assert (delivery.status, delivery.rows_delivered) == ("delivered", N)
        check_one_copy(broker.bootstrap, topic, N)
    finally:
        broker.stop()


@pytest.mark.parametrize("kind", ["changes", "members", "scenes", "tag_slice"])
def test_every_message_type_matches_its_schema(spark: SparkSession, tmp_path: Path, kind: str) -> None:
    from jsonschema import Draft202012Validator, FormatChecker

    selection = make_selection(spark, tmp_path, kind, 12)
    export = export_of(kind)
    frame = km.build_messages(spark, selection, export)
    rows = frame.collect()
    assert len(rows) == 12
    types = set()
    for row in rows:
        value = json.loads(row["value"])
        types.add(row["message_type"])
        assert value["message_type"] == row["message_type"] and value["key"] == row["key"]
        Draft202012Validator(km.message_schema(row["message_type"]), format_checker=FormatChecker()).validate(value)
        assert set(value["data"]) == {c[0] for c in COLUMNS[kind]}  # nulls are delivered as null
    assert types == set(km.KIND_TYPES[kind])
    # event ids: the same on every run, distinct per row
    again = {r["key"]: json.loads(r["value"])["event_id"] for r in frame.collect()}
    assert again == {r["key"]: json.loads(r["value"])["event_id"] for r in rows}
    assert len(set(again.values())) == 12
    control = json.loads(km.control_value(selection, "bus", 12, {0: 5, 1: 7}))
    Draft202012Validator(km.message_schema(km.CONTROL_TYPE), format_checker=FormatChecker()).validate(control)
    for mtype in km.MESSAGE_TYPES:  # every schema is a valid JSON Schema
        Draft202012Validator.check_schema(km.message_schema(mtype))
