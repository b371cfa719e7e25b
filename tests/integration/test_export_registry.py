"""The export registry on real components: a file drop folder with ``_SUCCESS`` acknowledged by
``tagfactory exports ack`` (local Spark, the drops' Hadoop file system layer), and the consumer-group
offsets of a transactional topic on the real Kafka broker (tests/servers/kafka.py).

Runs the CLI in this process: it starts and stops its own Spark session, so run this file alone
(as every Spark test file is run, under the lock).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tagfactory.cli import main
from tagfactory.compiler.manifest import Manifest, write_manifest
from tagfactory.exports import consumption, registry
from tagfactory.exports.kafka_topics import ensure_topic
from tagfactory.settings import load_settings
from tests.unit.test_export_registry import _settings_from_the_test_only, export_of, receipt  # noqa: F401 - autouse

if TYPE_CHECKING:
    from tests.servers.kafka import KafkaBroker

pytestmark = [pytest.mark.spark, pytest.mark.slow]

D = dt.date(2026, 11, 24)
MESSAGES = 40


def _produce(bootstrap: str, topic: str, n: int) -> None:
    """``n`` messages in one committed transaction (so the topic holds commit markers)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"reg-{uuid.uuid4().hex[:6]}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(n):
        producer.produce(topic, key=f"u{i:04d}".encode(), value=b"{}")
    producer.commit_transaction(30)


def _consume_all(bootstrap: str, topic: str, group: str, n: int) -> None:
    """A read_committed consumer of ``group`` reads ``n`` messages and commits its offsets."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        seen = 0
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen += 1
                if seen == n:
                    break
        assert seen == n
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def test_a_drop_acknowledged_and_a_topic_read_to_its_end_are_consumed(tmp_path: Path,
                                                                      kafka_broker: KafkaBroker) -> None:
    topic = f"popup-{uuid.uuid4().hex[:6]}"
    export = export_of("popup", [{"kind": "files", "name": "drop", "path": "popup/daily"},
                                 {"kind": "kafka", "name": "bus", "topic": topic, "partitions": 2}])
    manifest = write_manifest(Manifest(tagfactory_version="t", definitions="d", entities=[],
                                       exports=[export]).sealed(), tmp_path / "target")
    config = tmp_path / "settings.yaml"
    config.write_text(f"warehouse: {tmp_path / 'wh'}\nexports_root: {tmp_path / 'drops'}\n"
                      f"kafka: {{bootstrap_servers: '{kafka_broker.bootstrap}'}}\n")
    settings = load_settings(config)
    args = ["exports", "ack", "popup", "--date", D.isoformat(), "--destination", "drop", "--by", "crm-loader",
            "--manifest", str(manifest), "--config", str(config)]

    # a drop folder as deliver_files leaves it, but not complete yet: nothing to acknowledge
    run = tmp_path / "drops" / "popup" / "daily" / f"dt={D}" / "run=c1"
    run.mkdir(parents=True)
    (run.parent / "_LATEST").write_text("run=c1")
    assert main(args) == 1
    assert not (run / "_ACK").exists()
    (run / "_SUCCESS").write_text(json.dumps({"manifest_sha256": "0" * 64, "rows": 7, "files": 1}))
    assert main([*args, "--rows-loaded", "7"]) == 0
    body = json.loads((run / "_ACK").read_text())
    assert (body["consumer"], body["rows_loaded"], body["snapshot_date"], body["content_id"]) == (
        "crm-loader", 7, D.isoformat(), "c1")

    # the topic: produced in a transaction, read to its end (commit markers included) by one group
    ensure_topic(settings.kafka.client_config(), topic, 2, {})
    _produce(kafka_broker.bootstrap, topic, MESSAGES)
    _consume_all(kafka_broker.bootstrap, topic, "popup-service", MESSAGES)
    states = consumption.group_states(settings.kafka.client_config(), topic)
    # librdkafka commits the position past the commit marker of a partition it read (41 for 40 messages)
    assert [(s.group, s.caught_up) for s in states] == [("popup-service", True)]
    assert MESSAGES <= sum(states[0].committed.values()) <= MESSAGES + 2

    entries = registry.collect(settings, [export])  # as of today: observes and records
    outlets = {o.name: o for o in entries[0].outlets}
    assert outlets["drop"].consumed_by == "crm-loader"
    assert outlets["bus"].consumed_by == "popup-service" and outlets["bus"].note == ""
    logged = consumption.read_log(settings)
    assert sorted((r.how, r.consumer) for r in logged) == [("ack", "crm-loader"), ("kafka", "popup-service")]
    assert registry.collect(settings, [export]) and len(consumption.read_log(settings)) == 2  # nothing new

    # new messages nobody reads: the group falls behind and no consumption is recorded
    _produce(kafka_broker.bootstrap, topic, MESSAGES)
    behind = consumption.group_states(settings.kafka.client_config(), topic)[0]
    assert not behind.caught_up and behind.lag >= MESSAGES
    registry.collect(settings, [export])
    assert len(consumption.read_log(settings)) == 2

    listed: dict[str, Any] = json.loads(registry.listing(str(config), str(manifest), None, "json"))
    assert listed["exports"][0]["destinations"][1]["consumed_by"] == "popup-service"

    # idle after N days without consumption, measured from what was observed today
    today = consumption.utc_now().date()
    delivered = [receipt("popup", today, destination="bus")]
    log = consumption.read_log(settings)
    days = settings.exports.idle_after_days
    assert registry.build([export], delivered, log, today + dt.timedelta(days=days - 1), days)[0].idle is False
    assert registry.build([export], delivered, log, today + dt.timedelta(days=days), days)[0].idle_since == today


def test_a_retired_export_is_cleaned_after_its_retention_latest_included(tmp_path: Path, spark: Any) -> None:
    from tagfactory.exports.retired import clean_retired, needs_cleaning

    settings = load_settings(None, {"exports_root": str(tmp_path)})
    export = export_of("gone", lifecycle="retired")  # retention 30 days, a run-layout drop at gone/... path
    root = tmp_path / "crm" / "daily"
    for day in (D - dt.timedelta(days=40), D - dt.timedelta(days=35), D - dt.timedelta(days=5)):
        (root / f"dt={day}" / "run=c1").mkdir(parents=True)
        (root / f"dt={day}" / "run=c1" / "_SUCCESS").write_text("{}")
    (root / "_LATEST").write_text(f"dt={D - dt.timedelta(days=35)}/run=c1")
    assert needs_cleaning(export)
    removed = clean_retired(spark, settings, export, D)
    assert sorted(removed["drop"]) == [f"dt={D - dt.timedelta(days=40)}", f"dt={D - dt.timedelta(days=35)}"]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [f"dt={D - dt.timedelta(days=5)}"]
