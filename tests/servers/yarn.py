"""A YARN mini cluster (one ResourceManager, one NodeManager) on loopback, in its own JVM.

``MiniYarn.java`` (next to this file) starts Hadoop 3.5.0's ``MiniYARNCluster`` from
``.jars/hadoop-minicluster/`` with every RPC and web address on 127.0.0.1 and writes the resulting
configuration to ``yarn-site.xml`` in the fixture's folder. That file is the cluster's whole
configuration, Hadoop's defaults included (``fs.defaultFS=file:///`` too): a client gets
:func:`client_conf`, a ``HADOOP_CONF_DIR`` with the ``yarn.*`` settings only and the HDFS it
should use as ``fs.defaultFS``.

:func:`yarn_on_hdfs` is what Spark on YARN needs of it (tests/integration/test_yarn_cluster.py): the
master ``yarn``, that ``HADOOP_CONF_DIR``, the node Python of the executors (third-party packages,
not the project: tests/servers/standalone.py's ``node_python``) and the pyspark wheel's jars as
``spark.yarn.jars`` with the ``local:`` scheme (present on the node; without it every submit would
upload the ~400 jars to HDFS). The NodeManager gets ``JAVA_HOME``, which the containers' launch
scripts use to start the ApplicationMaster and the executors.
"""

from __future__ import annotations

import json
import time
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from tests.servers.hdfs import JVM_OPTS, LOG4J, HdfsCluster
from tests.servers.process import (
    LOOPBACK,
    ServerProcess,
    compiled_java,
    jar_set,
    java,
    pyspark_home,
    start,
)
from tests.servers.standalone import node_python

LAUNCHER = Path(__file__).with_name("MiniYarn.java")


@dataclass
class YarnCluster:
    """A running mini YARN: ``resource_manager`` is host:port of the RM's client RPC."""

    resource_manager: str
    web: str  # http://127.0.0.1:PORT of the ResourceManager's web UI and REST API
    config: Path  # yarn-site.xml with the chosen addresses
    process: ServerProcess

    def stop(self) -> None:
        self.process.stop()


def start_yarn(workdir: Path, timeout: float = 180.0) -> YarnCluster:
    """Start the mini YARN under ``workdir``; returns when the RM reports one RUNNING NodeManager."""
    began = time.monotonic()
    jars = jar_set("hadoop-minicluster")
    java_bin = java()
    classes = compiled_java(LAUNCHER, f"{jars}/*")
    workdir.mkdir(parents=True, exist_ok=True)
    log4j = workdir / "log4j.properties"
    log4j.write_text(LOG4J)
    config = workdir / "yarn-site.xml"
    cmd = [
        java_bin, *JVM_OPTS,
        f"-Dlog4j.configuration=file:{log4j}",
        f"-Dtest.build.data={workdir / 'data'}",
        f"-Dhadoop.tmp.dir={workdir / 'tmp'}",
        "-cp", f"{classes}:{jars}/*",
        "MiniYarn", LOOPBACK, str(config),
    ]  # fmt: skip
    java_home = str(Path(java_bin).resolve().parents[1])  # for the containers' launch scripts
    process = start("yarn", cmd, workdir / "yarn.log", cwd=workdir, env={"JAVA_HOME": java_home})

    def ready() -> YarnCluster | None:
        if not config.is_file():
            return None
        settings = _settings(config)
        web = f"http://{settings['yarn.resourcemanager.webapp.address']}"
        with urllib.request.urlopen(f"{web}/ws/v1/cluster/metrics", timeout=2) as reply:
            metrics = json.load(reply)["clusterMetrics"]
        if metrics.get("activeNodes", 0) < 1:
            return None
        return YarnCluster(settings["yarn.resourcemanager.address"], web, config, process)

    return process.wait_ready(ready, timeout, "a RUNNING NodeManager in the RM's REST API", began)


def client_conf(yarn: YarnCluster, hdfs: HdfsCluster, folder: Path) -> Path:
    """A client's ``HADOOP_CONF_DIR``: ``yarn-site.xml`` with the cluster's ``yarn.*`` settings and
    ``core-site.xml`` naming ``hdfs`` as ``fs.defaultFS`` (where Spark stages its applications)."""
    folder.mkdir(parents=True, exist_ok=True)
    yarn_settings = {key: value for key, value in _settings(yarn.config).items() if key.startswith("yarn.")}
    _write_settings(folder / "yarn-site.xml", yarn_settings)
    _write_settings(folder / "core-site.xml", {"fs.defaultFS": hdfs.uri})
    return folder


@dataclass
class YarnOnHdfs:
    """Spark on the YARN mini cluster with HDFS as the default file system (see :func:`yarn_on_hdfs`)."""

    yarn: YarnCluster
    hdfs: HdfsCluster
    conf_dir: Path  # HADOOP_CONF_DIR
    python: Path  # the executors' Python: third-party packages, not the project
    submit_conf: dict[str, str] = field(default_factory=dict)
    master_url: str = "yarn"

    @property
    def submit_env(self) -> dict[str, str]:
        return {"HADOOP_CONF_DIR": str(self.conf_dir)}

    def applications(self) -> dict[str, dict[str, str]]:
        """Application id -> the RM's record (``state``, ``finalStatus``, ``amHostHttpAddress`` ...)."""
        with urllib.request.urlopen(f"{self.yarn.web}/ws/v1/cluster/apps", timeout=10) as reply:
            apps = (json.load(reply).get("apps") or {}).get("app", [])
        return {app["id"]: app for app in apps}


def yarn_on_hdfs(yarn: YarnCluster, hdfs: HdfsCluster, workdir: Path) -> YarnOnHdfs:
    """Submit settings for Spark on ``yarn``, staging on ``hdfs``, executors on a node Python."""
    conf_dir = client_conf(yarn, hdfs, workdir / "hadoop-conf")
    python = node_python(workdir / "node-python")
    conf = {
        "spark.yarn.jars": f"local:{pyspark_home() / 'jars'}/*",
        # one executor of 2 cores and a small ApplicationMaster: the NodeManager offers 2 GB
        "spark.executor.instances": "1", "spark.executor.cores": "2", "spark.executor.memory": "768m",
        "spark.yarn.am.memory": "384m",
        # the UI's AmIpFilter is added while the UI starts: a race in Spark 4.2 that failed some
        # submits here with ConcurrentModificationException in Jetty's ServletHandler
        "spark.ui.enabled": "false",
    }
    return YarnOnHdfs(yarn, hdfs, conf_dir, python, submit_conf=conf)


def _settings(config: Path) -> dict[str, str]:
    return {prop.findtext("name") or "": prop.findtext("value") or ""
            for prop in ET.parse(config).getroot().iter("property")}


def _write_settings(path: Path, settings: dict[str, str]) -> None:
    body = "".join(f"<property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
                   for k, v in sorted(settings.items()))
    path.write_text(f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n', encoding="utf-8")
