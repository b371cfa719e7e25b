"""Session-scoped pytest fixtures for real servers (loaded by tests/conftest.py's ``pytest_plugins``).

Each server starts on first request only (tests that do not ask for one pay nothing), on free
loopback ports, logs into the test run's temporary folder and is stopped by its own process group
at the end of the session. Start-up seconds are printed once in the terminal summary.
See tests/servers/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.hdfs import HdfsCluster, start_hdfs
from tests.servers.kafka import KafkaBroker, start_kafka
from tests.servers.process import STARTUP_SECONDS, ServerError


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka 4.4 (KRaft, broker+controller, transactions) on 127.0.0.1."""
    broker = _started(start_kafka, tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def hdfs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HdfsCluster]:
    """HDFS mini cluster (Hadoop 3.5.0: one NameNode, one DataNode) on 127.0.0.1."""
    cluster = _started(start_hdfs, tmp_path_factory.mktemp("hdfs"))
    yield cluster
    cluster.stop()


def _started(starter, workdir):  # type: ignore[no-untyped-def]
    try:
        return starter(workdir)
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line with what the servers started in this run cost (seconds until ready)."""
    if STARTUP_SECONDS:
        costs = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in STARTUP_SECONDS.items())
        terminalreporter.write_sep("-", f"test servers start-up: {costs}")
