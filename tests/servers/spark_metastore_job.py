"""A separate Spark process whose catalog is the test metastore (run with spark-submit by tests).

    spark-submit ... spark_metastore_job.py write TABLE ROWS_JSON   # Delta table, registered in the metastore

The Spark settings (metastore URI, Delta jars and extensions) come from ``--conf`` options, see
``tests.servers.hive.HiveMetastore.spark_conf``.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

SCHEMA = "user_id STRING, dt STRING, orders_30d INT"


def main(argv: list[str]) -> int:
    command, table = argv[0], argv[1]
    spark = SparkSession.builder.appName(f"metastore-{command}").enableHiveSupport().getOrCreate()
    try:
        if command == "write":
            database = table.split(".")[0]
            spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
            rows = [tuple(row) for row in json.loads(argv[2])]
            frame = spark.createDataFrame(rows, SCHEMA)
            frame.write.format("delta").mode("overwrite").saveAsTable(table)
        else:
            raise SystemExit(f"unknown command {command!r}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
