"""Benchmark: what the quality gate costs relative to the build (target: tag audit <= 30% of build).

Two workloads, each measured in one process on local Spark, with the baseline (the build) timed
in the same run:

* ``demo`` -- the shipped definitions on generated demo data (``--users``, default 50,000; the
  data is generated under ``--data`` when missing). Day D-1 is built first (untimed) so the
  checks against the previous snapshot run too. For day D it times: the build (compute + stage
  the snapshot), the source checks, the tag-output audit with the fused engine, and the same
  audit with Great Expectations evaluating every expectation (``--gx``).
* ``synthetic`` -- a profile-shaped table of ``--rows`` rows (default 10,000,000) and 24 tag
  columns made by Spark, staged as Delta files (the build baseline), then audited with the
  generated expectations (key not null and unique, enum sets, booleans, ranges, coverage, row-count
  change, PSI drift) by the fused engine and, with ``--gx``, by Great Expectations.

Prints seconds and ratios; asserts nothing. Usage:
    python benchmarks/gate_cost.py demo [--users 50000] [--gx]
    python benchmarks/gate_cost.py synthetic [--rows 10000000] [--gx]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _synthetic_entity(tags: list[dict[str, Any]]) -> Any:
    """A manifest entity holding only what the gate reads (key, quality, tags)."""
    from tagfactory.compiler.manifest import Entity

    filler = {"display_name": "bench", "description": "bench", "owner": "bench", "category": "basic",
              "kind": "attribute", "lifecycle": "active", "sql": "", "definition": "bench"}
    return Entity.model_validate({
        "name": "user", "key": "user_id", "key_type": "string", "profile_table": "bench", "stats_table": "bench_stats",
        "population_source": "users", "quality": {"max_row_count_change": 0.3}, "sql_file": "", "sql": "",
        "columns": [], "sources": [], "audience_tables": {}, "tags": [{**filler, **t} for t in tags]})


def _timed(label: str, fn, results: dict[str, float]):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - started
    print(f"  {label:<44} {results[label]:8.1f}s", flush=True)
    return value


def demo(args: argparse.Namespace) -> dict[str, float]:
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.project import load_project
    from tagfactory.demo.generate import generate_demo_data
    from tagfactory.lakehouse.spark import build_spark_session
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import build_entity, check_sources_step, stage_step
    from tagfactory.pipeline.sources import register_sources
    from tagfactory.quality.run import audit_profile
    from tagfactory.settings import load_settings

    data = Path(args.data or REPO / "data" / f"bench-{args.users}")
    end = dt.date(2026, 11, 24)
    if not (data / f".complete-{args.users}").exists():
        print(f"generating {args.users:,} users under {data} ...", flush=True)
        generate_demo_data(data, n_users=args.users, end_date=end, days=400, seed=7)
        (data / f".complete-{args.users}").touch()
    work = Path(tempfile.mkdtemp(prefix="tagfactory-gate-bench-"))
    settings = load_settings(overrides={"warehouse": str(work / "warehouse"), "sources_root": str(data),
                                        "target": str(work / "target")})
    settings.quality.data_docs = False  # rendering HTML is not part of the gate's decision
    project, _ = load_project(REPO / "tag_definitions")
    manifest = build_manifest(project, REPO / "tag_definitions")
    entity = manifest.entities[0]
    spark = build_spark_session("gate-bench", args.master, {"spark.sql.shuffle.partitions": str(args.partitions)})
    emitter = LineageEmitter.from_config(False, None, None)
    tables = open_store(settings, spark)
    results: dict[str, float] = {}
    print(f"demo workload: {args.users:,} users, {len(entity.tags)} tags, master {args.master}")
    _timed("warm-up: full build of D-1 (reference)", lambda: build_entity(
        spark, settings, entity, end - dt.timedelta(days=1), emitter, manifest.digest, tables=tables,
        run_id="bench-previous"), results)
    register_sources(spark, entity.sources, settings, tables=tables)
    _timed("source checks (D)", lambda: check_sources_step(spark, settings, entity, end, "bench", tables=tables),
           results)
    staged = _timed("BUILD: compute + stage snapshot (D)", lambda: stage_step(
        spark, settings, entity, end, "bench", emitter, manifest.digest, tables=tables), results)
    frame = tables.read_staged(staged)  # as the audit step does: each audit reads the staged files itself
    report = _timed("AUDIT: tag outputs, fused engine", lambda: audit_profile(
        spark, settings, entity, frame, end, "bench", tables=tables), results)
    print(f"    {report.summary()}")
    if args.gx:
        settings.quality.engine = "gx"
        report = _timed("AUDIT: tag outputs, Great Expectations only", lambda: audit_profile(
            spark, settings, entity, frame, end, "bench-gx", tables=tables), results)
        print(f"    {report.summary()}")
    spark.stop()
    return results


def synthetic(args: argparse.Namespace) -> dict[str, float]:
    from pyspark.sql import functions as F

    from tagfactory.lakehouse import delta
    from tagfactory.lakehouse.spark import build_spark_session
    from tagfactory.quality.gate import audit
    from tagfactory.quality.metrics import DriftBins
    from tagfactory.quality.suites import Reference, profile_specs

    spark = build_spark_session("gate-bench-synthetic", args.master,
                                {"spark.sql.shuffle.partitions": str(args.partitions)})
    work = Path(tempfile.mkdtemp(prefix="tagfactory-gate-bench-"))
    n = args.rows
    tiers = ["vip", "high", "medium", "low", "none"]
    cols = [F.concat(F.lit("u"), F.col("id").cast("string")).alias("user_id")]
    tags = []
    for i in range(8):
        cols.append((F.hash(F.col("id"), F.lit(i)) % 1000).cast("bigint").alias(f"count_{i}"))
        tags.append({"name": f"count_{i}", "type": "integer", "quality": {"range": {"min": -1000, "max": 1000}}})
    for i in range(6):
        cols.append(F.when(F.col("id") % (7 + i) == 0, None).otherwise(F.rand(i) * 5000).alias(f"amount_{i}"))
        tags.append({"name": f"amount_{i}", "type": "double",
                     "quality": {"coverage_min": 0.5, "drift": {"psi_max": 0.25}} if i == 0 else {"coverage_min": 0.5}})
    for i in range(6):
        cols.append(F.element_at(F.array(*[F.lit(t) for t in tiers]),
                                 (F.abs(F.hash(F.col("id"), F.lit(100 + i))) % 5 + 1).cast("int")).alias(f"tier_{i}"))
        tags.append({"name": f"tier_{i}", "type": "enum", "values": tiers,
                     "quality": {"drift": {"psi_max": 0.25}} if i == 0 else {}})
    for i in range(4):
        cols.append((F.hash(F.col("id"), F.lit(200 + i)) % 3 == 0).alias(f"flag_{i}"))
        tags.append({"name": f"flag_{i}", "type": "boolean", "quality": {}})
    cols.append(F.lit(dt.date(2026, 11, 24)).alias("dt"))
    frame = spark.range(n).select(*cols)
    entity = _synthetic_entity(tags)
    reference = Reference("2026-11-23", n, coverage={f"amount_{i}": 0.9 for i in range(6)},
                          distributions={"tier_0": {t: 0.2 for t in tiers},
                                         "amount_0": {f"b{i}": 0.1 for i in range(10)}},
                          edges={"amount_0": [500.0 * i for i in range(1, 10)]})
    bins = {"tier_0": DriftBins(reference.distributions["tier_0"]),
            "amount_0": DriftBins(reference.distributions["amount_0"], reference.edges["amount_0"])}
    specs = profile_specs(entity, reference)
    results: dict[str, float] = {}
    print(f"synthetic workload: {n:,} rows x {len(tags)} tags, {len(specs)} expectations, master {args.master}")
    staged = _timed("BUILD: compute + stage snapshot", lambda: delta.stage(
        spark, frame, str(work / "profile"), partition_by=["dt"], run_id="bench"), results)
    staged_df = delta.read_staged(staged)  # as the audit step does: each audit reads the staged files itself
    report = _timed("AUDIT: fused engine", lambda: audit(
        staged_df, specs, suite_name="bench", dataset="bench", snapshot_date="2026-11-24", run_id="bench",
        drift_bins=bins), results)
    print(f"    {report.summary()}")
    if args.gx:
        report = _timed("AUDIT: Great Expectations only", lambda: audit(
            staged_df, specs, suite_name="bench", dataset="bench", snapshot_date="2026-11-24", run_id="bench-gx",
            drift_bins=bins, engine="gx"), results)
        print(f"    {report.summary()}")
    spark.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=("demo", "synthetic"))
    parser.add_argument("--users", type=int, default=50_000, help="demo: users (default 50000)")
    parser.add_argument("--data", help="demo: data folder (default data/bench-<users>)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="synthetic: rows (default 10,000,000)")
    parser.add_argument("--gx", action="store_true", help="also audit with Great Expectations evaluating everything")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions (default 8)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    results = demo(args) if args.workload == "demo" else synthetic(args)
    build = next(v for k, v in results.items() if k.startswith("BUILD"))
    print("ratios against the build measured above (each audit includes reading the staged files):")
    for label, seconds in results.items():
        if label.startswith(("AUDIT", "source")):
            print(f"  {label:<44} {seconds / build:7.0%} of the build")
    fused = next((v for k, v in results.items() if k.startswith("AUDIT") and "fused" in k), None)
    gx = next((v for k, v in results.items() if k.startswith("AUDIT") and "Great" in k), None)
    if fused and gx:
        print(f"  Great Expectations alone / fused engine: {gx / fused:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
