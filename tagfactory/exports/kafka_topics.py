"""Topics of Kafka destinations: created with the configured partitions and retention if absent,
their configuration checked if present (confluent-kafka's admin client; docs/exports.md).

Every destination topic is ``cleanup.policy=delete`` with ``retention.ms`` from the definition's
``retention_hours``. The control topic (settings ``kafka.control_topic``) is one compacted partition
holding the newest committed run of each export, destination and date.
"""

from __future__ import annotations

from typing import Any

from tagfactory.errors import ExportError

HOUR_MS = 3_600_000


def ensure_topic(config: dict[str, Any], topic: str, partitions: int, configs: dict[str, str],
                 replication_factor: int = -1, timeout: float = 30.0) -> str:
    """Create ``topic`` if absent; else check its partitions and ``configs``. Returns created|checked.

    Raises:
        ExportError: the topic exists with other partitions or configuration, or the cluster fails.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient(dict(config))
    try:
        found = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
        if found is None or found.error is not None:
            future = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                                   replication_factor=replication_factor, config=configs)],
                                         operation_timeout=timeout)[topic]
            try:
                future.result(timeout)
                return "created"
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # created by a concurrent task: check it
                    raise
            found = admin.list_topics(topic=topic, timeout=timeout).topics[topic]
        problems = []
        if len(found.partitions) != partitions:
            problems.append(f"{len(found.partitions)} partitions, configured {partitions}")
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        entries: dict[str, Any] = admin.describe_configs([resource])[resource].result(timeout)
        for name, wanted in sorted(configs.items()):
            have = entries[name].value if name in entries else None
            if have != wanted:
                problems.append(f"{name}={have}, configured {wanted}")
    except KafkaException as exc:
        raise ExportError(f"Kafka topic {topic}: {exc.args[0]}") from None
    if problems:
        raise ExportError(f"Kafka topic {topic} exists with other settings: " + "; ".join(problems)
                          + " (change the topic or the destination; partitions decide which partition a key goes to)")
    return "checked"


def destination_configs(retention_hours: int) -> dict[str, str]:
    """Topic configuration of a destination topic."""
    return {"cleanup.policy": "delete", "retention.ms": str(retention_hours * HOUR_MS)}


CONTROL_CONFIGS = {"cleanup.policy": "compact"}
