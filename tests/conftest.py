"""Fixtures shared by all tests.

Keep this file small: only fixtures that many test folders need belong here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

pytest_plugins = ["tests.servers.fixtures"]  # real servers: Kafka, HDFS, Hive (tests/servers)
if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local Spark session (2 cores) for the whole test run.

    Created on first request only, so tests that do not ask for it never start a JVM. The
    warehouse and Derby metastore live in a temporary folder, not in the checkout.
    """
    from tagfactory.lakehouse.spark import build_spark_session

    base = tmp_path_factory.mktemp("spark")
    session = build_spark_session(
        "tagfactory-tests",
        master="local[2]",
        conf={
            "spark.sql.shuffle.partitions": "4",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(base / "warehouse"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={base / 'derby'}",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
