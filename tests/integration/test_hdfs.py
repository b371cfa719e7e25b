"""Delta tables on a real HDFS (mini cluster, tests/servers/hdfs.py): Spark and delta-rs.

Spark writes the table natively (``df.write.format("delta")``, Delta Lake 4.4.0 jars in the shared
session) to ``hdfs://127.0.0.1:PORT/...`` through the Hadoop 3.5.0 client of the pyspark wheel,
and reads it back, including time travel (``VERSION AS OF``). delta-rs (``deltalake``) opens the
same ``hdfs://`` URI with its built-in HDFS store (hdfs-native, a Rust HDFS client: no Java).
The YARN mini cluster (a separate fixture, tests/servers/yarn.py) is checked at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.servers.process import non_loopback

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers.hdfs import HdfsCluster
    from tests.servers.yarn import YarnCluster

pytestmark = [pytest.mark.slow, pytest.mark.spark]

V0 = [("u1", "2026-11-23", 3), ("u2", "2026-11-23", 0), ("u3", "2026-11-24", 7)]
V1 = [("u4", "2026-11-24", 1), ("u5", "2026-11-24", 2)]
COLUMNS = "user_id STRING, dt STRING, orders_30d INT"


@pytest.fixture(scope="module")
def delta_on_hdfs(spark: SparkSession, hdfs_cluster: HdfsCluster) -> str:
    """``hdfs://.../warehouse/profile``: version 0 = V0, version 1 = V0 + V1 (partitioned by dt)."""
    uri = hdfs_cluster.url("/warehouse/profile")
    spark.createDataFrame(V0, COLUMNS).write.format("delta").partitionBy("dt").save(uri)
    spark.createDataFrame(V1, COLUMNS).write.format("delta").mode("append").save(uri)
    return uri


def rows(frame) -> list[tuple]:  # type: ignore[no-untyped-def]
    return sorted(tuple(r) for r in frame.select("user_id", "dt", "orders_30d").collect())


def test_cluster_listens_on_loopback_only(hdfs_cluster: HdfsCluster) -> None:
    assert non_loopback(hdfs_cluster.process.pid) == []


def test_spark_reads_delta_on_hdfs_with_time_travel(spark: SparkSession, delta_on_hdfs: str) -> None:
    assert rows(spark.read.format("delta").load(delta_on_hdfs)) == sorted(V0 + V1)
    assert rows(spark.sql(f"SELECT * FROM delta.`{delta_on_hdfs}` VERSION AS OF 0")) == sorted(V0)
    history = spark.sql(f"DESCRIBE HISTORY delta.`{delta_on_hdfs}`").collect()
    assert [h.version for h in history] == [1, 0]
    # the commit log really lives on HDFS
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{delta_on_hdfs}/_delta_log/00000000000000000001.json")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    assert fs.getScheme() == "hdfs" and fs.exists(path)


def test_delta_rs_reads_the_same_table_on_hdfs(spark: SparkSession, delta_on_hdfs: str) -> None:
    from deltalake import DeltaTable

    from tagfactory.lakehouse.delta import read_arrow

    def arrow_rows(table: DeltaTable) -> list[tuple]:
        data = read_arrow(table, columns=["user_id", "dt", "orders_30d"])
        return sorted(zip(*(data[c].to_pylist() for c in data.column_names), strict=True))

    table = DeltaTable(delta_on_hdfs)
    assert table.version() == 1
    assert table.metadata().partition_columns == ["dt"]
    assert arrow_rows(table) == sorted(V0 + V1)
    assert arrow_rows(DeltaTable(delta_on_hdfs, version=0)) == sorted(V0)


def test_yarn_cluster_runs_one_node_on_loopback(yarn_cluster: YarnCluster) -> None:
    """The RM answers its REST API with one RUNNING NodeManager; nothing listens off loopback."""
    import json
    import urllib.request

    assert non_loopback(yarn_cluster.process.pid) == []
    with urllib.request.urlopen(f"{yarn_cluster.web}/ws/v1/cluster/info", timeout=10) as reply:
        assert json.load(reply)["clusterInfo"]["state"] == "STARTED"
    with urllib.request.urlopen(f"{yarn_cluster.web}/ws/v1/cluster/nodes", timeout=10) as reply:
        nodes = json.load(reply)["nodes"]["node"]
    assert [node["state"] for node in nodes] == ["RUNNING"]
    assert yarn_cluster.config.is_file()
