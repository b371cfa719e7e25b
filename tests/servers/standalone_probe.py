"""A tiny spark-submit job whose tasks use a project module (tests/integration/test_standalone_cluster.py).

    spark-submit --master spark://... [--py-files tagfactory.zip] standalone_probe.py

Each of two tasks imports ``tagfactory.exports.kafka`` (the module whose ``mapInArrow`` function the
Kafka exports run on executors) and returns where it imported ``tagfactory`` from, its working
folder and a value computed by the module. Prints one line ``PROBE <json>`` with the driver's
``tagfactory`` origin and the tasks' results. Without the project on the executors the tasks fail
with ``ModuleNotFoundError`` and so does the job (exit code 1).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sys
from collections.abc import Iterator

from pyspark.sql import SparkSession

DATE = dt.date(2026, 11, 23)


def on_executor(partition: Iterator[int]) -> Iterator[str]:
    """Runs in the executor's Python worker: project code, imported there."""
    import tagfactory
    from tagfactory.exports.kafka import transactional_id

    for n in partition:
        yield json.dumps({"n": n, "tagfactory": tagfactory.__file__, "cwd": os.getcwd(), "python": sys.executable,
                          "value": transactional_id(f"probe{n}", DATE, "drop")})


def main() -> int:
    spark = SparkSession.builder.appName("tagfactory-standalone-probe").getOrCreate()
    try:
        spec = importlib.util.find_spec("tagfactory")
        tasks = spark.sparkContext.parallelize(range(2), 2).mapPartitions(on_executor).collect()
        print("PROBE " + json.dumps({"driver": spec.origin if spec else None,
                                     "tasks": [json.loads(t) for t in tasks]}), flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
