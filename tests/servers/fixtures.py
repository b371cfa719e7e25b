"""Session-scoped pytest fixtures for real servers (loaded by tests/conftest.py's ``pytest_plugins``).

Each server starts on first request only (tests that do not ask for one pay nothing), on free
loopback ports, logs into the test run's temporary folder and is stopped by its own process group
at the end of the session. Start-up seconds are printed once in the terminal summary.
See tests/servers/README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from tests.servers.hdfs import HdfsCluster, start_hdfs
from tests.servers.hive import HiveMetastore, ThriftServer, start_metastore, start_thrift_server
from tests.servers.kafka import KafkaBroker, start_kafka
from tests.servers.postgres import Postgres, bin_dir, start_postgres
from tests.servers.process import STARTUP_SECONDS, ServerError
from tests.servers.standalone import StandaloneCluster, start_standalone
from tests.servers.yarn import YarnCluster, start_yarn


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """Apache Kafka 4.4 (KRaft, broker+controller, transactions) on 127.0.0.1."""
    yield from _serve(start_kafka, tmp_path_factory.mktemp("kafka"))


@pytest.fixture(scope="session")
def hdfs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HdfsCluster]:
    """HDFS mini cluster (Hadoop 3.5.0: one NameNode, one DataNode) on 127.0.0.1."""
    yield from _serve(start_hdfs, tmp_path_factory.mktemp("hdfs"))


@pytest.fixture(scope="session")
def yarn_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YarnCluster]:
    """YARN mini cluster (Hadoop 3.5.0: one ResourceManager, one NodeManager) on 127.0.0.1."""
    yield from _serve(start_yarn, tmp_path_factory.mktemp("yarn"))


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """Spark 4.2 standalone cluster (one Master, one Worker: 2 cores, 2 GB) from the pyspark wheel on
    127.0.0.1; its executors run a node Python without the project (``.python``)."""
    yield from _serve(start_standalone, tmp_path_factory.mktemp("standalone"))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """PostgreSQL (Debian's package, tests/servers/ensure_postgres.sh) on 127.0.0.1, its data in a temp folder;
    skips when the package is not installed (the script could not install it: no root)."""
    try:
        bin_dir()
    except ServerError as exc:
        pytest.skip(str(exc))
    yield from _serve(start_postgres, tmp_path_factory.mktemp("postgres"))


@pytest.fixture(scope="session")
def hive_metastore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HiveMetastore]:
    """Standalone Hive 2.3.10 metastore (Derby in a temp folder) on 127.0.0.1."""
    yield from _serve(start_metastore, tmp_path_factory.mktemp("hive-metastore"))


@pytest.fixture(scope="session")
def hive_thrift_server(
    hive_metastore: HiveMetastore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThriftServer]:
    """Spark 4.2 Thrift server (HiveServer2 protocol) on ``hive_metastore``, Delta jars loaded."""
    yield from _serve(
        lambda workdir: start_thrift_server(hive_metastore, workdir),
        tmp_path_factory.mktemp("thrift-server"),
    )


class _Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


def _serve(starter: Callable[[Path], S], workdir: Path) -> Iterator[S]:
    """Start a server for the session (a start-up failure fails the test, log tail shown); stop it."""
    try:
        server = starter(workdir)
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line with what the servers started in this run cost (seconds until ready)."""
    if STARTUP_SECONDS:
        costs = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in STARTUP_SECONDS.items())
        terminalreporter.write_sep("-", f"test servers start-up: {costs}")
