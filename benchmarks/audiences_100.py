"""Benchmark: materialize 100 audiences in ONE pass vs one query per audience (target: >= 5x).

A synthetic profile snapshot with the repository's tag columns (``--users``, default 1,000,000;
values drawn deterministically per type) is written as Parquet first (untimed). 100 rule
audiences over those tags -- 2 to 5 conditions each, nested ``all``/``any``/``not``, some
``include``/``exclude`` of earlier audiences -- are generated as YAML and compiled by the real
compiler. Then, in the same Spark session:

* fused: the job's own one-pass query (the manifest's ``audiences_sql``, run by
  ``tagfactory.audiences.membership.membership``) staged as the members table's Parquet files;
* baseline: one ``SELECT key WHERE <condition>`` per audience (``spark.sql`` over the same view,
  ``:snapshot_date`` bound the same way), each staged on its own.

``--shape targeted`` (default) generates campaign-like audiences (conjunctions, a few percent of
the users each); ``--shape broad`` generates wide ones (a third of the users each), where writing
the ~33 member rows per user dominates both sides.

Both read the same snapshot DataFrame: by default cached in memory and counted first, untimed, as
the job does (``materialize`` caches the day's snapshot, which its later steps read again);
``--source parquet`` reads the Parquet files instead. Both produce the same (audience, key) rows
(checked, untimed). Each side is timed ``--repeat`` times (default 3), alternating; the best of each
is compared, and the medians and the slowest fused round against the fastest baseline are printed
too. Prints seconds and ratios; asserts nothing. Three ways to treat the JVM's warm-up:

* ``--jvm shared`` (default): one Spark session; both sides are first run once, untimed, with the
  real sink. Spark's generated-code cache keeps 100 classes (``--codegen-cache``), so the
  baseline's 100 queries evict each other's and the fused pass's classes and every round after the
  first recompiles both sides' generated code, as a daily job does, while the JVM's own code
  (scans, shuffle, Parquet writer) is warm.
* ``--jvm shared --codegen-cache 2000``: steady state, nothing is recompiled after the warm-up.
* ``--jvm fresh``: every timed side runs in a new Python process and JVM (session start and the
  snapshot cache untimed): the cold start of a daily job, all JIT warm-up included. The rows are
  compared by count only in this mode.

Usage: python benchmarks/audiences_100.py [--users 1000000] [--audiences 100] [--repeat 3]
[--shape targeted|broad] [--source cache|parquet] [--jvm shared|fresh] [--codegen-cache N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 24)


def _leaf(rng: random.Random, tag: Any) -> dict[str, Any]:
    t = tag.type
    name = tag.name
    if t == "integer":
        return {"tag": name, "op": rng.choice([">=", "<", "="]), "value": rng.randint(0, 20)}
    if t == "double":
        low = rng.randint(0, 500)
        return {"tag": name, "op": "between", "value": [low, low + rng.randint(50, 2000)]}
    if t == "boolean":
        return {"tag": name, "op": "=", "value": rng.random() < 0.5}
    if t == "enum":
        return {"tag": name, "op": rng.choice(["in", "not_in"]), "value": rng.sample(tag.values or [], 2)}
    if t == "date":
        return {"tag": name, "op": "within_last", "days": rng.choice([7, 30, 90, 365])}
    if t == "array<string>":
        return {"tag": name, "op": "contains", "value": rng.choice(["a", "b", "c", "d"])}
    return {"tag": name, "op": "in", "value": ["s1", "s2", "s3"]}


def audiences(tags: list[Any], n: int, seed: int = 5, shape: str = "targeted") -> list[dict[str, Any]]:
    """``n`` random but valid rule audiences over ``tags`` (YAML dicts).

    ``targeted``: campaign-like conjunctions of 3 to 5 conditions (an ``any`` of two inside some),
    a few percent of the users each; ``broad``: 2 to 5 conditions, often ``any`` at the top, about
    a third of the users each.
    """
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        low, high = (3, 5) if shape == "targeted" else (2, 5)
        leaves: list[dict[str, Any]] = [_leaf(rng, rng.choice(tags)) for _ in range(rng.randint(low, high))]
        if rng.random() < 0.3:
            leaves[0] = {"not": leaves[0]}
        if out and rng.random() < 0.15:
            leaves.append({rng.choice(["include", "exclude"]): rng.choice(out)["name"]})
        if shape == "targeted":
            rule: dict[str, Any] = {"all": leaves if rng.random() < 0.5 else [*leaves[:-2], {"any": leaves[-2:]}]}
        else:
            rule = {"all": leaves} if rng.random() < 0.6 else {"any": leaves}
            if len(leaves) > 3:
                rule = {"all": [leaves[0], {"any": leaves[1:]}]}
        out.append({"name": f"bench_{i:03d}", "display_name": f"Bench {i}", "description": "generated",
                    "owner": "bench", "rule": rule})
    return out


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--audiences", type=int, default=100)
    parser.add_argument("--shape", choices=("targeted", "broad"), default="targeted",
                        help="targeted: campaign-like conjunctions (default); broad: a third of the users each")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed rounds of both sides; the best of each is compared (default 3)")
    parser.add_argument("--source", choices=("cache", "parquet"), default="cache",
                        help="cache: the snapshot cached in memory, as the job reads it (default); "
                             "parquet: read the Parquet files on every pass")
    parser.add_argument("--jvm", choices=("shared", "fresh"), default="shared",
                        help="shared: one session, warmed up (default); fresh: each timed side in a new JVM")
    parser.add_argument("--codegen-cache", type=int, default=100,
                        help="spark.sql.codegen.cache.maxEntries of the shared session (Spark's default 100)")
    parser.add_argument("--child", choices=("fused", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    return parser.parse_args()


def _entity(work: Path, args: argparse.Namespace) -> Any:
    """Compile the repository's tags plus ``args.audiences`` generated audiences; the manifest's entity."""
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.project import load_project

    definitions = work / "tag_definitions"
    if not definitions.exists():
        shutil.copytree(REPO / "tag_definitions" / "sources", definitions / "sources")
        shutil.copytree(REPO / "tag_definitions" / "tags", definitions / "tags")
        project, _ = load_project(definitions)
        tags = build_manifest(project, definitions).entities[0].tags
        generated = {"audiences": audiences(tags, args.audiences, shape=args.shape)}
        (definitions / "bench.yaml").write_text(yaml.safe_dump(generated, allow_unicode=True), encoding="utf-8")
    project, _ = load_project(definitions)
    return build_manifest(project, definitions).entities[0]


def _session(args: argparse.Namespace) -> Any:
    from tagfactory.lakehouse.spark import build_spark_session

    return build_spark_session("audience-bench", args.master, {
        "spark.sql.shuffle.partitions": str(args.partitions), "spark.driver.memory": "4g",
        "spark.sql.codegen.cache.maxEntries": str(args.codegen_cache)})


def _write_profile(spark: Any, entity: Any, path: str, users: int) -> None:
    from pyspark.sql import functions as F

    cols = [F.format_string("u%08d", F.col("id")).alias("user_id")]
    for i, t in enumerate(entity.tags):
        h = F.abs(F.hash(F.col("id"), F.lit(i)))
        if t.type == "integer":
            c = (h % 40).cast("bigint")
        elif t.type == "double":
            c = (h % 300000) / F.lit(100.0)
        elif t.type == "boolean":
            c = h % 2 == 0
        elif t.type == "enum":
            c = F.element_at(F.array(*[F.lit(v) for v in t.values or []]), (h % len(t.values or [""]) + 1).cast("int"))
        elif t.type == "date":
            c = F.date_sub(F.lit(DAY), (h % 400).cast("int"))
        elif t.type == "array<string>":
            c = F.slice(F.array(*[F.lit(v) for v in "abcdef"]), (h % 3 + 1).cast("int"), 2)
        else:
            c = F.concat(F.lit("s"), (h % 9).cast("string"))
        cols.append(F.when(h % 17 == 0, None).otherwise(c).alias(t.name))
    spark.range(users).select(*cols).write.mode("overwrite").parquet(path)


class _Sides:
    """The two ways to materialize the audiences over one snapshot DataFrame."""

    def __init__(self, spark: Any, entity: Any, work: Path, source: str) -> None:
        from pyspark.sql import functions as F

        self.spark, self.entity, self.work = spark, entity, work
        snapshot = spark.read.parquet(str(work / "profile"))
        if source == "cache":
            t0 = time.perf_counter()
            snapshot = snapshot.cache()
            print(f"snapshot cached: {snapshot.count():,} rows in {time.perf_counter() - t0:.1f}s (untimed)", flush=True)
        self.keyed = snapshot.withColumn("_ext", F.lit(None).cast("array<string>"))  # no list/SQL audiences here
        from tagfactory.compiler.audience_pass import INPUT_VIEW

        self.keyed.createOrReplaceTempView(INPUT_VIEW)  # what membership() registers; the baseline reads it too
        self.singles: list[Any] = []
        self.last_fused: Any = None

    def single(self, a: Any) -> Any:
        from sqlglot import exp

        from tagfactory.compiler.audience_pass import INPUT_VIEW
        from tagfactory.compiler.sqlbuild import to_sql

        query = (exp.select(exp.alias_(exp.Literal.string(a.name), "audience"), exp.column("user_id"))
                 .from_(INPUT_VIEW).where(a.condition, dialect="spark"))
        return self.spark.sql(to_sql(query, pretty=False), args={"snapshot_date": DAY})

    def fused(self, folder: str = "fused") -> Any:
        from tagfactory.audiences.membership import membership
        from tagfactory.lakehouse import delta

        self.last_fused = delta.stage(self.spark, membership(self.keyed, self.entity, DAY),
                                      str(self.work / folder), partition_by=["dt"], run_id=folder,
                                      partition_values={"dt": DAY})
        return self.last_fused

    def baseline(self, folder: str = "single", count: int | None = None) -> int:
        from tagfactory.lakehouse import delta

        t0 = time.perf_counter()
        self.singles = []
        for i, a in enumerate(self.entity.audiences[:count]):
            self.singles.append(delta.stage(self.spark, self.single(a), str(self.work / folder / a.name),
                                            partition_by=["dt"], run_id=folder, partition_values={"dt": DAY}))
            if count is None and (i + 1) % 20 == 0:
                print(f"    {i + 1} single queries, {time.perf_counter() - t0:.1f}s", flush=True)
        return sum(st.rows for st in self.singles)

    def timed(self, side: str) -> tuple[float, int]:
        from tagfactory.audiences.membership import one_pass_codegen

        # the one pass runs with the job's code-generation settings, the single queries with Spark's
        with one_pass_codegen(self.spark) if side == "fused" else contextlib.nullcontext():
            t0 = time.perf_counter()
            rows = self.fused().rows if side == "fused" else self.baseline()
            return time.perf_counter() - t0, rows


def _child(args: argparse.Namespace) -> int:
    """One timed side in this fresh JVM; prints ``RESULT <seconds> <rows>`` for the parent."""
    work = Path(args.work)
    entity = _entity(work, args)
    spark = _session(args)
    seconds, rows = _Sides(spark, entity, work, args.source).timed(args.child)
    print(f"RESULT {seconds} {rows}", flush=True)
    spark.stop()
    return 0


def _fresh_round(args: argparse.Namespace, work: Path, side: str) -> tuple[float, int]:
    cmd = [sys.executable, __file__, "--child", side, "--work", str(work), "--users", str(args.users),
           "--audiences", str(args.audiences), "--shape", args.shape, "--master", args.master,
           "--partitions", str(args.partitions), "--source", args.source, "--codegen-cache", str(args.codegen_cache)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = [line.split() for line in out.splitlines() if line.startswith("RESULT ")][-1]
    return float(result[1]), int(result[2])


def main() -> int:
    args = _args()
    sys.path.insert(0, str(REPO))
    if args.child:
        return _child(args)
    from pyspark.sql import DataFrame

    from tagfactory.audiences.membership import one_pass_codegen
    from tagfactory.lakehouse import delta

    work = Path(tempfile.mkdtemp(prefix="tagfactory-aud-bench-"))
    started = time.perf_counter()
    entity = _entity(work, args)
    print(f"compiled {len(entity.audiences)} audiences in {time.perf_counter() - started:.2f}s")
    spark = _session(args)
    t0 = time.perf_counter()
    _write_profile(spark, entity, str(work / "profile"), args.users)
    print(f"synthetic profile: {args.users:,} users x {len(entity.tags)} tags written in "
          f"{time.perf_counter() - t0:.1f}s (untimed)")
    sides = None
    if args.jvm == "shared":
        sides = _Sides(spark, entity, work, args.source)
        # warm-up (untimed), with the real sink: JIT-compile the fused pass's generated code and the
        # Parquet writer, run a few single queries, so neither side pays the JVM's warm-up in its timing
        t0 = time.perf_counter()
        with one_pass_codegen(spark):
            sides.fused("warm")
        sides.baseline("warm", count=5)
        print(f"warm-up: {time.perf_counter() - t0:.1f}s (untimed)")
    else:
        spark.stop()
    times: dict[str, list[float]] = {"fused": [], "baseline": []}
    rows: dict[str, int] = {}
    for attempt in range(args.repeat):
        print(f"round {attempt + 1} of {args.repeat}", flush=True)
        for side in ("fused", "baseline"):
            seconds, rows[side] = sides.timed(side) if sides else _fresh_round(args, work, side)
            times[side].append(seconds)
            label = "fused, one pass:" if side == "fused" else "one query per audience:"
            print(f"  {label:27s}{seconds:7.1f}s  {rows[side]:,} member rows", flush=True)
    fused_s, single_s = min(times["fused"]), min(times["baseline"])
    fused_med, single_med = statistics.median(times["fused"]), statistics.median(times["baseline"])
    if sides is not None:
        # untimed: the same (audience, key) rows on both sides, not only the same count
        one = functools.reduce(DataFrame.unionAll, [delta.read_staged(st).select("audience", "user_id")
                                                    for st in sides.singles])
        both = delta.read_staged(sides.last_fused).select("audience", "user_id")
        same = rows["fused"] == rows["baseline"] and both.exceptAll(one).isEmpty() and one.exceptAll(both).isEmpty()
        spark.stop()
        check = f"same rows: {same}"
    else:
        check = f"same row count: {rows['fused'] == rows['baseline']}"
    print(f"{check}; best of {args.repeat}: fused {fused_s:.1f}s vs {single_s:.1f}s, {single_s / fused_s:.1f}x faster "
          f"({len(entity.audiences)} {args.shape} audiences, {args.users:,} users, "
          f"{rows['fused'] / args.users:.1f} audiences per user, snapshot from {args.source}, "
          f"jvm {args.jvm}, codegen cache {args.codegen_cache}, master {args.master})")
    print(f"median of {args.repeat}: fused {fused_med:.1f}s vs {single_med:.1f}s, {single_med / fused_med:.1f}x; "
          f"slowest fused vs fastest baseline: {single_s / max(times['fused']):.1f}x")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
