"""The workload whose classes go into the CDS archive (jvm/cds.py): the paths every job takes.

    spark-submit ... jvm/cds_workload.py WORKDIR

A session with Delta Lake, a partitioned Delta write, a read with a filter, an aggregate, a SQL
query with a window, a MERGE and a Parquet write: the classes Spark and Delta load on the way are
archived when the JVM exits. Nothing of it is kept.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession


def main(workdir: str) -> None:
    spark = SparkSession.builder.appName("tagfactory-cds").getOrCreate()
    table = f"{workdir}/delta"
    rows = spark.range(2000).selectExpr("id", "id % 7 AS k", "CAST(id AS STRING) AS v",
                                        "DATE'2026-01-01' + CAST(id % 30 AS INT) AS dt")
    rows.write.format("delta").partitionBy("dt").save(table)
    spark.read.format("delta").load(table).where("dt = DATE'2026-01-05'").groupBy("k").count().collect()
    spark.sql(f"SELECT k, count(DISTINCT v) AS n, max(id) OVER (PARTITION BY k) AS m "
              f"FROM delta.`{table}` GROUP BY k, id").collect()
    spark.sql(f"MERGE INTO delta.`{table}` t USING (SELECT 1 AS id) s ON t.id = s.id "
              "WHEN MATCHED THEN UPDATE SET v = 'x'")
    spark.read.format("delta").load(table).write.parquet(f"{workdir}/parquet")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
