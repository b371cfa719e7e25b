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

import csv
import gzip
import hashlib
import io
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from deltalake import DeltaTable

from tests.integration.conftest import EDGE_DATE, REPO, compile_to
from tests.oracle import audience_oracle, compare, pandas_oracle
from tests.servers.process import non_loopback
from tests.servers.standalone import StandaloneCluster, Submitted, clean_env, submit
from tests.servers.standalone_probe import DATE as PROBE_DATE

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PROBE = REPO / "tests" / "servers" / "standalone_probe.py"
DATE = EDGE_DATE  # the generator plants window-boundary rows around it
RUN_ID = "standalone__cluster"
CRM, CHANGES = "crm_high_value_daily", "popup_audience_changes"
DESTINATIONS = {CRM: "crm_sftp", CHANGES: "popup_changes_stream"}
# Speed on this 2-core machine, for the cluster's submits only (build_spark_session applies its
# local-only defaults - 8 shuffle partitions, UI off, 2 Delta snapshot partitions, driver-side
# listing - to local masters only). Measured on the 7 Spark steps (before the Kafka export joined
# them): 173 s with Spark's defaults, 171 s with the partition/UI/listing settings, 129 s adding the
# C1-only JIT and serial GC (short-lived JVMs on small data spend their time compiling, not running).
JVM_OPTIONS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
FAST = {
    "spark.sql.shuffle.partitions": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "4096",
    "spark.ui.enabled": "false",
    "spark.locality.wait": "0",  # one executor: waiting for a better locality level only delays tasks
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.extraJavaOptions": JVM_OPTIONS,
}


def _shipping() -> tuple[list[str], dict[str, str]]:
    """``--jars`` and ``--conf`` as the DAG passes them: ``.jars/spark/*.jar`` and its spark-conf.json."""
    from tagfactory.lakehouse.jars import delta_session_conf

    conf = delta_session_conf()
    assert conf, "no resolved jars: run `make jars`"
    return conf.pop("spark.jars").split(","), conf


@dataclass
class DailyRun:
    base: Path
    settings: dict[str, Any]
    tag_types: dict[str, str]  # built tag -> type, from the compiled manifest
    steps: dict[str, Submitted] = field(default_factory=dict)
    verify_output: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def warehouse(self) -> Path:
        return Path(self.settings["warehouse"])

    def table(self, name: str) -> pd.DataFrame:
        frame = DeltaTable(str(self.warehouse / name)).to_pandas(filters=[("dt", "=", DATE)])
        return frame.drop(columns=["dt"])


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
    config = base / "settings.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    manifest = compile_to(REPO / "tag_definitions", base / "target")
    jars, conf = _shipping()
    run = DailyRun(base, settings, {t.name: t.type for t in manifest.entities[0].tags})
    common = ["--manifest", str(base / "target" / "manifest.json"), "--date", DATE.isoformat(), "--run-id", RUN_ID]
    exports = [arg for name in DESTINATIONS for arg in ("--export", name)]
    steps = [(f"profile-{step}", "build_profile.py", ["--step", step]) for step in
             ("check-sources", "stage", "audit", "publish")]
    steps += [("audiences", "build_audiences.py", []),
              ("export-select", "export.py", [*exports, "--step", "select"]),
              ("export-deliver", "export.py", [*exports, "--step", "deliver",
                                               *(arg for d in DESTINATIONS.values() for arg in ("--destination", d))])]
    for name, script, args in steps:
        task = name.removeprefix("profile-")
        lineage = ["--lineage-parent-id", f"default/tag_factory_daily.{task}/{RUN_ID}",
                   "--lineage-root-parent-id", f"default/tag_factory_daily/{RUN_ID}"]
        done = submit(standalone_cluster, REPO / "jobs" / script, *common, *args, *lineage, "--config", str(config),
                      log=base / f"{name}.log", py_files=[project_zip], jars=jars, conf={**conf, **FAST})
        assert done.returncode == 0, f"{name} failed on the cluster:\n{done.output[-4000:]}"
        run.steps[name], run.seconds[name] = done, round(done.seconds, 1)
    # the DAG's verify task runs the job with its Python, no Spark: here the shipped zip is its project
    began = time.monotonic()
    verify = subprocess.run([sys.executable, str(REPO / "jobs" / "export.py"), *common, *exports, "--step", "verify",
                             "--config", str(config)], capture_output=True, text=True, timeout=300, cwd=base,
                            env=clean_env(PYTHONPATH=str(project_zip)))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    run.verify_output, run.seconds["export-verify"] = verify.stdout + verify.stderr, round(time.monotonic() - began, 1)
    print("standalone daily run, seconds per step:", json.dumps(run.seconds))
    return run


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


def _oracle_members(daily: DailyRun, profile: pd.DataFrame) -> dict[str, set[str]]:
    audiences, _ = audience_oracle.load_definitions(REPO / "tag_definitions")
    return audience_oracle.audience_members(audiences, profile, DATE, key="user_id", tag_types=daily.tag_types)


def test_the_published_profile_is_what_the_oracle_computes(daily: DailyRun, demo_data: Path) -> None:
    published = daily.table("profile_user").set_index("user_id")
    expected = pandas_oracle.compute_profile(pandas_oracle.load_sources(demo_data), DATE)
    tags = daily.tag_types
    assert set(expected.columns) == set(tags) and set(tags) <= set(published.columns)
    assert sorted(published.index) == sorted(expected.index) and published.index.is_unique
    mismatches = compare.mismatches(published, expected, tags)
    assert not mismatches, f"{len(mismatches)} tags differ:\n" + "\n".join(mismatches)
    out = daily.steps["profile-audit"].output + daily.steps["profile-check-sources"].output
    assert "quality gate PASSED for profile_user" in out and "quality gate PASSED for source:orders" in out


def test_audience_members_are_what_the_oracle_selects_on_the_published_profile(daily: DailyRun) -> None:
    profile = daily.table("profile_user")
    expected = _oracle_members(daily, profile)
    members = daily.table("audience_members_user")
    got = {name: set(group["user_id"]) for name, group in members.groupby("audience")}
    assert {n: len(k) for n, k in got.items() if k} == {n: len(k) for n, k in expected.items() if k}
    for name, keys in expected.items():
        assert got.get(name, set()) == keys, name
    assert sum(1 for keys in expected.values() if keys) >= 8


def _expected_rows(daily: DailyRun, export: str) -> set[tuple[str, str]]:
    """(user_id, audience) the export delivers: the members (oracle) of its audiences - or their
    changes - minus its suppressions, read from the YAML definition."""
    [spec] = [x for x in yaml.safe_load((REPO / "tag_definitions/exports/demo.yaml").read_text())["exports"]
              if x["name"] == export]
    profile = daily.table("profile_user")
    members = _oracle_members(daily, profile)
    if spec["what"]["kind"] == "changes":  # the first snapshot: every member entered
        changes = audience_oracle.audience_changes(members, None)
        rows = {(key, name) for name, key, change in changes
                if name in spec["what"]["audiences"] and change in spec["what"]["changes"]}
    else:
        rows = {(key, name) for name in spec["what"]["audiences"] for key in members[name]}
    suppressed = {key for name in spec.get("suppression", {}).get("audiences", []) for key in members[name]}
    for condition in spec.get("suppression", {}).get("tags", []):
        assert condition["op"] == "is_false", condition  # the only operator the shipped exports use
        values = profile.set_index("user_id")[condition["tag"]]
        suppressed |= set(values.index[values.eq(False).fillna(False).astype(bool)])
    return {(key, name) for key, name in rows if key not in suppressed}


def test_the_exports_deliver_the_members_minus_the_suppressions(daily: DailyRun, demo_data: Path,
                                                                kafka_broker: Any) -> None:
    receipts = daily.table("export_receipts")
    expected_crm = _expected_rows(daily, CRM)
    [drop] = receipts[receipts["export"] == CRM].to_dict("records")
    assert (drop["destination"], drop["status"]) == ("crm_sftp", "delivered")
    assert drop["rows_delivered"] == drop["rows_expected"] == len(expected_crm) > 0
    folder = Path(drop["location"].removeprefix("file://"))
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["rows"]["delivered"] == len(expected_crm)
    assert manifest["rows"]["selected"] - sum(manifest["rows"]["suppressed"].values()) == len(expected_crm)
    rows: list[dict[str, str]] = []
    for f in manifest["files"]:
        raw = (folder / f["name"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == f["sha256"]
        rows += list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8-sig"))))
    assert {(r["user_id"], r["audience"]) for r in rows} == expected_crm and len(rows) == len(expected_crm)
    # hashed on the executors by the tagfactory-udf jar's functions (shipped with --jars): e-mail
    # trimmed and lowercased, then SHA-256 (docs/hashing-profiles.md)
    emails = pd.read_parquet(demo_data / "users", columns=["user_id", "email"]).set_index("user_id")["email"]
    checked = 0
    for row in rows:
        email = emails.get(row["user_id"])
        if isinstance(email, str) and email.strip():
            assert row["email_sha256"] == hashlib.sha256(email.strip().lower().encode()).hexdigest()
            checked += 1
    assert checked > 0
    assert "tagfactory-udf jar is not on Spark's classpath" not in daily.steps["export-select"].output

    expected_changes = _expected_rows(daily, CHANGES)
    [stream] = receipts[receipts["export"] == CHANGES].to_dict("records")
    assert (stream["destination"], stream["status"]) == ("popup_changes_stream", "delivered")
    assert stream["rows_delivered"] == stream["rows_expected"] == len(expected_changes) > 0
    [control] = _committed(kafka_broker.bootstrap, daily.settings["kafka"]["control_topic"])
    assert (control["export"], control["snapshot_date"]) == (CHANGES, DATE.isoformat())
    assert control["count"] == len(expected_changes)
    # the verify step's summary: one reconciled line per export and destination
    summary = [line.split()[:5] for line in daily.verify_output.splitlines()]
    assert [CRM, "crm_sftp", "files", DATE.isoformat(), f"{len(expected_crm):,}"] in summary
    assert [CHANGES, "popup_changes_stream", "kafka", DATE.isoformat(), f"{len(expected_changes):,}"] in summary


def _committed(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """The JSON values of every committed message of a one-partition topic."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex[:6]}",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    values: list[dict[str, Any]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        while True:
            msg = consumer.poll(10)
            assert msg is not None, f"{topic}: no end of partition within 10 s"
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                return values
            values.append(json.loads(msg.value()))
    finally:
        consumer.close()


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
