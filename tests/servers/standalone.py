"""A Spark standalone cluster (one Master, one Worker) on loopback, from the pyspark wheel's own distribution.

Both daemons are ``pyspark/bin/spark-class`` programs (``SPARK_HOME`` is the wheel's folder, its
``jars/`` the class path): ``org.apache.spark.deploy.master.Master`` and
``org.apache.spark.deploy.worker.Worker`` with 2 cores and 2 GB, every listener on 127.0.0.1 (RPC
ports and web UIs on free ports, ``SPARK_LOCAL_IP=127.0.0.1`` for what they open themselves, the
master's REST submission server off). The cluster is ready when the master's JSON
(``http://127.0.0.1:<ui>/json/``) lists the worker ALIVE.

The daemons, and every job :func:`submit` starts, get an environment without ``PYTHON*``,
``PYSPARK*``, ``SPARK_*`` and ``TAGFACTORY_*`` variables (:func:`clean_env`): executors inherit
the worker's environment, so the test run's ``PYTHONPATH`` (which puts the checkout first) would
otherwise reach their Python workers. The executors' Python is :attr:`StandaloneCluster.python`,
built by :func:`node_python` like a cluster node's interpreter: the test virtualenv's third-party
packages (pyspark, pyarrow, pandas, deltalake, sqlglot, pydantic, confluent-kafka ...) but not the
project, so a job that forgets to ship ``tagfactory`` fails on the executors.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.servers.process import (
    LOOPBACK,
    ServerError,
    ServerProcess,
    free_port,
    java,
    pyspark_home,
    start,
)

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
#: variables the daemons and jobs never inherit from the test run
SCRUBBED = ("PYTHON", "PYSPARK", "SPARK_", "TAGFACTORY_")
#: the project's distribution (setup.cfg ``name``) and its package: what a node's Python must not have
DISTRIBUTION, PACKAGE = "lakehouse-tag-factory", "tagfactory"
WORKER_CORES, WORKER_MEMORY = 2, "2g"
# read by both daemons (--properties-file): no REST submission server (it would open port 6066 on
# every interface), no periodic clean-up of the worker's application folders (the tests read them)
DAEMON_PROPERTIES = {"spark.master.rest.enabled": "false", "spark.worker.cleanup.enabled": "false"}


@dataclass
class StandaloneCluster:
    """A running master and worker; jobs go to ``master_url`` with executors on ``python``."""

    master_url: str  # spark://127.0.0.1:P
    web: str  # http://127.0.0.1:P of the master's web UI (``/json/``: workers and applications)
    worker_web: str  # the worker's web UI (``/json/``: its executors)
    work_dir: Path  # the worker's application folders: <work_dir>/<app id>/<executor id>/{stdout,stderr}
    python: Path  # the executors' Python: third-party packages, not the project
    master: ServerProcess
    worker: ServerProcess
    submit_env: dict[str, str] = field(default_factory=dict)  # nothing beyond clean_env()
    submit_conf: dict[str, str] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        """The master's JSON: ``workers``, ``activeapps``, ``completedapps`` ..."""
        return _json(f"{self.web}/json/")

    def stop(self) -> None:
        self.worker.stop()
        self.master.stop()


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without ``PYTHON*``, ``PYSPARK*``, ``SPARK_*`` and ``TAGFACTORY_*``
    variables, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(SCRUBBED)}
    env.update(settings)
    return env


def node_python(folder: Path) -> Path:
    """A Python like a cluster node's: this interpreter's third-party packages, not the project.

    A virtualenv (no pip) whose site-packages holds a symbolic link to every entry of this
    interpreter's site-packages except the project's own: its package and what its distribution
    installed there (for the editable install of `make install`: the ``__editable__*.pth`` file
    and finder module that map ``tagfactory`` to the checkout, and its dist-info). Other ``.pth``
    files stay, so the packages behave as they do in the virtualenv.
    """
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(folder)
    target = Path(sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)}))
    for site in dict.fromkeys((sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))):
        # the distribution installed in this site folder (not the checkout's *.egg-info, which is
        # found first when the working directory is the checkout and lists the sources instead)
        ours = {PACKAGE, "__pycache__"}
        for dist in importlib.metadata.Distribution.discover(name=DISTRIBUTION, path=[site]):
            ours |= {file.parts[0] for file in dist.files or []}
        for entry in sorted(Path(site).iterdir()):
            link = target / entry.name
            if entry.name not in ours and not link.exists():
                link.symlink_to(entry)
    python = folder / "bin" / "python"
    if not python.exists():
        raise ServerError(f"no interpreter in the virtualenv {folder}")
    return python


def start_standalone(workdir: Path, timeout: float = 120.0) -> StandaloneCluster:
    """Start the master and one worker under ``workdir``; returns when the master lists it ALIVE."""
    began = time.monotonic()
    java()  # spark-class needs it: fail with the clear message
    home = pyspark_home()
    workdir.mkdir(parents=True, exist_ok=True)
    python = node_python(workdir / "node-python")
    properties = workdir / "daemon.properties"
    properties.write_text("".join(f"{key} {value}\n" for key, value in DAEMON_PROPERTIES.items()))
    env = clean_env(SPARK_HOME=str(home), SPARK_LOCAL_IP=LOOPBACK, SPARK_CONF_DIR=str(workdir),
                    SPARK_DAEMON_MEMORY="512m", SPARK_DAEMON_JAVA_OPTS="-XX:+UseSerialGC")
    spark_class = str(home / "bin" / "spark-class")
    port, ui = free_port(), free_port()
    master = start("spark-master", [spark_class, MASTER_CLASS, "--host", LOOPBACK, "--port", str(port),
                                    "--webui-port", str(ui), "--properties-file", str(properties)],
                   workdir / "master.log", env=env, cwd=workdir, inherit_env=False)
    master_url, web = f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{ui}"
    master.wait_ready(lambda: _json(f"{web}/json/").get("status") == "ALIVE", timeout,
                      f"the master's JSON at {web}/json/", began)
    work_dir, worker_ui = workdir / "work", free_port()
    worker = start("spark-worker", [spark_class, WORKER_CLASS, "--host", LOOPBACK, "--port", str(free_port()),
                                    "--webui-port", str(worker_ui), "--cores", str(WORKER_CORES),
                                    "--memory", WORKER_MEMORY, "--work-dir", str(work_dir),
                                    "--properties-file", str(properties), master_url],
                   workdir / "worker.log", env=env, cwd=workdir, inherit_env=False)

    def worker_alive() -> bool:
        workers = _json(f"{web}/json/").get("workers", [])
        return any(w.get("state") == "ALIVE" and w.get("cores") == WORKER_CORES for w in workers)

    try:
        worker.wait_ready(worker_alive, timeout, f"an ALIVE worker in {web}/json/", began)
    except ServerError:
        master.stop()
        raise
    return StandaloneCluster(master_url, web, f"http://{LOOPBACK}:{worker_ui}", work_dir, python, master, worker)


class SparkCluster(Protocol):
    """What :func:`submit` needs of a cluster: its master URL, the executors' Python, and the
    environment and settings every application of it gets (e.g. ``HADOOP_CONF_DIR`` for YARN)."""

    @property
    def master_url(self) -> str: ...
    @property
    def python(self) -> Path: ...
    @property
    def submit_env(self) -> Mapping[str, str]: ...
    @property
    def submit_conf(self) -> Mapping[str, str]: ...


@dataclass
class Submitted:
    """One finished ``spark-submit``: its application id, output, duration and event log."""

    app_id: str
    returncode: int
    output: str
    seconds: float
    log: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    def task_executors(self, stage: str = "") -> set[tuple[str, str]]:
        """(executor id, host) of every task that ended successfully, from the event log; only in
        the stages whose name (``collect at <file>:<line>`` ...) contains ``stage``."""
        stages = {e["Stage Info"]["Stage ID"] for e in self.events
                  if e.get("Event") == "SparkListenerStageCompleted" and stage in e["Stage Info"]["Stage Name"]}
        return {(e["Task Info"]["Executor ID"], e["Task Info"]["Host"]) for e in self.events
                if e.get("Event") == "SparkListenerTaskEnd" and e.get("Stage ID") in stages
                and e.get("Task End Reason", {}).get("Reason") == "Success"}


def submit(cluster: SparkCluster, application: Path, *args: str, log: Path,
           py_files: Sequence[Path] = (), jars: Sequence[str] = (), conf: Mapping[str, str] | None = None,
           env: Mapping[str, str] | None = None, timeout: float = 600) -> Submitted:
    """``spark-submit --master <cluster> [--py-files] [--jars] --conf ... application args`` in client mode.

    The driver runs this interpreter (``spark.pyspark.driver.python``), the executors the cluster's
    node Python (``spark.pyspark.python``), both with :func:`clean_env` plus the cluster's
    ``submit_env`` plus ``env``; settings are the cluster's ``submit_conf`` updated by ``conf``. The event log
    goes to ``<log>.events/``; output to ``log``. A failed submit is returned, not raised.
    """
    home = pyspark_home()
    events = log.with_suffix(".events")
    events.mkdir(parents=True, exist_ok=True)
    settings = {
        "spark.pyspark.python": str(cluster.python), "spark.pyspark.driver.python": sys.executable,
        "spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK,
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(), "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
        **cluster.submit_conf, **(conf or {}),
    }
    cmd = [str(home / "bin" / "spark-submit"), "--master", cluster.master_url, "--deploy-mode", "client",
           *(["--py-files", ",".join(map(str, py_files))] if py_files else []),
           *(["--jars", ",".join(jars)] if jars else []),
           *(arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")),
           str(application), *args]
    began = time.monotonic()
    with log.open("w") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout,
                              cwd=log.parent, env=clean_env(SPARK_HOME=str(home), SPARK_LOCAL_IP=LOOPBACK,
                                            **cluster.submit_env, **(env or {})))
    seconds = time.monotonic() - began
    files = [f for f in events.iterdir() if not f.name.startswith(".")]
    if len(files) != 1:
        raise ServerError(f"{application.name}: {len(files)} event logs in {events} (one application expected)\n"
                          f"--- end of {log} ---\n{log.read_text(errors='replace')[-3000:]}")
    records = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    start_event = next(e for e in records if e.get("Event") == "SparkListenerApplicationStart")
    return Submitted(start_event["App ID"], done.returncode, log.read_text(errors="replace"), seconds, log, records)


def _json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=2) as reply:
        result: dict[str, Any] = json.load(reply)
    return result
