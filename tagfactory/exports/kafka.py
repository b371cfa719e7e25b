"""Deliver a selection to a Kafka topic, exactly once per export and date (docs/exports.md "Kafka topics").

Protocol (``produce_run``, in one Spark task over the message frame of
:func:`tagfactory.exports.kafka_messages.build_messages`):

1. one transactional producer, ``transactional.id = tagfactory.<export>.<date>.<destination>``;
   ``init_transactions()`` fences a previous attempt of the same id (killed, lost, still running)
   and aborts its open transaction;
2. the control topic is read (``read_committed``): if it holds a committed run of this export,
   destination, date **and content id**, nothing is sent (status ``unchanged``; this covers a run
   killed after its commit but before its receipt);
3. one transaction: every message (delivery callbacks counted per partition), ``flush()`` must
   return 0, delivered must equal expected with no failure — else the transaction is aborted and
   the task fails; then the end-of-export control message (count and per-partition counts) into
   the topic and the run's record into the control topic, and the commit.

A ``read_committed`` consumer therefore sees all messages of a run and its control message, or
none of them.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tagfactory.errors import ExportError
from tagfactory.exports import kafka_messages as km
from tagfactory.exports.contracts import DeliveredFile, Delivery

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from tagfactory.compiler.export_models import KafkaDestination
    from tagfactory.compiler.manifest import Export
    from tagfactory.exports.contracts import Selection
    from tagfactory.settings import KafkaSettings

RESULT_SCHEMA = "result string"
POLL_EVERY = 10_000


@dataclass(frozen=True)
class RunPlan:
    """Everything the producing task needs (pickled into the Spark task)."""

    config: dict[str, str]
    topic: str
    control_topic: str
    transactional_id: str
    ledger_key: str
    content_id: str
    expected: int
    headers: dict[str, list[tuple[str, str | bytes | None]]]
    control_key: str
    control: dict[str, Any]  # the control message's value without count and partitions
    timeout: float = 60.0
    producer: dict[str, str] = field(default_factory=dict)


def transactional_id(export: str, snapshot_date: dt.date, destination: str) -> str:
    """The producer's transactional id: one per export, date and destination (task)."""
    return f"tagfactory.{export}.{snapshot_date.isoformat()}.{destination}"


def plan_run(selection: Selection, dest: KafkaDestination, kafka: KafkaSettings) -> RunPlan:
    """The run of ``selection`` to ``dest`` (no I/O)."""
    control = json.loads(km.control_value(selection, dest.name, 0, {}))
    producer = {"transaction.timeout.ms": str(kafka.transaction_timeout_ms),
                "message.timeout.ms": str(min(kafka.delivery_timeout_ms, kafka.transaction_timeout_ms))}
    return RunPlan(
        config=kafka.client_config(), topic=dest.topic, control_topic=kafka.control_topic,
        transactional_id=transactional_id(selection.export, selection.snapshot_date, dest.name),
        ledger_key=f"{selection.export}/{dest.name}/{selection.snapshot_date.isoformat()}",
        content_id=selection.content_id, expected=selection.rows_expected,
        headers={t: list(km.headers(selection, t)) for t in km.MESSAGE_TYPES}, control_key=selection.export,
        control=control, timeout=max(60.0, kafka.delivery_timeout_ms / 1000), producer=producer)


def producer_config(plan: RunPlan) -> dict[str, Any]:
    """The transactional producer's librdkafka configuration."""
    return {**plan.config, "transactional.id": plan.transactional_id, "enable.idempotence": True, "acks": "all",
            "linger.ms": 20, "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 1_048_576, "partitioner": "murmur2_random", **plan.producer}


def committed_run(plan: RunPlan) -> dict[str, Any] | None:
    """The newest committed run of this export, destination and date in the control topic (or None)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({**plan.config, "group.id": f"tagfactory-check-{uuid.uuid4().hex[:12]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(plan.control_topic, 0), timeout=plan.timeout)
        if high <= low:
            return None
        consumer.assign([TopicPartition(plan.control_topic, 0, low)])
        found: dict[str, Any] | None = None
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=plan.timeout)
        while dt.datetime.now(dt.UTC) < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return found
                raise ExportError(f"reading {plan.control_topic}: {error}")
            if msg.key() == plan.ledger_key.encode():
                found = json.loads(msg.value() or b"null")
        raise ExportError(f"reading {plan.control_topic}: no end of the partition after {plan.timeout:.0f} s")
    finally:
        consumer.close()


def produce_run(batches: Iterable[pa.RecordBatch], plan: RunPlan,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run the protocol of the module docstring; returns the run's result (status, counts).

    ``batches`` hold ``key``, ``value`` and ``message_type`` (strings); ``progress(n)`` is called
    after each batch with the messages produced so far (tests kill or stop things there).

    Raises:
        ExportError: a delivery failed, the counts differ, or the cluster failed (transaction aborted).
    """
    from confluent_kafka import KafkaException, Producer

    producer = Producer(producer_config(plan))
    try:
        producer.init_transactions(plan.timeout)
        previous = committed_run(plan)
        if previous is not None and previous.get("content_id") == plan.content_id:
            return {"status": "unchanged", "delivered": int(previous["count"]), "failed": 0,
                    "partitions": previous["partitions"], "sent": 0}
        producer.begin_transaction()
        counts, errors = _produce_all(producer, plan, batches, progress)
        problem = _problem(producer.flush(plan.timeout), counts, errors, plan.expected)
        delivered = sum(counts.values())  # after flush(): every delivery callback has been served
        if problem:
            _abort(producer, plan)
            raise ExportError(f"Kafka topic {plan.topic}: {problem}; the transaction was aborted")
        control = json.dumps({**plan.control, "count": delivered,
                              "partitions": {str(p): n for p, n in sorted(counts.items())}}, sort_keys=True)
        tail: list[str | None] = []

        def done(err: Any, _msg: Any) -> None:
            tail.append(None if err is None else str(err))

        producer.produce(plan.topic, value=control, key=plan.control_key, partition=0,
                         headers=plan.headers[km.CONTROL_TYPE], on_delivery=done)
        producer.produce(plan.control_topic, value=control, key=plan.ledger_key, partition=0, on_delivery=done)
        left = producer.flush(plan.timeout)
        if left or tail != [None, None]:
            _abort(producer, plan)
            raise ExportError(f"Kafka topic {plan.topic}: the control message failed ({left} not flushed, "
                              f"{[e for e in tail if e]}); the transaction was aborted")
        producer.commit_transaction(plan.timeout)
        return {"status": "delivered", "delivered": delivered, "failed": 0,
                "partitions": {str(p): n for p, n in sorted(counts.items())}, "sent": delivered + 1}
    except KafkaException as exc:
        _abort(producer, plan)
        raise ExportError(f"Kafka topic {plan.topic}: {exc.args[0]}; the transaction was aborted") from None


def _produce_all(producer: Any, plan: RunPlan, batches: Iterable[pa.RecordBatch],
                 progress: Callable[[int], None] | None) -> tuple[dict[int, int], list[str]]:
    """Produce every message; the delivery callbacks count per partition and collect failures
    (both are filled until ``flush()`` returns)."""
    counts: dict[int, int] = {}
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            p = msg.partition()
            counts[p] = counts.get(p, 0) + 1
        else:
            errors.append(str(err))

    produce, poll, topic, headers = producer.produce, producer.poll, plan.topic, plan.headers
    sent = 0
    for batch in batches:
        keys = batch.column(0).to_pylist()
        values = batch.column(1).to_pylist()
        types = batch.column(2).to_pylist()
        for key, value, mtype in zip(keys, values, types, strict=True):
            while True:
                try:
                    produce(topic, value, key, headers=headers[mtype], on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: serve callbacks, then retry
                    poll(0.05)
            sent += 1
            if sent % POLL_EVERY == 0:
                poll(0)
        if progress is not None:
            progress(sent)
    return counts, errors


def _problem(left: int, counts: dict[int, int], errors: list[str], expected: int) -> str | None:
    delivered = sum(counts.values())
    if left:
        return f"flush() left {left:,} messages undelivered"
    if errors:
        return f"{len(errors):,} deliveries failed (first: {errors[0]})"
    if delivered != expected:
        return f"delivered {delivered:,} messages, expected {expected:,}"
    return None


def _abort(producer: Any, plan: RunPlan) -> None:
    """Abort the open transaction if the cluster lets us (else the next attempt's init aborts it)."""
    from confluent_kafka import KafkaException

    try:
        producer.abort_transaction(min(plan.timeout, 30.0))
    except KafkaException:
        pass


def _task(plan: RunPlan) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of the producing task: one result row (JSON)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        try:
            result = produce_run(batches, plan)
        except ExportError as exc:
            result = {"status": "failed", "error": str(exc)}
        yield pa.RecordBatch.from_pydict({"result": [json.dumps(result)]})

    return run


def _local_workers_run_this_python(spark: SparkSession) -> None:
    """A local master's Python workers run the driver's interpreter (PySpark's default is ``python3``
    from PATH, which may lack pyarrow and confluent-kafka); spark-submit (the DAG) sets PYSPARK_PYTHON."""
    import os
    import sys

    context = spark.sparkContext
    if (context.master or "").startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        context.pythonExec = sys.executable


def deliver_kafka(spark: SparkSession, selection: Selection, export: Export, dest: KafkaDestination,
                  kafka: KafkaSettings) -> Delivery:
    """Ship the staged selection to ``dest``'s topic in one transaction (see the module docstring).

    Raises:
        ExportError: the topic's settings differ, the run failed (nothing of it is visible to
            ``read_committed`` consumers), or the counts do not reconcile.
    """
    from tagfactory.exports.kafka_topics import CONTROL_CONFIGS, destination_configs, ensure_topic

    started = dt.datetime.now(dt.UTC)
    plan = plan_run(selection, dest, kafka)
    ensure_topic(plan.config, dest.topic, dest.partitions, destination_configs(dest.retention_hours),
                 kafka.replication_factor)
    ensure_topic(plan.config, kafka.control_topic, 1, CONTROL_CONFIGS, kafka.replication_factor)
    frame = km.build_messages(spark, selection, export).coalesce(1)
    _local_workers_run_this_python(spark)
    rows = frame.mapInArrow(_task(plan), RESULT_SCHEMA).collect()
    result = json.loads(rows[0]["result"]) if rows else json.loads(next(_task(plan)(iter([]))).column(0)[0].as_py())
    if result["status"] == "failed":
        raise ExportError(f"export {selection.export} -> {dest.name}: {result['error']}")
    detail = {"topic": dest.topic, "transactional_id": plan.transactional_id,
              "partitions": json.dumps(result["partitions"], sort_keys=True), "failed": str(result["failed"]),
              "flush_remaining": "0", "messages_sent": str(result["sent"])}
    # one "file" per partition: its messages (the receipt's `files` counts the partitions written)
    partitions = tuple(DeliveredFile(f"{dest.topic}:{p}", int(n), 0, "")
                       for p, n in sorted(result["partitions"].items(), key=lambda kv: int(kv[0])))
    return Delivery(dest.name, dest.kind, f"kafka:{dest.topic}", result["status"], int(result["delivered"]),
                    started, dt.datetime.now(dt.UTC), files=partitions, detail=detail)
