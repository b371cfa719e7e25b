"""A full daily run on a real Spark standalone cluster, with the project shipped as a cluster user ships it.

The cluster (``standalone_cluster``, tests/servers/standalone.py) is the pyspark wheel's own Master
and Worker on 127.0.0.1, started with an environment stripped of ``PYTHON*``, ``PYSPARK*``,
``SPARK_*`` and ``TAGFACTORY_*``; its executors run a node Python that has the third-party packages
but not ``tagfactory``. Every job is ``spark-submit --master spark://127.0.0.1:P`` in client mode
with what a cluster user passes: the project's wheel renamed to ``tagfactory.zip`` with
``--py-files`` (PySpark 4.2 puts only ``.zip``/``.egg``/``.jar`` py-files on the Python path, not
``.whl``), the jars of ``.jars/spark`` with ``--jars`` and the settings of their ``spark-conf.json``
(as dags/tag_factory_daily.py builds ``JARS``/``SPARK_CONF``), the settings file with ``--config``.

* a probe job whose tasks import a project module fails with ``ModuleNotFoundError`` on the
  executors without ``--py-files`` and succeeds with it;
* the DAG's Spark steps for one date, one spark-submit each: build_profile.py ``check-sources``,
  ``stage``, ``audit``, ``publish``; build_audiences.py; export.py ``select`` and ``deliver`` of
  the CRM file drop (``crm_high_value_daily`` -> ``crm_sftp``) and of the pop-up service's Kafka
  changes (``popup_audience_changes``, whose producing tasks run project code on the executors),
  both exports in one submit per step; then ``verify`` without Spark, as the DAG does.

Checked against independent computations: the published profile against the pandas oracle
(tests/oracle/pandas_oracle.py), the audiences against the audience oracle over that profile, the
drop's manifest, files and receipts and the Kafka receipt and control record against members minus
suppressions computed from the oracle's audiences and the YAML definitions, e-mail hashes against
hashlib; every application FINISHED in the master's JSON, its tasks on the worker's executor.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster_daily import (
    DESTINATIONS,
    FAST,
    DailyRun,
    check_audiences,
    check_exports,
    check_profile,
    run_daily,
)
from tests.integration.conftest import REPO
from tests.servers.process import non_loopback
from tests.servers.standalone import StandaloneCluster, clean_env, submit
from tests.servers.standalone_probe import DATE as PROBE_DATE

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PROBE = REPO / "tests" / "servers" / "standalone_probe.py"
RUN_ID = "standalone__cluster"


@pytest.fixture(scope="module")
def daily(standalone_cluster: StandaloneCluster, project_zip: Path, demo_data: Path, kafka_broker: Any,
          tmp_path_factory: pytest.TempPathFactory) -> DailyRun:
    """The DAG's steps for DATE on the cluster, one spark-submit each, into a fresh warehouse."""
    base = tmp_path_factory.mktemp("standalone-daily")
    settings = {
        "warehouse": str(base / "warehouse"), "sources_root": str(demo_data), "target": str(base / "target"),
        "definitions": str(REPO / "tag_definitions"), "exports_root": str(base / "deliveries"),
        "quality": {"data_docs": False},  # the gate runs; rendering Data Docs is not what is tested here
        # this run's own control topic: the broker is shared with test_exports, which delivers the same
        # export and date (its control record would make this run's delivery "unchanged")
        "kafka": {"bootstrap_servers": kafka_broker.bootstrap, "control_topic": f"control-{uuid.uuid4().hex[:8]}"},
    }
    return run_daily(standalone_cluster, base, settings, project_zip, DESTINATIONS, RUN_ID)


def test_the_cluster_is_on_loopback_and_its_python_lacks_the_project(standalone_cluster: StandaloneCluster,
                                                                     tmp_path: Path) -> None:
    state = standalone_cluster.state()
    assert state["status"] == "ALIVE"
    assert [(w["host"], w["state"], w["cores"], w["memory"]) for w in state["workers"]] == \
        [("127.0.0.1", "ALIVE", 2, 2048)]
    assert non_loopback(standalone_cluster.master.pid) == []
    assert non_loopback(standalone_cluster.worker.pid) == []
    python = str(standalone_cluster.python)
    deps = "import pyspark, py4j, pyarrow, pandas, numpy, deltalake, sqlglot, pydantic, yaml, confluent_kafka"
    env = clean_env()
    assert subprocess.run([python, "-c", deps], cwd=tmp_path, env=env, capture_output=True).returncode == 0
    missing = subprocess.run([python, "-c", "import tagfactory"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode == 1
    assert "ModuleNotFoundError: No module named 'tagfactory'" in missing.stderr


def test_tasks_that_use_a_project_module_need_the_shipped_zip(standalone_cluster: StandaloneCluster,
                                                              project_zip: Path, tmp_path: Path) -> None:
    from tagfactory.exports.kafka import transactional_id

    conf = {**FAST, "spark.task.maxFailures": "1"}  # fail at the first lost task, not after 4 attempts
    without = submit(standalone_cluster, PROBE, log=tmp_path / "without.log", conf=conf)
    assert without.returncode != 0
    assert "ModuleNotFoundError: No module named 'tagfactory'" in without.output
    assert without.task_executors() == set()  # no task succeeded anywhere

    shipped = submit(standalone_cluster, PROBE, log=tmp_path / "with.log", py_files=[project_zip], conf=conf)
    assert shipped.returncode == 0, shipped.output[-4000:]
    [line] = [ln for ln in shipped.output.splitlines() if ln.startswith("PROBE ")]
    probe = json.loads(line.removeprefix("PROBE "))
    assert "/tagfactory.zip/tagfactory/" in probe["driver"]  # the driver, too, imports the shipped zip
    app_folder = standalone_cluster.work_dir / shipped.app_id
    assert [t["n"] for t in probe["tasks"]] == [0, 1]
    for task in probe["tasks"]:
        assert task["python"] == str(standalone_cluster.python)
        assert Path(task["cwd"]).parent == app_folder  # <work>/<app id>/<executor id>: the worker's executor
        assert task["tagfactory"].startswith("./tagfactory.zip/")  # fetched into the executor's folder
        assert task["value"] == transactional_id(f"probe{task['n']}", PROBE_DATE, "drop")
    assert shipped.task_executors() == {("0", "127.0.0.1")}
    finished = {a["id"]: a["state"] for a in standalone_cluster.state()["completedapps"]}
    assert finished[without.app_id] == finished[shipped.app_id] == "FINISHED"


def test_the_published_profile_is_what_the_oracle_computes(daily: DailyRun, demo_data: Path) -> None:
    check_profile(daily, demo_data)


def test_audience_members_are_what_the_oracle_selects_on_the_published_profile(daily: DailyRun) -> None:
    check_audiences(daily)


def test_the_exports_deliver_the_members_minus_the_suppressions(daily: DailyRun, demo_data: Path,
                                                                kafka_broker: Any) -> None:
    check_exports(daily, demo_data, kafka_broker.bootstrap,
                  read=lambda location: Path(location.removeprefix("file://")).read_bytes())


def test_every_application_finished_with_its_tasks_on_the_worker(daily: DailyRun,
                                                                 standalone_cluster: StandaloneCluster) -> None:
    finished = {a["id"]: a for a in standalone_cluster.state()["completedapps"]}
    for name, step in daily.steps.items():
        assert finished[step.app_id]["state"] == "FINISHED", name
        assert step.task_executors() == {("0", "127.0.0.1")}, name  # every task on the worker's one executor
        assert (standalone_cluster.work_dir / step.app_id / "0" / "stderr").is_file(), name
    # the Kafka delivery's producing task (mapInArrow: project code in the executor's Python) ran there
    # too; its stage is named after the driver's call site, inside the shipped zip
    producing = "tagfactory.zip/tagfactory/exports/kafka.py"
    assert daily.steps["export-deliver"].task_executors(producing) == {("0", "127.0.0.1")}
