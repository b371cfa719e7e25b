"""An HDFS mini cluster (one NameNode, one DataNode) on loopback, in its own JVM.

Runs Hadoop's own CLI minicluster, ``org.apache.hadoop.mapreduce.MiniHadoopClusterManager -nomr``,
from ``.jars/hadoop-minicluster/`` (hadoop-client-minicluster 3.5.0, the Hadoop of the pyspark wheel).
Every listener (NameNode RPC and HTTP, DataNode transfer, HTTP and IPC) is bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.servers.process import LOOPBACK, ServerProcess, free_port, jar_set, java, run, start

LOG4J = """\
log4j.rootLogger=INFO,stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%d{HH:mm:ss,SSS} %p %c{1}: %m%n
log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN
log4j.logger.BlockStateChange=WARN
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN
"""

JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true", "-Djava.awt.headless=true"]

# loopback for everything the DataNode opens (MiniDFSCluster already does so; said explicitly)
LOOPBACK_CONF = {
    "dfs.datanode.address": f"{LOOPBACK}:0",
    "dfs.datanode.http.address": f"{LOOPBACK}:0",
    "dfs.datanode.ipc.address": f"{LOOPBACK}:0",
    "dfs.datanode.https.address": f"{LOOPBACK}:0",
    "dfs.namenode.https-address": f"{LOOPBACK}:0",
    "dfs.replication": "1",
    "dfs.permissions.enabled": "false",
}


@dataclass
class HdfsCluster:
    """A running mini HDFS: ``uri`` is ``hdfs://127.0.0.1:<port>``."""

    uri: str
    port: int
    http_port: int
    process: ServerProcess
    config: Path  # the cluster's full Hadoop configuration (-writeConfig)

    def url(self, path: str) -> str:
        """``hdfs://127.0.0.1:PORT/<path>``."""
        return f"{self.uri}/{path.lstrip('/')}"

    def put(self, local: Path, path: str, log: Path, threads: int = 4) -> None:
        """Copy the local folder or file ``local`` to ``path`` on this HDFS with Hadoop's own shell
        (``hadoop fs -put -d -t N``: no ``._COPYING_`` files renamed afterwards, N files at a time;
        467 small files took 29-34 s against 112 s one at a time, 2 busy cores)."""
        client = self.config.parent / "client"  # FsShell wants a core-site.xml on its class path
        client.mkdir(exist_ok=True)
        (client / "core-site.xml").write_text("<configuration></configuration>\n", encoding="utf-8")
        jars = jar_set("hadoop-minicluster")
        shell = [java(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{client}:{jars}/*",
                 "org.apache.hadoop.fs.FsShell"]
        parent = self.url(path.rstrip("/").rsplit("/", 1)[0] or "/")
        run([*shell, "-mkdir", "-p", parent], log, timeout=120, what=f"hadoop fs -mkdir -p {parent}")
        target = self.url(path)
        run([*shell, "-put", "-d", "-t", str(threads), str(local), target], log, timeout=600,
            what=f"hadoop fs -put {local} {target}")

    def stop(self) -> None:
        self.process.stop()


def start_hdfs(workdir: Path, timeout: float = 120.0) -> HdfsCluster:
    """Start the mini HDFS under ``workdir``; returns when a DataNode is live and writes are allowed."""
    began = time.monotonic()
    jars = jar_set("hadoop-minicluster")
    java_bin = java()
    workdir.mkdir(parents=True, exist_ok=True)
    log4j = workdir / "log4j.properties"
    log4j.write_text(LOG4J)
    port, http_port = free_port(), free_port()
    config = workdir / "hdfs-site.xml"
    defines = [arg for key, value in LOOPBACK_CONF.items() for arg in ("-D", f"{key}={value}")]
    cmd = [
        java_bin, *JVM_OPTS,
        f"-Dlog4j.configuration=file:{log4j}",
        f"-Dtest.build.data={workdir / 'data'}",  # MiniDFSCluster's base folder
        f"-Dhadoop.tmp.dir={workdir / 'tmp'}",
        "-cp", f"{jars}/*",
        "org.apache.hadoop.mapreduce.MiniHadoopClusterManager",
        "-nomr", "-format", "-datanodes", "1",
        "-nnport", str(port), "-nnhttpport", str(http_port),
        "-writeConfig", str(config),
        *defines,
    ]  # fmt: skip
    process = start("hdfs", cmd, workdir / "hdfs.log", cwd=workdir)
    process.wait_ready(lambda: _writable(http_port), timeout, "a live DataNode, safe mode off", began)
    return HdfsCluster(f"hdfs://{LOOPBACK}:{port}", port, http_port, process, config)


def _writable(http_port: int) -> bool:
    """A real request to the NameNode (its JMX over HTTP): live DataNodes and safe mode off."""
    query = "Hadoop:service=NameNode,name=FSNamesystemState"
    url = f"http://{LOOPBACK}:{http_port}/jmx?qry={query}"
    with urllib.request.urlopen(url, timeout=2) as reply:
        beans = json.load(reply)["beans"]
    if not beans:
        return False
    state = beans[0]
    safe = urllib.request.urlopen(
        f"http://{LOOPBACK}:{http_port}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo",
        timeout=2,
    )
    with safe:
        info = json.load(safe)["beans"]
    safe_mode = bool(info and info[0].get("Safemode"))
    return state.get("NumLiveDataNodes", 0) >= 1 and not safe_mode
