"""A real Apache Kafka broker (KRaft, one node as broker and controller) on loopback.

Jars: ``.jars/kafka-broker/`` (jvm/kafka-broker/pom.xml, `make jars`). Transactions work on a single
node because every internal topic has replication factor 1.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.servers.process import (
    LOOPBACK,
    ServerProcess,
    free_port,
    jar_set,
    java,
    run,
    start,
)

LOG4J2 = """\
status = error
appender.file.type = Console
appender.file.name = STDOUT
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = STDOUT
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""

JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: a test broker starts faster and needs no peak speed
    "-Djava.net.preferIPv4Stack=true",
    "-Djava.awt.headless=true",
]


@dataclass
class KafkaBroker:
    """A running broker: ``bootstrap`` is what clients pass as ``bootstrap.servers``."""

    bootstrap: str
    port: int
    controller_port: int
    process: ServerProcess
    config: Path

    def stop(self) -> None:
        self.process.stop()


def broker_properties(port: int, controller_port: int, log_dir: Path) -> str:
    """server.properties of the single-node KRaft broker (every listener on 127.0.0.1)."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOOPBACK}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        # one node: every internal topic with replication factor 1, so transactions work
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.flush.interval.messages": "10000",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def start_kafka(workdir: Path, timeout: float = 90.0) -> KafkaBroker:
    """Format KRaft storage under ``workdir`` and start the broker; returns when it answers."""
    began = time.monotonic()
    jars = jar_set("kafka-broker")
    java_bin = java()
    workdir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    config = workdir / "server.properties"
    config.write_text(broker_properties(port, controller_port, workdir / "data"))
    log4j = workdir / "log4j2.properties"
    log4j.write_text(LOG4J2)
    classpath = f"{jars}/*"
    common = [java_bin, *JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    cluster_id = _cluster_id()
    log = workdir / "kafka.log"
    run(
        [*common, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
        log,
        timeout=timeout,
        what="kafka storage format",
    )
    process = start("kafka", [*common, "kafka.Kafka", str(config)], log)
    bootstrap = f"{LOOPBACK}:{port}"
    process.wait_ready(lambda: _answers(bootstrap), timeout, f"a metadata request to {bootstrap}", began)
    return KafkaBroker(bootstrap, port, controller_port, process, config)


def _cluster_id() -> str:
    """A random KRaft cluster id (base64url of 16 bytes) that does not start with ``-``: StorageTool's
    argument parser would take such an id (one in 64) for an option (``-t: expected one argument``);
    Kafka's own ``Uuid.randomUuid()`` redraws those too."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def restart_kafka(broker: KafkaBroker, timeout: float = 90.0) -> KafkaBroker:
    """Start a stopped broker again on its ports and data (a broker that went away mid-run came back)."""
    began = time.monotonic()
    log4j = broker.config.parent / "log4j2.properties"
    common = [java(), *JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{jar_set('kafka-broker')}/*"]
    process = start("kafka", [*common, "kafka.Kafka", str(broker.config)], broker.config.parent / "kafka.log")
    process.wait_ready(lambda: _answers(broker.bootstrap), timeout, f"a metadata request to {broker.bootstrap}", began)
    return KafkaBroker(broker.bootstrap, broker.port, broker.controller_port, process, broker.config)


def _answers(bootstrap: str) -> bool:
    """A real client request: the broker returns cluster metadata listing itself."""
    from confluent_kafka.admin import AdminClient

    # log_level 0: the probe's "connection refused" while the broker starts is expected, not news
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "log_level": 0})
    metadata = admin.list_topics(timeout=2)
    return bool(metadata.brokers)
