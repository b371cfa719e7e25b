"""Sessions the project builds: Delta Lake is on, and Spark's variable substitution is off for good.

Spark replaces ``${env:NAME}`` (and ``${system:...}``, ``${spark...}``) in SQL text with the value
before parsing when ``spark.sql.variable.substitute`` is on (Spark's default): a definition could
copy a secret from the environment into a table. Validation refuses ``${`` in definitions; this is
the run-time defence behind it (docs/security.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tagfactory.lakehouse.delta import session_conf
from tagfactory.lakehouse.spark import build_spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark
QUERY = "SELECT '${env:TAGFACTORY_TEST_SECRET}' AS v"


def test_a_project_session_does_not_substitute_environment_variables(spark: SparkSession,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGFACTORY_TEST_SECRET", "s3cr3t")
    assert os.environ["TAGFACTORY_TEST_SECRET"] == "s3cr3t"
    assert spark.conf.get("spark.sql.variable.substitute") == "false"
    assert spark.sql(QUERY).first()["v"] == "${env:TAGFACTORY_TEST_SECRET}"  # type: ignore[index]
    again = build_spark_session("tagfactory-tests", conf={"spark.sql.variable.substitute": "true"})
    assert again is spark or again.sparkContext is spark.sparkContext
    assert again.conf.get("spark.sql.variable.substitute") == "false"  # settings cannot turn it back on


def test_spark_substitutes_when_the_setting_is_on(spark: SparkSession) -> None:
    """Control: with Spark's default the JVM's environment reaches the query (HOME is set in the JVM)."""
    with session_conf(spark, "spark.sql.variable.substitute", "true"):
        value = spark.sql("SELECT '${env:HOME}' AS v").first()["v"]  # type: ignore[index]
    assert value != "${env:HOME}" and value == os.environ["HOME"]


def test_a_project_session_has_delta_lake(spark: SparkSession, tmp_path: object) -> None:
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    path = f"{tmp_path}/t"
    spark.range(3).write.format("delta").save(path)
    assert spark.sql(f"SELECT count(*) AS n FROM delta.`{path}` VERSION AS OF 0").first()["n"] == 3  # type: ignore[index]


def _jobs_while(spark: SparkSession, action: Callable[[], object]) -> int:
    """How many Spark jobs ``action`` started."""
    tracker = spark.sparkContext.statusTracker()
    group = f"listing-{id(action)}"
    spark.sparkContext.setJobGroup(group, "listing test")
    try:
        action()
        return len(tracker.getJobIdsForGroup(group))
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]


def test_a_local_session_lists_date_folders_on_the_driver(spark: SparkSession, tmp_path: Path) -> None:
    """A source of 120 daily folders registers without a Spark listing job (one task per folder);
    Spark's default (threshold 32) starts one: the control."""
    root = tmp_path / "src"
    for day in range(120):
        folder = root / f"dt=2026-{1 + day // 28:02d}-{1 + day % 28:02d}"
        folder.mkdir(parents=True)
        (folder / "part-0.parquet").write_bytes(b"")  # listed, never read

    def read() -> object:
        return spark.read.schema("user_id string, dt date").option("basePath", str(root)).parquet(str(root))

    assert spark.conf.get("spark.sql.sources.parallelPartitionDiscovery.threshold") == "4096"
    assert _jobs_while(spark, read) == 0
    with session_conf(spark, "spark.sql.sources.parallelPartitionDiscovery.threshold", "32"):
        assert _jobs_while(spark, read) >= 1


def test_the_project_session_keeps_its_jvm_options_and_maps_the_cds_archive(spark: SparkSession) -> None:
    """conftest's Derby option and the CDS archive's options are joined, not one replacing the other."""
    from tagfactory.lakehouse.jars import cds_java_options

    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions") or ""
    assert cds_java_options(), "no CDS archive: `make jars` builds it (jvm/cds.py)"
    assert cds_java_options() in options and "-Dderby.system.home=" in options


def _loaded_from(java_options: str, workdir: Path) -> str:
    """Where a spark-submit's driver JVM loaded SparkContext from (its class-load log)."""
    import subprocess
    import sys

    from pyspark.find_spark_home import _find_spark_home

    log = workdir / f"classes-{len(list(workdir.iterdir()))}.log"
    job = workdir / "job.py"
    job.write_text("from pyspark.sql import SparkSession\nSparkSession.builder.getOrCreate().range(3).count()\n")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_SUBMIT_OPTS", None)
    subprocess.run([str(Path(_find_spark_home()) / "bin" / "spark-submit"), "--master", "local[1]",
                    "--conf", "spark.ui.enabled=false", "--driver-java-options",
                    f"{java_options} -Xlog:class+load=info:file={log}", str(job)],
                   env=env, check=True, capture_output=True, timeout=300)
    (line,) = [x for x in log.read_text().splitlines() if "org.apache.spark.SparkContext source:" in x]
    return line.split("source:", 1)[1].strip()


@pytest.mark.slow
def test_a_driver_jvm_maps_spark_classes_from_the_cds_archive(tmp_path: Path) -> None:
    """The archive jvm/cds.py builds is used: Spark's classes come from it, not from the jars (control)."""
    from tagfactory.lakehouse.jars import cds_java_options

    assert _loaded_from(cds_java_options(), tmp_path) == "shared objects file (top)"
    assert _loaded_from("", tmp_path).endswith(".jar")
