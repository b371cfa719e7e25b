"""Exactly-once on a real Apache Kafka broker: committed transactions are visible, aborted ones not.

The broker is Apache Kafka 4.4.0 in KRaft mode (tests/servers/kafka.py). The stand-in used before
(tansu) and librdkafka's mock cluster both showed aborted records to ``read_committed``
consumers, so this could not be tested until now.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from tests.servers.process import non_loopback

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers.kafka import KafkaBroker

pytestmark = pytest.mark.slow

COMMITTED = [f"committed-{i}" for i in range(6)]
ABORTED = [f"aborted-{i}" for i in range(4)]


@pytest.fixture(scope="module")
def topic(kafka_broker: KafkaBroker) -> str:
    """A 3-partition topic holding one committed and one aborted transaction (plus a commit after)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"orders-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)

    producer = Producer(
        {
            "bootstrap.servers": kafka_broker.bootstrap,
            "transactional.id": f"tx-{name}",
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    producer.init_transactions(30)

    producer.begin_transaction()
    for i, value in enumerate(COMMITTED[:3]):
        producer.produce(name, value=value.encode(), key=str(i).encode(), partition=i % 3)
    producer.commit_transaction(30)

    producer.begin_transaction()
    for i, value in enumerate(ABORTED):
        producer.produce(name, value=value.encode(), key=str(i).encode(), partition=i % 3)
    producer.flush(30)  # the aborted records really reach the log before the abort marker
    producer.abort_transaction(30)

    # a second committed transaction after the aborted one: the aborted records sit between
    # committed ones in every partition, not only at the end
    producer.begin_transaction()
    for i, value in enumerate(COMMITTED[3:]):
        producer.produce(name, value=value.encode(), key=str(i).encode(), partition=i % 3)
    producer.commit_transaction(30)
    return name


def consume_all(bootstrap: str, topic: str, isolation: str) -> list[str]:
    """Every value readable at ``isolation.level`` from offset 0 of all partitions."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
        values: list[str] = []
        at_end: set[int] = set()
        for _ in range(200):  # bounded: 200 polls of up to 0.5 s
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    if len(at_end) == 3:
                        break
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            values.append(msg.value().decode())
        assert len(at_end) == 3, f"did not reach the end of all partitions: {sorted(at_end)}"
        return values
    finally:
        consumer.close()


def test_broker_listens_on_loopback_only(kafka_broker: KafkaBroker) -> None:
    assert non_loopback(kafka_broker.process.pid) == []


def test_read_committed_sees_only_committed_transactions(kafka_broker: KafkaBroker, topic: str) -> None:
    seen = consume_all(kafka_broker.bootstrap, topic, "read_committed")
    assert sorted(seen) == sorted(COMMITTED)


def test_read_uncommitted_also_sees_aborted_records(kafka_broker: KafkaBroker, topic: str) -> None:
    """The control case: the aborted records are in the log, so the test above can fail."""
    seen = consume_all(kafka_broker.bootstrap, topic, "read_uncommitted")
    assert sorted(seen) == sorted(COMMITTED + ABORTED)


@pytest.mark.spark
def test_spark_kafka_source_reads_committed_only(
    spark: SparkSession, kafka_broker: KafkaBroker, topic: str
) -> None:
    """spark-sql-kafka-0-10 (.jars/spark) batch read with kafka.isolation.level=read_committed."""
    def read(isolation: str) -> list[str]:
        frame = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", kafka_broker.bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .option("kafka.isolation.level", isolation)
            .load()
        )
        return [row.value for row in frame.selectExpr("CAST(value AS STRING) AS value").collect()]

    assert sorted(read("read_committed")) == sorted(COMMITTED)
    assert sorted(read("read_uncommitted")) == sorted(COMMITTED + ABORTED)
