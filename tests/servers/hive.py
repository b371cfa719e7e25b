"""A standalone Hive metastore and the Spark Thrift server (HiveServer2 protocol), on loopback.

Both come from the pyspark wheel's jars (Hive 2.3.10, spark-hive-thriftserver 4.2.0); the Thrift
server and every Spark process pointed at the metastore also get the Delta Lake jars of
``.jars/spark/``. The metastore keeps its Derby database in the test run's temporary folder.

Hive 2.3's own ``HiveMetaStore`` main cannot bind to one address, so the metastore runs through
``LoopbackMetaStore.java`` (next to this file), compiled once per source version (process.compiled_java).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.process import (
    LOOPBACK,
    ServerError,
    ServerProcess,
    compiled_java,
    free_port,
    jar_set,
    java,
    port_open,
    pyspark_home,
    start,
)

LAUNCHER = Path(__file__).with_name("LoopbackMetaStore.java")

LOG4J2 = """\
status = error
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.datanucleus.name = DataNucleus
logger.datanucleus.level = WARN
logger.spark.name = org.apache.spark
logger.spark.level = WARN
logger.thrift.name = org.apache.spark.sql.hive.thriftserver
logger.thrift.level = INFO
"""


@dataclass
class HiveMetastore:
    """A running metastore: clients set ``hive.metastore.uris`` to ``uri``."""

    uri: str
    port: int
    warehouse: Path
    process: ServerProcess
    workdir: Path

    def spark_conf(self) -> dict[str, str]:
        """Spark settings for a process whose catalog is this metastore (with Delta Lake)."""
        jars = ",".join(str(j) for j in sorted(jar_set("spark").glob("*.jar")))
        return {
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.hive.metastore.uris": self.uri,
            "spark.sql.warehouse.dir": str(self.warehouse),
            "spark.jars": jars,
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.driver.bindAddress": LOOPBACK,
            "spark.driver.host": LOOPBACK,
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.session.timeZone": "UTC",
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
        }

    def stop(self) -> None:
        self.process.stop()


@dataclass
class ThriftServer:
    """A running Spark Thrift server; ``jdbc_url`` is what beeline/JDBC/pyhive clients use."""

    jdbc_url: str
    port: int
    process: ServerProcess

    def stop(self) -> None:
        self.process.stop()


def start_metastore(workdir: Path, timeout: float = 120.0) -> HiveMetastore:
    """Start the metastore (Derby under ``workdir``); returns when it answers a Thrift call."""
    began = time.monotonic()
    java_bin = java()
    jars = pyspark_home() / "jars"
    classes = compiled_java(LAUNCHER, f"{jars}/*")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "log4j2.properties").write_text(LOG4J2)
    warehouse = workdir / "warehouse"
    port = free_port()
    settings = {
        "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={workdir / 'metastore_db'};create=true",
        "datanucleus.schema.autoCreateAll": "true",
        "hive.metastore.schema.verification": "false",
        "hive.metastore.warehouse.dir": str(warehouse),
        "hive.async.log.enabled": "false",
        "derby.system.home": str(workdir / "derby"),
        "derby.stream.error.file": str(workdir / "derby.log"),
        "log4j2.configurationFile": str(workdir / "log4j2.properties"),
    }
    cmd = [
        java_bin, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Djava.net.preferIPv4Stack=true",
        *(f"-D{key}={value}" for key, value in settings.items()),
        "-cp", f"{classes}:{jars}/*",
        "LoopbackMetaStore", LOOPBACK, str(port),
    ]  # fmt: skip
    process = start("hive-metastore", cmd, workdir / "metastore.log", cwd=workdir)
    process.wait_ready(
        lambda: "default" in get_all_databases(port), timeout, "a get_all_databases call", began
    )
    return HiveMetastore(f"thrift://{LOOPBACK}:{port}", port, warehouse, process, workdir)


def start_thrift_server(
    metastore: HiveMetastore, workdir: Path, timeout: float = 180.0
) -> ThriftServer:
    """spark-submit HiveThriftServer2 against ``metastore``; returns when beeline gets an answer."""
    began = time.monotonic()
    java()  # spark-submit needs it too: fail with the clear message
    home = pyspark_home()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = metastore.spark_conf()
    # With spark.jars only, every HiveServer2 session failed: "Cannot find catalog plugin class for
    # catalog 'spark_catalog': org.apache.spark.sql.delta.catalog.DeltaCatalog". The Delta jars go
    # on the driver's own class path instead.
    jars = conf.pop("spark.jars").replace(",", ":")
    conf.update({"spark.driver.extraClassPath": jars, "spark.driver.memory": "768m"})
    cmd = [
        str(home / "bin" / "spark-submit"),
        "--master", "local[2]",
        "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--name", "tagfactory-test-thriftserver",
        *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
        "spark-internal",
        "--hiveconf", f"hive.server2.thrift.port={port}",
        "--hiveconf", f"hive.server2.thrift.bind.host={LOOPBACK}",
        "--hiveconf", "hive.server2.transport.mode=binary",
        "--hiveconf", "hive.server2.webui.port=0",
        "--hiveconf", f"hive.server2.logging.operation.log.location={workdir / 'operation_logs'}",
    ]  # fmt: skip
    env = {"SPARK_HOME": str(home), "SPARK_LOCAL_IP": LOOPBACK}
    process = start("spark-thrift-server", cmd, workdir / "thriftserver.log", env=env, cwd=workdir)
    url = f"jdbc:hive2://{LOOPBACK}:{port}/default"

    def answers() -> bool:
        return port_open(port) and beeline(url, "SELECT 1", timeout=60) == [["1"]]

    process.wait_ready(answers, timeout, f"beeline `SELECT 1` on {url}", began)
    return ThriftServer(url, port, process)


JOB = Path(__file__).with_name("spark_metastore_job.py")
_PROMPT = re.compile(r"^(?:\d+: jdbc:hive2://\S*> )+")


def run_metastore_job(metastore: HiveMetastore, *args: str, timeout: float = 300) -> str:
    """spark-submit ``spark_metastore_job.py ARGS`` as its own Spark process on ``metastore``.

    Returns the process's stdout; a failure raises ServerError with the end of its output.
    """
    home = pyspark_home()
    conf = {**metastore.spark_conf(), "spark.driver.memory": "512m"}
    cmd = [
        str(home / "bin" / "spark-submit"), "--master", "local[1]",
        *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
        str(JOB), *args,
    ]  # fmt: skip
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": LOOPBACK}
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise ServerError(
            f"spark-submit {JOB.name} {' '.join(args)} failed ({done.returncode}):\n"
            f"{(done.stdout + done.stderr)[-4000:]}"
        )
    return done.stdout


def beeline(url: str, sql: str, timeout: float = 120) -> list[list[str]]:
    """Run ``sql`` with Hive's beeline client (pyspark jars) and return the rows as strings."""
    jars = pyspark_home() / "jars"
    cmd = [
        java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{jars}/*",
        "org.apache.hive.beeline.BeeLine",
        "-u", url, "-n", "tests",
        "--silent=true", "--showHeader=false", "--outputformat=csv2",
        "-e", sql,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ServerError(f"beeline failed ({done.returncode}) on {sql!r}:\n{done.stderr[-3000:]}")
    # with -e and no terminal, beeline still puts its prompt ("0: jdbc:hive2://...> ") before the
    # first row
    lines = (_PROMPT.sub("", line) for line in done.stdout.splitlines())
    return [line.split(",") for line in lines if line.strip()]


def get_all_databases(port: int, host: str = LOOPBACK) -> list[str]:
    """ThriftHiveMetastore.get_all_databases() over the Thrift binary protocol (a real client call)."""
    return _string_list_call(host, port, "get_all_databases", b"")


def get_all_tables(port: int, database: str, host: str = LOOPBACK) -> list[str]:
    """ThriftHiveMetastore.get_all_tables(db_name): the tables registered in ``database``."""
    name = database.encode()
    return _string_list_call(host, port, "get_all_tables", struct.pack(">bhI", 11, 1, len(name)) + name)


def _string_list_call(host: str, port: int, method: str, fields: bytes) -> list[str]:
    """Call a metastore method that returns list<string> (strict TBinaryProtocol, unframed)."""
    name = method.encode()
    call = struct.pack(">iI", -2147418111, len(name)) + name + struct.pack(">i", 1) + fields + b"\x00"
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(call)
        reader = sock.makefile("rb")
        version, length = struct.unpack(">iI", reader.read(8))
        if version & 0xFF != 2:  # 2 = REPLY (3 = EXCEPTION)
            raise ServerError(f"metastore answered {method} with message type {version & 0xFF}")
        reader.read(length + 4)  # method name, seqid
        values: list[str] = []
        field_type, field_id = struct.unpack(">bh", reader.read(3))
        if field_type != 15 or field_id != 0:  # not `success: list<string>` (an exception field)
            raise ServerError(f"metastore {method} failed (reply field {field_id}, type {field_type})")
        _, count = struct.unpack(">bi", reader.read(5))
        for _ in range(count):
            (size,) = struct.unpack(">I", reader.read(4))
            values.append(reader.read(size).decode())
        return values
