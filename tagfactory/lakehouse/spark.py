"""SparkSession construction for jobs and tests.

Nothing here runs at import time: callers build the session and pass it in. This module imports
only the standard library and pyspark, so any job can use it without pulling in the package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from tagfactory.lakehouse.jars import delta_session_conf

DEFAULT_LOCAL_MASTER = "local[*]"

# Session time zone is a correctness setting (dates and timestamps), so it applies everywhere.
# The console progress bar garbles logs (Airflow, CI); the jobs print their own progress.
# Variable substitution is off: Spark would replace `${env:SECRET}` in any SQL text (compiled tags
# included) with the value before parsing (docs/security.md).
_ALWAYS = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false",
           "spark.sql.variable.substitute": "false"}
# Settings whose ``conf`` entry is appended to the default's instead of replacing it.
_JOINED = ("spark.driver.extraJavaOptions",)
# Settings that cannot be overridden by ``conf``.
_ENFORCED = {"spark.sql.variable.substitute": "false"}
# Sizing and UI defaults that only make sense on one machine. Delta reconstructs a table's state
# with 50 partitions by default: 50 tasks for a 10-file log on 2 cores. Spark lists more than 32
# folders with a Spark job of one task per folder: a source of 400 daily partitions took 9 s to
# register that way and 0.4 s listed by the driver (local disks list in microseconds; on a
# cluster over object storage the parallel listing pays off, so the default stays there).
_LOCAL_ONLY = {"spark.sql.shuffle.partitions": "8", "spark.ui.enabled": "false",
               "spark.databricks.delta.snapshotPartitions": "2",
               "spark.sql.sources.parallelPartitionDiscovery.threshold": "4096"}


def build_spark_session(
    app_name: str,
    master: str | None = None,
    conf: dict[str, str] | None = None,
    hive_metastore_uri: str | None = None,
) -> SparkSession:
    """Build (or return the running) SparkSession with the project's defaults.

    Defaults: ``spark.sql.session.timeZone=UTC`` and ``spark.sql.variable.substitute=false``
    always (the latter cannot be overridden); for ``local`` masters also
    ``spark.sql.shuffle.partitions=8``, ``spark.ui.enabled=false`` and driver-side listing of up to
    4,096 partition folders. When this call starts the
    JVM and the project's jars were resolved (``.jars/spark``, see :mod:`tagfactory.lakehouse.jars`),
    they go on the classpath with Delta Lake's SQL extension and catalog; under spark-submit pass
    them with ``--jars`` and ``--conf`` (the DAG does). Entries in ``conf`` win over the defaults. Settings read when the JVM starts (``spark.driver.memory``,
    ``spark.driver.extraJavaOptions``) only take effect when this call starts the JVM, i.e. for
    local runs; under spark-submit pass them on the command line. A ``spark.driver.extraJavaOptions``
    in ``conf`` is appended to the default one (the class-data sharing archive of
    :func:`tagfactory.lakehouse.jars.cds_java_options`).

    Args:
        app_name: Application name shown in logs and the Spark UI.
        master: Spark master URL. ``None`` keeps a master already set by spark-submit (or an
            active SparkContext) and otherwise runs ``local[*]``.
        conf: Extra Spark configuration, e.g. ``{"spark.driver.memory": "4g"}``.
        hive_metastore_uri: ``thrift://host:port`` of a Hive metastore (``settings.hive.metastore_uri``):
            the session's catalog is then that metastore (:func:`hive_session_conf`). Static: it only
            applies when this call creates the session.

    Returns:
        The SparkSession.
    """
    effective_master = master or _preset_master()
    builder = SparkSession.builder.appName(app_name)
    if effective_master is None:
        effective_master = DEFAULT_LOCAL_MASTER
        builder = builder.master(effective_master)
    elif master is not None:
        builder = builder.master(master)

    settings = dict(_ALWAYS)
    if effective_master.startswith("local"):
        settings.update(_LOCAL_ONLY)
    if SparkContext._active_spark_context is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        settings.update(delta_session_conf())
    if hive_metastore_uri:
        settings.update(hive_session_conf(hive_metastore_uri))
    for key, value in (conf or {}).items():
        # JVM options add to the defaults' (the CDS archive), other entries replace them
        settings[key] = f"{settings[key]} {value}" if key in _JOINED and key in settings else value
    settings.update(_ENFORCED)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def hive_session_conf(metastore_uri: str) -> dict[str, str]:
    """Settings of a session whose catalog is the standalone Hive metastore at ``metastore_uri``."""
    return {"spark.sql.catalogImplementation": "hive", "spark.hadoop.hive.metastore.uris": metastore_uri}


def _preset_master() -> str | None:
    """Return the master chosen outside this process's code, if any.

    spark-submit starts the driver JVM first and hands its gateway port to Python
    (``PYSPARK_GATEWAY_PORT``); its ``--master`` is then a JVM system property that SparkConf
    reads once connected. Connecting does not start a new JVM in that case.
    """
    if SparkContext._active_spark_context is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    SparkContext._ensure_initialized()
    return SparkConf().get("spark.master", None)


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """Set one SQL conf of ``spark`` for the duration of the block, then restore (or unset) it."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
