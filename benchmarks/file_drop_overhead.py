"""Benchmark: what a file drop costs on top of Spark's plain CSV writer.

Synthesizes a staged selection (``--rows``, default 1,000,000; five columns) as Parquet, then
alternates ``--repeat`` times (default 3) between

* ``plain``: ``spark.read.parquet(staged).coalesce(n).write.csv(gzip)``: the same rows, the same
  number of files as the drop, nothing else;
* ``plain-natural``: the same without ``coalesce`` (the staged partitioning as it is);
* ``drop``: :func:`tagfactory.exports.files.deliver_files` (gzip CSV, formula escaping, renames,
  read-back reconciliation through Spark, SHA-256 per file, manifest, ``_SUCCESS``, ``_LATEST``),

and prints the best seconds of each, the drop's seconds per step (from its hooks) and the
overhead ratio drop / plain (target <= 1.10). It also times SHA-256 of the delivered files
streamed through the driver's JVM (what the drop does) against ``sc.binaryFiles`` + hashlib in
the executors. Asserts nothing. Usage:

    python benchmarks/file_drop_overhead.py [--rows 1000000] [--repeat 3] [--max-rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    from pyspark.sql import functions as F

    from tagfactory.compiler.export_models import FilesDestination
    from tagfactory.exports.contracts import ExportedColumn, Selection
    from tagfactory.exports.files import deliver_files
    from tagfactory.exports.hadoopfs import DropFs
    from tagfactory.lakehouse.spark import build_spark_session

    work = Path(tempfile.mkdtemp(prefix="file-drop-bench-"))
    spark = build_spark_session("file-drop-bench", master="local[2]",
                                conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"})
    spark.sparkContext.setLogLevel("ERROR")
    try:
        staged = str(work / "staged")
        (spark.range(args.rows, numPartitions=4)
         .select(F.format_string("u%09d", "id").alias("key"),
                 F.sha2(F.col("id").cast("string"), 256).alias("email"),
                 F.concat(F.lit("note "), (F.col("id") % 997).cast("string")).alias("note"),
                 (F.col("id") % 1000).cast("int").alias("score"),
                 F.when(F.col("id") % 50 == 0, F.lit("=formula")).otherwise(F.lit("text")).alias("flag"))
         .write.parquet(staged))
        columns = tuple(ExportedColumn(n, t) for n, t in
                        (("key", "string"), ("email", "string"), ("note", "string"), ("score", "int"),
                         ("flag", "string")))
        dest = FilesDestination.model_validate({"kind": "files", "name": "bench", "path": "bench",
                                                "csv": {"compression": "gzip"}, "max_rows_per_file": args.max_rows})
        files = max(1, math.ceil(args.rows / args.max_rows))
        times: dict[str, list[float]] = {"plain": [], "plain-natural": [], "drop": []}
        steps: list[dict[str, float]] = []
        for attempt in range(args.repeat):
            out = work / f"plain-{attempt}"
            began = time.perf_counter()
            spark.read.parquet(staged).coalesce(files).write.option("compression", "gzip").csv(str(out))
            times["plain"].append(time.perf_counter() - began)

            out = work / f"natural-{attempt}"
            began = time.perf_counter()
            spark.read.parquet(staged).write.option("compression", "gzip").csv(str(out))
            times["plain-natural"].append(time.perf_counter() - began)

            selection = Selection(export="bench", entity="user", snapshot_date=dt.date(2026, 11, 24),
                                  content_id=f"c{attempt}", staged_uri=staged, columns=columns,
                                  source_versions={"profile": 1}, manifest_digest="0" * 64,
                                  rows_selected=args.rows, rows_suppressed={})
            marks: list[tuple[str, float]] = []
            began = time.perf_counter()
            delivery = deliver_files(spark, selection, dest, str(work / "drops"),
                                     hooks=lambda step, m=marks: m.append((step, time.perf_counter())))
            ended = time.perf_counter()
            times["drop"].append(ended - began)
            marks.append(("end", ended))
            steps.append({a: b_t - a_t for (a, a_t), (_, b_t) in zip(marks, marks[1:], strict=False)})
            print(f"attempt {attempt}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)

        best = {k: min(v) for k, v in times.items()}
        print(f"\nrows {args.rows:,}, files {files}, max_rows_per_file {args.max_rows:,}; best of {args.repeat}:")
        for name, seconds in best.items():
            print(f"  {name:14s} {seconds:6.2f}s")
        fastest = min(range(args.repeat), key=lambda i: times["drop"][i])
        print("  drop steps     " + ", ".join(f"{k} {v:.2f}s" for k, v in steps[fastest].items()))
        print(f"overhead drop / plain: {best['drop'] / best['plain']:.3f} (target <= 1.10); "
              f"drop / plain-natural: {best['drop'] / best['plain-natural']:.3f}")

        run = work / "drops" / "dt=2026-11-24" / f"run=c{fastest}"
        uris = [f"file://{run / f.name}" for f in delivery.files]
        fs = DropFs(spark, str(work / "drops"))
        began = time.perf_counter()
        driver = [fs.sha256(u) for u in uris]
        driver_s = time.perf_counter() - began
        began = time.perf_counter()
        executors = dict(spark.sparkContext.binaryFiles(",".join(uris))
                         .mapValues(lambda raw: hashlib.sha256(raw).hexdigest()).collect())
        executors_s = time.perf_counter() - began
        assert sorted(driver) == sorted(executors.values())
        size = sum(f.bytes for f in delivery.files)
        print(f"sha-256 of {size / 1e6:.1f} MB: driver JVM stream {driver_s:.2f}s, "
              f"executors (binaryFiles + hashlib) {executors_s:.2f}s")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("TAGFACTORY_JARS", str(REPO / ".jars"))
    sys.exit(main())
