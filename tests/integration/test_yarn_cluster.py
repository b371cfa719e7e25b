"""The same daily run on YARN over HDFS: sources, warehouse and file drops on ``hdfs://``.

The YARN mini cluster (one ResourceManager, one NodeManager: tests/servers/yarn.py) and the HDFS
mini cluster (one NameNode, one DataNode: tests/servers/hdfs.py) run on 127.0.0.1. The demo sources
are copied to HDFS with Hadoop's own shell (``hadoop fs -put``); the settings name ``hdfs://`` URIs
for the sources, the warehouse and the file drops, and nothing else changes: the DAG's steps are
submitted as on the standalone cluster (tests/integration/cluster_daily.py) with ``--master yarn``
in client mode, ``HADOOP_CONF_DIR`` naming the ResourceManager and HDFS as ``fs.defaultFS`` (where
Spark stages each application), the pyspark wheel's jars as ``spark.yarn.jars`` (``local:``, on the
node) and the executors in YARN containers on a node Python without the project.

Read back afterwards by delta-rs straight from ``hdfs://`` (its built-in hdfs-native store) and by
Spark (Delta Lake on Spark, through the Hadoop client); the CRM drop's manifest and files are read
from HDFS and checked against the oracles as on the standalone cluster; every application
FINISHED/SUCCEEDED in the ResourceManager's REST API with its tasks on the YARN executor.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.cluster_daily import (
    DATE,
    DESTINATIONS,
    DailyRun,
    check_audiences,
    check_exports,
    check_profile,
    run_daily,
)
from tests.integration.conftest import REPO
from tests.servers.process import non_loopback
from tests.servers.yarn import YarnOnHdfs, yarn_on_hdfs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers.hdfs import HdfsCluster
    from tests.servers.yarn import YarnCluster

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RUN_ID = "yarn__cluster"


@pytest.fixture(scope="module")
def yarn(yarn_cluster: YarnCluster, hdfs_cluster: HdfsCluster, tmp_path_factory: pytest.TempPathFactory
         ) -> YarnOnHdfs:
    return yarn_on_hdfs(yarn_cluster, hdfs_cluster, tmp_path_factory.mktemp("yarn-client"))


@pytest.fixture(scope="module")
def daily(yarn: YarnOnHdfs, project_zip: Path, demo_data: Path, kafka_broker: Any,
          tmp_path_factory: pytest.TempPathFactory) -> DailyRun:
    """The sources put on HDFS, then the DAG's steps for DATE on YARN, everything under one HDFS folder."""
    base = tmp_path_factory.mktemp("yarn-daily")
    root = f"/tagfactory-{uuid.uuid4().hex[:8]}"  # the HDFS cluster is shared with test_hdfs
    began = time.monotonic()
    yarn.hdfs.put(demo_data, f"{root}/sources", log=base / "put.log")
    put_seconds = round(time.monotonic() - began, 1)
    settings = {
        "warehouse": yarn.hdfs.url(f"{root}/warehouse"), "sources_root": yarn.hdfs.url(f"{root}/sources"),
        "exports_root": yarn.hdfs.url(f"{root}/deliveries"),
        "target": str(base / "target"), "definitions": str(REPO / "tag_definitions"),
        "quality": {"data_docs": False},
        "kafka": {"bootstrap_servers": kafka_broker.bootstrap, "control_topic": f"control-{uuid.uuid4().hex[:8]}"},
    }
    run = run_daily(yarn, base, settings, project_zip, DESTINATIONS, RUN_ID)
    run.seconds["hdfs-put-sources"] = put_seconds
    print("YARN daily run, seconds:", run.seconds)
    return run


def _hdfs_bytes(spark: SparkSession) -> Any:
    """``read(uri)``: a file's bytes through Hadoop's FileSystem API in the test's Spark session
    (Spark's ``binaryFile`` source would skip ``_manifest.json``: it hides files starting with ``_``)."""
    jvm, hadoop_conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()

    def read(uri: str) -> bytes:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        stream = path.getFileSystem(hadoop_conf).open(path)
        try:
            return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    return read


def _plain(value: Any) -> str:
    """One cell as text, the same for Spark's and delta-rs' pandas frames: timestamps in UTC, maps
    (a dict from Spark, (key, value) pairs from delta-rs) and arrays as sorted/ordered lists."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).isoformat()
    if isinstance(value, dict):
        return _plain(sorted(value.items()))
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    return str(value)


def test_the_clusters_are_on_loopback_and_the_data_is_on_hdfs(daily: DailyRun, yarn: YarnOnHdfs,
                                                              tmp_path: Path) -> None:
    assert non_loopback(yarn.yarn.process.pid) == [] and non_loopback(yarn.hdfs.process.pid) == []
    for key in ("warehouse", "sources_root", "exports_root"):
        assert daily.settings[key].startswith(yarn.hdfs.uri + "/"), key
    # nothing was written next to the run's local files: the job folders hold logs and the manifest only
    assert not any(p.name in ("warehouse", "deliveries", "_delta_log") for p in daily.base.rglob("*"))


def test_the_published_profile_is_what_the_oracle_computes(daily: DailyRun, demo_data: Path) -> None:
    check_profile(daily, demo_data)  # read by delta-rs from hdfs://


def test_audience_members_are_what_the_oracle_selects_on_the_published_profile(daily: DailyRun) -> None:
    check_audiences(daily)


def test_spark_reads_the_same_tables_from_hdfs(daily: DailyRun, spark: SparkSession) -> None:
    from deltalake import DeltaTable

    for table in ("profile_user", "audience_members_user", "export_receipts"):
        uri = daily.uri(table)
        by_spark = spark.read.format("delta").load(uri).where(f"dt = DATE'{DATE}'").toPandas().drop(columns=["dt"])
        by_rust = daily.table(table)
        assert len(by_spark) == len(by_rust) > 0, table
        key = [c for c in ("user_id", "audience", "export", "destination") if c in by_rust.columns]
        columns = sorted(by_rust.columns)
        assert sorted(by_spark.columns) == columns, table
        left = by_spark.sort_values(key).reset_index(drop=True)[columns].map(_plain)
        right = by_rust.sort_values(key).reset_index(drop=True)[columns].map(_plain)
        differs = [c for c in columns if not left[c].equals(right[c])]
        assert not differs, f"{table}: {differs}\n{left[differs].head(3)}\n{right[differs].head(3)}"
        history = spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").collect()
        assert [h.version for h in history][0] == DeltaTable(uri).version(), table


def test_the_exports_deliver_the_members_minus_the_suppressions(daily: DailyRun, demo_data: Path,
                                                                kafka_broker: Any, spark: SparkSession) -> None:
    check_exports(daily, demo_data, kafka_broker.bootstrap, read=_hdfs_bytes(spark))
    [location] = daily.table("export_receipts").query("export == 'crm_high_value_daily'")["location"]
    assert str(location).startswith(daily.settings["exports_root"] + "/")  # the drop is on HDFS


def test_every_application_succeeded_on_yarn_with_its_tasks_in_containers(daily: DailyRun,
                                                                          yarn: YarnOnHdfs) -> None:
    apps = yarn.applications()
    executors: set[tuple[str, str]] = set()
    for name, step in daily.steps.items():
        assert step.app_id.startswith("application_"), name
        app = apps[step.app_id]
        assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), name
        ran = step.task_executors()
        assert len(ran) == 1 and all(executor != "driver" for executor, _ in ran), (name, ran)  # one container
        executors |= ran
    # the Kafka delivery's producing task (mapInArrow: project code in the executor's Python, from the
    # shipped zip) ran in a YARN container too
    producing = daily.steps["export-deliver"].task_executors("tagfactory.zip/tagfactory/exports/kafka.py")
    assert producing and all(executor != "driver" for executor, _ in producing)
    print("YARN executors (id, host):", sorted(executors))
