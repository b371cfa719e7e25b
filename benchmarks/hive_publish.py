"""Publishing one date of a Hive export table: seconds, with 10 vs 1,000 existing partitions.

    TAGFACTORY_JARS=.jars flock /tmp/tagfactory-spark.lock .venv/bin/python benchmarks/hive_publish.py

Starts the test suite's standalone Hive 2.3.10 metastore (tests/servers/hive.py, Derby, loopback),
builds a Spark session on it with ``build_spark_session(hive_metastore_uri=...)``, creates two
export tables with 10 and 1,000 partitions and then times, on each, median of ``--repeat``:

* the metastore write alone, two ways: Spark SQL (``ALTER TABLE … ADD PARTITION … LOCATION`` /
  ``… PARTITION … SET LOCATION``) and the catalog call :mod:`tagfactory.exports.hive` uses
  (``ExternalCatalog.createPartitions`` / ``alterPartitions``);
* ``deliver_hive`` end to end for a new date (copy of a small staged copy, one metastore write,
  the read-back count through the metastore) and for new content of an existing date.

The ratio 1,000 / 10 shows whether a publish depends on the number of partitions. One run here
(2 cores shared with other jobs; 10 ran first with a colder JVM), median seconds, 10 -> 1,000:
Spark SQL add 0.243 -> 0.151, set 0.248 -> 0.176; catalog add 0.124 -> 0.087, set 0.124 -> 0.109;
count one partition 0.56 -> 0.25; deliver_hive new date 0.83 -> 0.61, new content 0.62 -> 0.52,
unchanged 0.48 -> 0.38 (ratios 0.45-0.88: no growth with the partition count).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tagfactory.compiler.export_models import HiveDestination  # noqa: E402
from tagfactory.exports import hive  # noqa: E402
from tagfactory.exports.contracts import ExportedColumn, Selection  # noqa: E402

BASE = dt.date(2020, 1, 1)


def timed(fn: Callable[[], object], repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tagfactory.lakehouse.spark import build_spark_session
    from tests.servers.hive import start_metastore

    work = Path(tempfile.mkdtemp(prefix="hive-publish-bench-"))
    metastore = start_metastore(work / "metastore")
    try:
        spark = build_spark_session("hive-publish-bench", "local[2]", {
            "spark.sql.warehouse.dir": str(work / "warehouse"), "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1"}, hive_metastore_uri=metastore.uri)
        spark.sparkContext.setLogLevel("ERROR")
        results = {}
        for size in (int(s) for s in args.sizes.split(",")):
            results[size] = run(spark, work, size, args.repeat)
        spark.stop()
    finally:
        metastore.stop()
    sizes = sorted(results)
    print(f"\nmedian seconds of {args.repeat} (metastore: Hive 2.3.10 on Derby, loopback)")
    print(f"{'step':<34}" + "".join(f"{s:>10,}" for s in sizes) + "     ratio")
    for step in results[sizes[0]]:
        row = [results[s][step] for s in sizes]
        print(f"{step:<34}" + "".join(f"{v:>10.3f}" for v in row) + f"{row[-1] / row[0]:>10.2f}")
    return 0


def run(spark: object, work: Path, size: int, repeat: int) -> dict[str, float]:
    from pyspark.sql import SparkSession

    assert isinstance(spark, SparkSession)
    root = str(work / "hive")
    table = f"t{size}"
    dest = HiveDestination(kind="hive", name=table, database="bench", table=table)
    counter = iter(range(10**6))

    def selection(date: dt.date) -> Selection:
        n = next(counter)
        uri = work / "staged" / f"{table}_{n}"
        spark.createDataFrame([(f"u{i}", n) for i in range(100)], "user_id STRING, n BIGINT") \
            .coalesce(1).write.parquet(str(uri))
        return Selection(export="bench", entity="user", snapshot_date=date, content_id=f"c{n:08d}",
                         staged_uri=str(uri), columns=(ExportedColumn("user_id", "string"), ExportedColumn("n", "bigint")),
                         source_versions={}, manifest_digest="bench", rows_selected=100, rows_suppressed={})

    first = selection(BASE)
    hive.deliver_hive(spark, first, dest, root)
    location = f"{root}/bench/{table}/dt={BASE}/content={first.content_id}"
    for start in range(1, size, 200):  # the existing partitions, 200 per statement
        parts = " ".join(f"PARTITION (dt='{BASE + dt.timedelta(days=d)}') LOCATION 'file://{location}'"
                         for d in range(start, min(size, start + 200)))
        spark.sql(f"ALTER TABLE bench.{table} ADD IF NOT EXISTS {parts}")
    catalog = hive.HiveCatalog(spark, "bench", table)
    assert len(spark.sql(f"SHOW PARTITIONS bench.{table}").collect()) == size
    print(f"{table}: {size:,} partitions", flush=True)
    day = iter(range(size + 10, size + 10**5))

    def new_date() -> str:
        return str(BASE + dt.timedelta(days=next(day)))

    def sql_add() -> None:
        hive.metastore_write(spark, f"ALTER TABLE bench.{table} ADD IF NOT EXISTS PARTITION (dt='{new_date()}') "
                                    f"LOCATION 'file://{location}'")

    def sql_set() -> None:
        hive.metastore_write(spark, f"ALTER TABLE bench.{table} PARTITION (dt='{BASE}') SET LOCATION "
                                    f"'file://{location}'")

    out = {
        "metastore write, Spark SQL: add": timed(sql_add, repeat),
        "metastore write, Spark SQL: set": timed(sql_set, repeat),
        "metastore write, catalog: add": timed(lambda: catalog.add_partition(new_date(), f"file://{location}"), repeat),
        "metastore write, catalog: set": timed(lambda: catalog.set_partition_location(str(BASE), f"file://{location}"),
                                              repeat),
        "partition lookup (catalog)": timed(lambda: catalog.partition_location(str(BASE)), repeat),
        "count one partition": timed(lambda: catalog.count(str(BASE)), repeat),
    }
    fresh = [selection(BASE + dt.timedelta(days=next(day))) for _ in range(repeat)]
    out["deliver_hive: new date"] = timed(lambda: hive.deliver_hive(spark, fresh.pop(), dest, root), repeat)
    replace = [selection(BASE) for _ in range(repeat)]
    out["deliver_hive: new content, same date"] = timed(lambda: hive.deliver_hive(spark, replace.pop(), dest, root),
                                                        repeat)
    same = selection(BASE + dt.timedelta(days=next(day)))
    hive.deliver_hive(spark, same, dest, root)
    out["deliver_hive: unchanged"] = timed(lambda: hive.deliver_hive(spark, same, dest, root), repeat)
    return out


if __name__ == "__main__":
    sys.exit(main())
