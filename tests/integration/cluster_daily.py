"""One daily run of the DAG's Spark steps on a cluster, and what it must have produced.

Shared by the cluster tests (test_standalone_cluster.py: Spark standalone on local files;
test_yarn_cluster.py: YARN on HDFS). :func:`run_daily` submits what the DAG's tasks submit, one
spark-submit per task, for one date (:data:`DATE`, around which the generator plants
window-boundary rows): build_profile.py ``check-sources``, ``stage``, ``audit``, ``publish``;
build_audiences.py; export.py ``select`` and ``deliver`` of the given exports in one submit per
step; then ``verify`` with the driver's Python and the shipped zip, no Spark, as the DAG does.
Every submit gets what a cluster user passes: the project's wheel renamed to ``tagfactory.zip``
with ``--py-files``, the jars of ``.jars/spark`` with ``--jars`` and the settings of their
``spark-conf.json`` (as dags/tag_factory_daily.py builds them), the settings file with ``--config``.

The expectations are independent computations: :func:`oracle_members` (the audience oracle over
the published profile) and :func:`expected_rows` (an export's members, or their changes, minus
its suppressions read from the YAML definition).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from deltalake import DeltaTable

from tests.integration.conftest import EDGE_DATE, REPO, compile_to
from tests.oracle import audience_oracle, compare, pandas_oracle
from tests.servers.standalone import SparkCluster, Submitted, clean_env, submit

DATE = EDGE_DATE
CRM, CHANGES = "crm_high_value_daily", "popup_audience_changes"
DESTINATIONS = {CRM: "crm_sftp", CHANGES: "popup_changes_stream"}
# Speed on this 2-core machine, for the cluster's submits only (build_spark_session applies its
# local-only defaults - 8 shuffle partitions, UI off, 2 Delta snapshot partitions, driver-side
# listing - to local masters only). Measured on the standalone cluster's 7 Spark steps (before the
# Kafka export joined them): 173 s with Spark's defaults, 171 s with the partition/UI/listing
# settings, 129 s adding the C1-only JIT and serial GC (short-lived JVMs on small data spend their
# time compiling, not running).
JVM_OPTIONS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
FAST = {
    "spark.sql.shuffle.partitions": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "4096",
    "spark.ui.enabled": "false",
    "spark.locality.wait": "0",  # one executor: waiting for a better locality level only delays tasks
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.extraJavaOptions": JVM_OPTIONS,
    "spark.yarn.am.extraJavaOptions": JVM_OPTIONS,  # YARN's ApplicationMaster (client mode)
}


def shipping() -> tuple[list[str], dict[str, str]]:
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
    def warehouse(self) -> str:
        """The warehouse root as configured: a local path or an ``hdfs://`` URI."""
        return str(self.settings["warehouse"])

    def uri(self, table: str) -> str:
        return f"{self.warehouse.rstrip('/')}/{table}"

    def table(self, name: str) -> pd.DataFrame:
        """The table's ``DATE`` partition, read by delta-rs (local or ``hdfs://``), without ``dt``."""
        frame = DeltaTable(self.uri(name)).to_pandas(filters=[("dt", "=", DATE)])
        return frame.drop(columns=["dt"])


def run_daily(cluster: SparkCluster, base: Path, settings: dict[str, Any], project_zip: Path,
              destinations: dict[str, str], run_id: str) -> DailyRun:
    """The DAG's steps for DATE on ``cluster``, one spark-submit each (see the module docstring)."""
    config = base / "settings.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    manifest = compile_to(REPO / "tag_definitions", Path(settings["target"]))
    jars, conf = shipping()
    run = DailyRun(base, settings, {t.name: t.type for t in manifest.entities[0].tags})
    common = ["--manifest", str(Path(settings["target"]) / "manifest.json"), "--date", DATE.isoformat(),
              "--run-id", run_id]
    exports = [arg for name in destinations for arg in ("--export", name)]
    steps = [(f"profile-{step}", "build_profile.py", ["--step", step]) for step in
             ("check-sources", "stage", "audit", "publish")]
    steps += [("audiences", "build_audiences.py", []),
              ("export-select", "export.py", [*exports, "--step", "select"]),
              ("export-deliver", "export.py", [*exports, "--step", "deliver",
                                               *(arg for d in destinations.values() for arg in ("--destination", d))])]
    for name, script, args in steps:
        task = name.removeprefix("profile-")
        lineage = ["--lineage-parent-id", f"default/tag_factory_daily.{task}/{run_id}",
                   "--lineage-root-parent-id", f"default/tag_factory_daily/{run_id}"]
        done = submit(cluster, REPO / "jobs" / script, *common, *args, *lineage, "--config", str(config),
                      log=base / f"{name}.log", py_files=[project_zip], jars=jars, conf={**conf, **FAST})
        assert done.returncode == 0, f"{name} failed on the cluster:\n{done.output[-4000:]}"
        run.steps[name], run.seconds[name] = done, round(done.seconds, 1)
    # the DAG's verify task runs the job with its Python, no Spark: here the shipped zip is its project
    began = time.monotonic()
    verify = subprocess.run([sys.executable, str(REPO / "jobs" / "export.py"), *common, *exports, "--step", "verify",
                             "--config", str(config)], capture_output=True, text=True, timeout=300, cwd=base,
                            env=clean_env(PYTHONPATH=str(project_zip), **cluster.submit_env))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    run.verify_output, run.seconds["export-verify"] = verify.stdout + verify.stderr, round(time.monotonic() - began, 1)
    print(f"daily run on {cluster.master_url}, seconds per step:", json.dumps(run.seconds))
    return run


def check_profile(run: DailyRun, demo_data: Path) -> None:
    """Every tag of the published profile (delta-rs) equals the pandas oracle's; both gates passed."""
    published = run.table("profile_user").set_index("user_id")
    expected = pandas_oracle.compute_profile(pandas_oracle.load_sources(demo_data), DATE)
    tags = run.tag_types
    assert set(expected.columns) == set(tags) and set(tags) <= set(published.columns)
    assert sorted(published.index) == sorted(expected.index) and published.index.is_unique
    mismatches = compare.mismatches(published, expected, tags)
    assert not mismatches, f"{len(mismatches)} tags differ:\n" + "\n".join(mismatches)
    out = run.steps["profile-audit"].output + run.steps["profile-check-sources"].output
    assert "quality gate PASSED for profile_user" in out and "quality gate PASSED for source:orders" in out


def check_audiences(run: DailyRun) -> None:
    """Every audience's members equal the audience oracle's over the published profile."""
    expected = oracle_members(run, run.table("profile_user"))
    members = run.table("audience_members_user")
    got = {name: set(group["user_id"]) for name, group in members.groupby("audience")}
    assert {n: len(k) for n, k in got.items() if k} == {n: len(k) for n, k in expected.items() if k}
    for name, keys in expected.items():
        assert got.get(name, set()) == keys, name
    assert sum(1 for keys in expected.values() if keys) >= 8


def check_exports(run: DailyRun, demo_data: Path, bootstrap: str, read: Callable[[str], bytes]) -> None:
    """The CRM drop (:func:`check_crm_drop`), the Kafka changes' receipt and control record, and the
    verify step's summary: one reconciled line per export and destination."""
    expected_crm = check_crm_drop(run, demo_data, read)
    receipts = run.table("export_receipts")
    expected_changes = expected_rows(run, CHANGES)
    [stream] = receipts[receipts["export"] == CHANGES].to_dict("records")
    assert (stream["destination"], stream["status"]) == ("popup_changes_stream", "delivered")
    assert stream["rows_delivered"] == stream["rows_expected"] == len(expected_changes) > 0
    [control] = committed(bootstrap, run.settings["kafka"]["control_topic"])
    assert (control["export"], control["snapshot_date"]) == (CHANGES, DATE.isoformat())
    assert control["count"] == len(expected_changes)
    summary = [line.split()[:5] for line in run.verify_output.splitlines()]
    assert [CRM, "crm_sftp", "files", DATE.isoformat(), f"{len(expected_crm):,}"] in summary
    assert [CHANGES, "popup_changes_stream", "kafka", DATE.isoformat(), f"{len(expected_changes):,}"] in summary


def oracle_members(run: DailyRun, profile: pd.DataFrame) -> dict[str, set[str]]:
    audiences, _ = audience_oracle.load_definitions(REPO / "tag_definitions")
    return audience_oracle.audience_members(audiences, profile, DATE, key="user_id", tag_types=run.tag_types)


def expected_rows(run: DailyRun, export: str) -> set[tuple[str, str]]:
    """(user_id, audience) the export delivers: the members (oracle) of its audiences - or their
    changes - minus its suppressions, read from the YAML definition."""
    [spec] = [x for x in yaml.safe_load((REPO / "tag_definitions/exports/demo.yaml").read_text())["exports"]
              if x["name"] == export]
    profile = run.table("profile_user")
    members = oracle_members(run, profile)
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


def check_crm_drop(run: DailyRun, demo_data: Path, read: Callable[[str], bytes]) -> set[tuple[str, str]]:
    """The CRM file drop (CSV.gz) against :func:`expected_rows`: its receipt, its manifest's counts,
    every file's SHA-256 and rows, e-mail hashes against hashlib's. ``read(uri)`` returns a file's
    bytes (local, or ``hdfs://`` through Spark). Returns the expected rows."""
    receipts = run.table("export_receipts")
    expected = expected_rows(run, CRM)
    [drop] = receipts[receipts["export"] == CRM].to_dict("records")
    assert (drop["destination"], drop["status"]) == ("crm_sftp", "delivered")
    assert drop["rows_delivered"] == drop["rows_expected"] == len(expected) > 0
    folder = str(drop["location"]).rstrip("/")
    manifest = json.loads(read(f"{folder}/_manifest.json"))
    assert manifest["rows"]["delivered"] == len(expected)
    assert manifest["rows"]["selected"] - sum(manifest["rows"]["suppressed"].values()) == len(expected)
    rows: list[dict[str, str]] = []
    for f in manifest["files"]:
        raw = read(f"{folder}/{f['name']}")
        assert hashlib.sha256(raw).hexdigest() == f["sha256"]
        rows += list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8-sig"))))
    assert {(r["user_id"], r["audience"]) for r in rows} == expected and len(rows) == len(expected)
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
    assert "tagfactory-udf jar is not on Spark's classpath" not in run.steps["export-select"].output
    return expected


def committed(bootstrap: str, topic: str) -> list[dict[str, Any]]:
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
