"""Benchmark: what hashing two PII columns adds to an export selection (target: <= 10%).

A profile-shaped Parquet table of ``--rows`` rows (default 1,000,000) is made by Spark
(``spark.range``: user id, synthetic email -- a third on gmail.com, with dots, so the gmail rule
works -- an 11-digit Chinese mobile number, a segment and three tag columns) and written once,
untimed. The timed step is selection-like: read the table, keep the members of a segment (70%),
select key, email, phone and the tags, write Parquet to a fresh folder. It runs ``plain`` (email
and phone kept) and ``hashed`` (both hashed under ``--profile``, default ``google_cn_v1``, the
profile with the most work: trim, lowercase, the gmail rule, E.164 with a default country code,
SHA-256) with the session's engine (``jvm`` when the tagfactory-udf jar is on spark.jars), and
``expressions`` (the same forced onto the pure-expression path), once each untimed to warm up, then ``--repeat`` times (default 3) alternating the order.
Prints every run, the best of each and the ratio hashed / plain; asserts nothing. Usage:

    python benchmarks/hashing_cost.py [--rows 1000000] [--repeat 3] [--profile google_cn_v1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column

    from tagfactory.compiler.hash_profiles import ValueKind

MODES = ("plain", "sha2", "expressions", "hashed")


def _source(spark: Any, rows: int, path: Path) -> None:
    from pyspark.sql import functions as F

    names = F.element_at(F.array(*[F.lit(n) for n in ("zhang", "wang", "li", "liu", "chen", "yang")]),
                         (F.col("id") % 6 + 1).cast("int"))
    domain = F.element_at(F.array(F.lit("gmail.com"), F.lit("example.com"), F.lit("Example.NET")),
                          (F.col("id") % 3 + 1).cast("int"))
    frame = spark.range(rows, numPartitions=4).select(
        F.concat(F.lit("u"), F.lpad(F.col("id").cast("string"), 9, "0")).alias("user_id"),
        F.concat(F.when(F.col("id") % 5 == 0, F.lit(" ")).otherwise(F.lit("")), names, F.lit("."),
                 F.col("id").cast("string"), F.lit("@"), domain).alias("email"),
        F.concat(F.element_at(F.array(F.lit("13"), F.lit("15"), F.lit("18")), (F.col("id") % 3 + 1).cast("int")),
                 F.lpad(((F.col("id") * 7919) % 1_000_000_000).cast("string"), 9, "0")).alias("phone"),
        (F.col("id") % 10).cast("int").alias("segment"),
        (F.col("id") % 97).cast("int").alias("orders_30d"),
        ((F.col("id") * 13) % 1000 / 10.0).alias("spend_90d"),
        (F.col("id") % 2 == 0).alias("opt_in"),
    )
    frame.write.mode("overwrite").parquet(str(path))


def _select(spark: Any, source: Path, out: Path, mode: str, profile: str) -> float:
    from pyspark.sql import functions as F

    from tagfactory.exports.hashing import treat

    def pii(name: str, kind: ValueKind) -> Column:
        if mode == "sha2":  # the floor: SHA-256 of the raw value, no normalization
            return F.sha2(F.col(name), 256).alias(name)
        engine = "expressions" if mode == "expressions" else None  # hashed: the session's engine (jvm)
        return treat(F.col(name), "keep" if mode == "plain" else f"hash:{profile}", kind, engine).alias(name)

    started = time.perf_counter()
    (spark.read.parquet(str(source))
        .where(F.col("segment") < 7)
        .select("user_id", pii("email", "email"), pii("phone", "phone"), "orders_30d", "spend_90d", "opt_in")
        .write.mode("overwrite").parquet(str(out)))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="google_cn_v1")
    args = parser.parse_args(argv)

    from tagfactory.exports.hashing import engine, profile
    from tagfactory.lakehouse.spark import build_spark_session

    profile(args.profile)  # an unknown name fails before Spark starts
    base = Path(tempfile.mkdtemp(prefix="tagfactory-hashing-"))
    spark = build_spark_session("bench-hashing", "local[2]", {"spark.driver.memory": "2g",
                                                              "spark.sql.shuffle.partitions": "4",
                                                              "spark.ui.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    try:
        source = base / "profile"
        started = time.perf_counter()
        _source(spark, args.rows, source)
        print(f"source: {args.rows:,} rows written in {time.perf_counter() - started:.1f}s (untimed)", flush=True)
        for mode in MODES:
            _select(spark, source, base / f"warm-{mode}", mode, args.profile)
        print("warm-up: one run of each (untimed)", flush=True)
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for round_ in range(args.repeat):
            for mode in (MODES if round_ % 2 == 0 else MODES[::-1]):  # alternate: drift hits all
                seconds = _select(spark, source, base / f"{mode}-{round_}", mode, args.profile)
                times[mode].append(seconds)
                print(f"round {round_ + 1} {mode:<7} {seconds:6.2f}s", flush=True)
        written = spark.read.parquet(str(base / "hashed-0")).count()
        sample = spark.read.parquet(str(base / "hashed-0")).select("email", "phone").first()
    finally:
        used = engine(spark)
        spark.stop()
        shutil.rmtree(base, ignore_errors=True)

    best = {m: min(t) for m, t in times.items()}
    print(f"\n{args.rows:,} rows read, {written:,} written; two columns hashed under {args.profile}; "
          f"best of {args.repeat}")
    for mode in MODES:
        ratio = best[mode] / best["plain"]
        print(f"{mode:<7} {best[mode]:6.2f}s  {ratio:5.3f}x plain ({100 * (ratio - 1):+.1f}%)")
    print("target: hashed <= +10% over plain; sha2 = SHA-256 of the raw values (no normalization); "
          f"hashed engine: {used}; expressions = the pure-expression path")
    print(f"sample hashed row: {sample['email'][:16]}... {sample['phone'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
