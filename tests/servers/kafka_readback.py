"""Read the committed messages of export topics back, as a consumer of the pop-up service would.

``make demo`` calls :func:`summarize` after the DAG runs: a ``read_committed`` consumer in a named
group reads every partition of each topic from the beginning to its end, commits its offsets (so
the service registry sees the group's lag drop to 0), and the counts per message type and date are
printed next to the control messages' counts, then the first message of each type (key, headers,
value) so a consumer's developer sees what arrives.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CONTROL_TYPE = "export_completed"


@dataclass
class TopicSummary:
    """What one topic holds for ``read_committed`` consumers."""

    topic: str
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)  # (snapshot_date, message_type) -> n
    event_ids: set[str] = field(default_factory=set)
    controlled: Counter[str] = field(default_factory=Counter)  # snapshot_date -> sum of the control counts
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)  # message_type -> its first message

    @property
    def data_messages(self) -> int:
        return sum(n for (_, kind), n in self.messages.items() if kind != CONTROL_TYPE)

    def lines(self) -> list[str]:
        out = [f"topic {self.topic}: {self.data_messages:,} messages, {len(self.event_ids):,} distinct event ids"]
        for (date, kind), n in sorted(self.messages.items()):
            note = ""
            if kind == CONTROL_TYPE:
                note = f" (their counts add up to {self.controlled[date]:,})"
            out.append(f"  {date}  {kind:<18} {n:>8,}{note}")
        for kind, example in sorted(self.examples.items()):
            out.append(f"  first {kind}: {json.dumps(example, ensure_ascii=False, sort_keys=True)}")
        return out


def read_topic(bootstrap: str, topic: str, group: str, timeout: float = 60.0) -> TopicSummary:
    """Every committed message of ``topic`` from offset 0 to the end; commits the group's offsets."""
    import time

    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_committed",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    summary = TopicSummary(topic)
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: partitions {sorted(set(partitions) - at_end)} not read to the end "
                                   f"in {timeout:.0f} s")
            for msg in consumer.consume(1000, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"{topic}: {error}")
                    at_end.add(msg.partition())
                    continue
                _count(summary, msg)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return summary


def _count(summary: TopicSummary, msg: Any) -> None:
    headers = {k: (v or b"").decode() for k, v in msg.headers() or []}
    kind, date = headers.get("message_type", "?"), headers.get("snapshot_date", "?")
    summary.messages[(date, kind)] += 1
    body = json.loads(msg.value())
    key = msg.key()
    summary.examples.setdefault(kind, {"key": key.decode() if key is not None else None, "headers": headers,
                                       "value": body})
    if kind == CONTROL_TYPE:
        summary.controlled[date] += int(body["count"])
    else:
        summary.event_ids.add(body["event_id"])


def kafka_topics(manifest_path: str) -> list[str]:
    """The topics of the compiled manifest's Kafka destinations (exports that are not retired)."""
    with open(manifest_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    return sorted({d["topic"] for x in manifest.get("exports", []) if x.get("lifecycle") != "retired"
                   for d in x.get("destinations", []) if d.get("kind") == "kafka"})


def summarize(bootstrap: str, manifest_path: str, group: str) -> list[str]:
    """Printable lines: per topic of the manifest, the committed messages per date and type."""
    lines: list[str] = []
    for topic in kafka_topics(manifest_path):
        lines += read_topic(bootstrap, topic, group).lines()
    return lines
