"""Benchmark: materialize 100 audiences in ONE pass vs one query per audience (target: >= 5x).

A synthetic profile snapshot with the repository's tag columns (``--users``, default 1,000,000;
values drawn deterministically per type) is written as Parquet first (untimed). 100 rule
audiences over those tags -- 2 to 5 conditions each, nested ``all``/``any``/``not``, some
``include``/``exclude`` of earlier audiences -- are generated as YAML and compiled by the real
compiler. Then, in the same Spark session:

* fused: the job's own one-pass projection (``tagfactory.audiences.materialize.membership``)
  staged as the members table's Parquet files;
* baseline: one ``SELECT key WHERE <condition>`` per audience, each staged on its own.

``--shape targeted`` (default) generates campaign-like audiences (conjunctions, a few percent of
the users each); ``--shape broad`` generates wide ones (a third of the users each), where writing
the ~33 member rows per user dominates both sides.

Both produce the same (audience, key) rows (checked). Both sides are warmed up first (the fused
pass once to a no-op sink, five single queries), untimed. Prints seconds and the ratio; asserts
nothing. Both sides are timed --repeat times (default 2), alternating, and the best of each is
compared. Usage: python benchmarks/audiences_100.py [--users 1000000] [--audiences 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 24)


def _leaf(rng: random.Random, tag: dict[str, Any]) -> dict[str, Any]:
    t = tag["type"]
    name = tag["name"]
    if t == "integer":
        return {"tag": name, "op": rng.choice([">=", "<", "="]), "value": rng.randint(0, 20)}
    if t == "double":
        low = rng.randint(0, 500)
        return {"tag": name, "op": "between", "value": [low, low + rng.randint(50, 2000)]}
    if t == "boolean":
        return {"tag": name, "op": "=", "value": rng.random() < 0.5}
    if t == "enum":
        return {"tag": name, "op": rng.choice(["in", "not_in"]), "value": rng.sample(tag["values"], 2)}
    if t == "date":
        return {"tag": name, "op": "within_last", "days": rng.choice([7, 30, 90, 365])}
    if t == "array<string>":
        return {"tag": name, "op": "contains", "value": rng.choice(["a", "b", "c", "d"])}
    return {"tag": name, "op": "in", "value": ["s1", "s2", "s3"]}


def audiences(tags: list[dict[str, Any]], n: int, seed: int = 5, shape: str = "targeted") -> list[dict[str, Any]]:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--audiences", type=int, default=100)
    parser.add_argument("--shape", choices=("targeted", "broad"), default="targeted",
                        help="targeted: campaign-like conjunctions (default); broad: a third of the users each")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2,
                        help="timed rounds of both sides; the best of each is compared (default 2)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from tagfactory.audiences.materialize import bind_date, membership, one_pass_codegen
    from tagfactory.compiler.plan import build_plan
    from tagfactory.compiler.project import load_project
    from tagfactory.lakehouse import delta
    from tagfactory.lakehouse.spark import build_spark_session

    work = Path(tempfile.mkdtemp(prefix="tagfactory-aud-bench-"))
    definitions = work / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions" / "sources", definitions / "sources")
    shutil.copytree(REPO / "tag_definitions" / "tags", definitions / "tags")
    project, _ = load_project(definitions)
    tags = build_plan(project, definitions)["entities"][0]["tags"]
    (definitions / "bench.yaml").write_text(yaml.safe_dump({"audiences": audiences(tags, args.audiences, shape=args.shape)},
                                                           allow_unicode=True), encoding="utf-8")
    started = time.perf_counter()
    project, _ = load_project(definitions)
    entity = build_plan(project, definitions)["entities"][0]
    print(f"compiled {len(entity['audiences'])} audiences in {time.perf_counter() - started:.2f}s")

    spark = build_spark_session("audience-bench", args.master, {"spark.sql.shuffle.partitions": str(args.partitions),
                                                          "spark.driver.memory": "4g"})
    cols = [F.format_string("u%08d", F.col("id")).alias("user_id")]
    for i, t in enumerate(entity["tags"]):
        h = F.abs(F.hash(F.col("id"), F.lit(i)))
        if t["type"] == "integer":
            c = (h % 40).cast("bigint")
        elif t["type"] == "double":
            c = (h % 300000) / F.lit(100.0)
        elif t["type"] == "boolean":
            c = h % 2 == 0
        elif t["type"] == "enum":
            c = F.element_at(F.array(*[F.lit(v) for v in t["values"]]), (h % len(t["values"]) + 1).cast("int"))
        elif t["type"] == "date":
            c = F.date_sub(F.lit(DAY), (h % 400).cast("int"))
        elif t["type"] == "array<string>":
            c = F.slice(F.array(*[F.lit(v) for v in "abcdef"]), (h % 3 + 1).cast("int"), 2)
        else:
            c = F.concat(F.lit("s"), (h % 9).cast("string"))
        cols.append(F.when(h % 17 == 0, None).otherwise(c).alias(t["name"]))
    path = str(work / "profile")
    t0 = time.perf_counter()
    spark.range(args.users).select(*cols).write.mode("overwrite").parquet(path)
    print(f"synthetic profile: {args.users:,} users x {len(entity['tags'])} tags written in "
          f"{time.perf_counter() - t0:.1f}s (untimed)")
    keyed = spark.read.parquet(path).withColumn("_ext", F.lit(None).cast("array<string>"))
    with one_pass_codegen(spark):  # the job's setting; the single queries are far below its limit
        # warm-up (untimed) for both sides: JIT-compile the fused pass's generated code, run a few
        # single queries, so neither side pays the JVM's warm-up inside its timing
        t0 = time.perf_counter()
        membership(keyed, entity["audiences"], "user_id", DAY).write.format("noop").mode("overwrite").save()
        for a in entity["audiences"][:5]:
            keyed.where(F.expr(bind_date(a["condition"], DAY))).select("user_id").write.format("noop").mode("overwrite").save()
        print(f"warm-up: {time.perf_counter() - t0:.1f}s (untimed)")

        fused_times, single_times = [], []
        for attempt in range(args.repeat):
            print(f"round {attempt + 1} of {args.repeat}", flush=True)
            t0 = time.perf_counter()
            fused = delta.stage(spark, membership(keyed, entity["audiences"], "user_id", DAY), str(work / "fused"),
                                partition_by=["dt"], run_id="fused")
            fused_s = time.perf_counter() - t0
            print(f"  fused, one pass:           {fused_s:7.1f}s  {fused.rows:,} member rows")

            t0 = time.perf_counter()
            rows = 0
            singles = []
            for i, a in enumerate(entity["audiences"]):
                query = keyed.where(F.expr(bind_date(a["condition"], DAY))).select(F.lit(a["name"]).alias("audience"), "user_id",
                                                                   F.lit(DAY).alias("dt"))
                singles.append(delta.stage(spark, query, str(work / "single" / a["name"]), partition_by=["dt"], run_id="one"))
                rows += singles[-1].rows
                if (i + 1) % 20 == 0:
                    print(f"    {i + 1} single queries, {time.perf_counter() - t0:.1f}s", flush=True)
            single_s = time.perf_counter() - t0
            print(f"  one query per audience:    {single_s:7.1f}s  {rows:,} member rows")
            fused_times.append(fused_s)
            single_times.append(single_s)
        fused_s, single_s = min(fused_times), min(single_times)
    # untimed: the same (audience, key) rows on both sides, not only the same count
    one = functools.reduce(DataFrame.unionAll, [delta.read_staged(st).select("audience", "user_id") for st in singles])
    both = delta.read_staged(fused).select("audience", "user_id")
    same = rows == fused.rows and both.exceptAll(one).isEmpty() and one.exceptAll(both).isEmpty()
    print(f"same rows: {same}; best of {args.repeat}: fused {fused_s:.1f}s vs {single_s:.1f}s, {single_s / fused_s:.1f}x faster "
          f"({len(entity['audiences'])} {args.shape} audiences, {args.users:,} users, "
          f"{fused.rows / args.users:.1f} audiences per user, master {args.master})")
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
