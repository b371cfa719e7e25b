"""A YARN mini cluster (one ResourceManager, one NodeManager) on loopback, in its own JVM.

``MiniYarn.java`` (next to this file) starts Hadoop 3.5.0's ``MiniYARNCluster`` from
``.jars/hadoop-minicluster/`` with every RPC and web address on 127.0.0.1 and writes the resulting
configuration to ``yarn-site.xml`` in the fixture's folder (what a YARN client, e.g. Spark with
``HADOOP_CONF_DIR``, needs). Not used by `make test`'s default selection: see tests/servers/README.md.
"""

from __future__ import annotations

import json
import time
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tests.servers.hdfs import JVM_OPTS, LOG4J
from tests.servers.process import LOOPBACK, ServerProcess, compiled_java, jar_set, java, start

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
    process = start("yarn", cmd, workdir / "yarn.log", cwd=workdir)

    def ready() -> YarnCluster | None:
        if not config.is_file():
            return None
        settings = {
            prop.findtext("name"): prop.findtext("value")
            for prop in ET.parse(config).getroot().iter("property")
        }
        web = f"http://{settings['yarn.resourcemanager.webapp.address']}"
        with urllib.request.urlopen(f"{web}/ws/v1/cluster/metrics", timeout=2) as reply:
            metrics = json.load(reply)["clusterMetrics"]
        if metrics.get("activeNodes", 0) < 1:
            return None
        return YarnCluster(settings["yarn.resourcemanager.address"], web, config, process)

    return process.wait_ready(ready, timeout, "a RUNNING NodeManager in the RM's REST API", began)
