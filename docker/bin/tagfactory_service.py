#!/usr/bin/env python3
"""Start one server of the container stack from the job image, or probe one (healthchecks).

    tagfactory_service.py spark-master | spark-worker | metastore | thriftserver
    tagfactory_service.py probe HOST:PORT | http://HOST:PORT/PATH

Every server is a program of the pyspark wheel installed in the image (``$SPARK_HOME`` is the
wheel's folder): Spark's standalone ``Master`` and ``Worker`` through ``bin/spark-class``, Hive's
``HiveMetaStore`` (Hive 2.3 jars of the wheel, Derby database on a volume: one metastore process
owns it and serves every Spark process) and the Spark Thrift server (``HiveThriftServer2``)
through ``bin/spark-submit``, with the Delta Lake jars resolved by ``jvm/resolve.py`` into
``$TAGFACTORY_JARS/spark`` and the settings of its ``spark-conf.json``.

The servers' addresses come from the environment, never from a file in the image:
``SPARK_MASTER_URL`` (workers, Thrift server), ``TAGFACTORY_HIVE_METASTORE_URI`` (Thrift server,
the same variable the jobs read through tagfactory/settings.py), ``SPARK_MASTER_HOST``,
``SPARK_WORKER_CORES`` / ``SPARK_WORKER_MEMORY``, ``THRIFT_CORES_MAX``.

Only the standard library: the healthchecks run it with the image's Python.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
METASTORE_CLASS = "org.apache.hadoop.hive.metastore.HiveMetaStore"
THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
#: every Java main class this script starts (tests/unit/test_docker_static.py finds each in the wheel's jars)
MAIN_CLASSES = (MASTER_CLASS, WORKER_CLASS, METASTORE_CLASS, THRIFT_CLASS)
SERVERS = ("spark-master", "spark-worker", "metastore", "thriftserver")


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SystemExit(f"tagfactory_service.py: set {name} (see docker/compose.yaml)")
    return value


def spark_home(env: Mapping[str, str]) -> Path:
    return Path(_require(env, "SPARK_HOME"))


def delta_conf(env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The Spark set of jars (``$TAGFACTORY_JARS/spark/*.jar``) and the settings that go with them."""
    folder = Path(_require(env, "TAGFACTORY_JARS")) / "spark"
    jars = sorted(str(j) for j in folder.glob("*.jar"))
    conf_file = folder / "spark-conf.json"
    conf = json.loads(conf_file.read_text(encoding="utf-8")) if conf_file.is_file() else {}
    return jars, conf


def command(server: str, env: Mapping[str, str]) -> list[str]:
    """The argv that starts ``server`` (one of SERVERS)."""
    home = spark_home(env)
    if server == "spark-master":
        host = env.get("SPARK_MASTER_HOST") or socket.gethostname()
        return [str(home / "bin" / "spark-class"), MASTER_CLASS,
                "--host", host, "--port", "7077", "--webui-port", "8080"]
    if server == "spark-worker":
        return [str(home / "bin" / "spark-class"), WORKER_CLASS,
                "--webui-port", "8081",
                "--cores", env.get("SPARK_WORKER_CORES", "2"),
                "--memory", env.get("SPARK_WORKER_MEMORY", "2g"),
                "--work-dir", env.get("SPARK_WORKER_DIR", "/data/spark-work"),
                _require(env, "SPARK_MASTER_URL")]
    if server == "metastore":
        root = env.get("METASTORE_HOME", "/data/metastore")
        props = {
            "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={root}/metastore_db;create=true",
            "datanucleus.schema.autoCreateAll": "true",
            "hive.metastore.schema.verification": "false",
            "hive.metastore.warehouse.dir": env.get("METASTORE_WAREHOUSE_DIR", "/data/hive-warehouse"),
            "hive.async.log.enabled": "false",
            "derby.system.home": f"{root}/derby",
            "derby.stream.error.file": f"{root}/derby.log",
        }
        return ["java", "-Xmx512m", *(f"-D{k}={v}" for k, v in props.items()),
                "-cp", f"{home / 'jars'}/*", METASTORE_CLASS, "-p", "9083"]
    if server == "thriftserver":
        jars, conf = delta_conf(env)
        conf = {
            **conf,
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.hive.metastore.uris": _require(env, "TAGFACTORY_HIVE_METASTORE_URI"),
            "spark.cores.max": env.get("THRIFT_CORES_MAX", "1"),
            "spark.executor.memory": env.get("THRIFT_EXECUTOR_MEMORY", "1g"),
            "spark.sql.session.timeZone": "UTC",
        }
        if jars:  # the Delta catalog is loaded when the server starts: the driver needs the jars on its classpath
            conf["spark.jars"] = ",".join(jars)
            conf["spark.driver.extraClassPath"] = ":".join(jars)
        return [str(home / "bin" / "spark-submit"), "--master", _require(env, "SPARK_MASTER_URL"),
                "--class", THRIFT_CLASS, "--name", "tagfactory-thriftserver",
                *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
                "spark-internal",
                "--hiveconf", "hive.server2.thrift.port=10000",
                "--hiveconf", "hive.server2.thrift.bind.host=0.0.0.0",
                "--hiveconf", "hive.server2.transport.mode=binary"]
    raise SystemExit(f"tagfactory_service.py: unknown server {server!r} (one of {', '.join(SERVERS)}, probe)")


def probe(target: str, timeout: float = 5.0) -> int:
    """0 if ``target`` (``host:port``: a TCP connect; ``http://...``: a 2xx answer) answers, else 1."""
    try:
        if target.startswith(("http://", "https://")):
            with urllib.request.urlopen(target, timeout=timeout) as response:
                return 0 if 200 <= response.status < 300 else 1
        parts = urlsplit("//" + target)
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=timeout):
            return 0
    except OSError as exc:
        print(f"probe {target}: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "probe":
        return probe(args[1])
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = command(args[0], os.environ)
    os.execvp(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
