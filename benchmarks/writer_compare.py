"""Benchmark: the two Delta writers on the demo build, same data, same Spark session, same run.

For each writer (``deltars``: Spark stages Parquet, delta-rs commits; ``native``: Delta Lake on Spark
writes the staged rows) the shipped definitions are built on generated demo data (``--users``,
default 50,000) into a warehouse of its own: day D-1 first (untimed: creates the tables and warms
up the JVM), then day D ``--repeat`` times (each a re-run that replaces D), alternating the writers
so machine drift hits both. Timed per run: stage (compute + write the staged snapshot: the same
code for both), audit, publish (profile commit + tag statistics), audiences (materialize, audit,
six commits) and the total. Prints seconds, the best of each, and native / deltars ratios; asserts
nothing. Usage:

    python benchmarks/writer_compare.py [--users 50000] [--repeat 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
PHASES = ("stage", "audit", "publish", "audiences")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", help="demo data folder (generated when missing)")
    args = parser.parse_args(argv)

    from tagfactory.audiences.materialize import materialize
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project
    from tagfactory.demo.generate import generate_demo_data
    from tagfactory.lakehouse.spark import build_spark_session
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import audit_step, build_entity, publish_staged, stage_step
    from tagfactory.settings import load_settings

    end = dt.date(2026, 11, 24)
    data = Path(args.data or REPO / "data" / f"bench-{args.users}")
    if not (data / f".complete-{args.users}").exists():
        print(f"generating {args.users:,} users under {data} ...", flush=True)
        generate_demo_data(data, n_users=args.users, end_date=end, days=400, seed=7)
        (data / f".complete-{args.users}").touch()
    base = Path(tempfile.mkdtemp(prefix="tagfactory-writers-"))
    project, _ = load_project(REPO / "tag_definitions")
    manifest = build_manifest(project, REPO / "tag_definitions")
    write_manifest(manifest, base / "target")
    entity, digest = manifest.entities[0], manifest.digest
    spark = build_spark_session("bench-writers", "local[2]", {"spark.driver.memory": "4g"})
    spark.sparkContext.setLogLevel("ERROR")
    emitter = LineageEmitter.from_config(False, None, None)
    settings, stores = {}, {}
    for writer in ("deltars", "native"):
        s = load_settings(overrides={"warehouse": str(base / writer), "sources_root": str(data),
                                     "target": str(base / "target"), "writer": writer})
        s.quality.data_docs = False
        settings[writer] = s
        stores[writer] = open_store(s, spark)
        print(f"warm-up: {writer} builds {end - dt.timedelta(days=1)} (untimed)", flush=True)
        build_entity(spark, s, entity, end - dt.timedelta(days=1), emitter, digest, tables=stores[writer],
                     run_id=f"warm-{writer}")
        materialize(spark, s, stores[writer], entity, end - dt.timedelta(days=1), f"warm-aud-{writer}",
                    base / "target", digest)

    times: dict[str, list[dict[str, float]]] = {"deltars": [], "native": []}
    for round_ in range(args.repeat):
        for writer in (("deltars", "native") if round_ % 2 == 0 else ("native", "deltars")):
            s, run_id, t = settings[writer], f"r{round_}-{writer}", {}
            tables = stores[writer]
            started = time.perf_counter()
            staged = stage_step(spark, s, entity, end, run_id, emitter, digest, tables=tables)
            t["stage"] = time.perf_counter() - started
            mark = time.perf_counter()
            audit_step(spark, s, entity, staged, end, digest, tables=tables)
            t["audit"] = time.perf_counter() - mark
            mark = time.perf_counter()
            publish_staged(spark, s, entity, end, run_id, digest, tables=tables, emitter=emitter)
            t["publish"] = time.perf_counter() - mark
            mark = time.perf_counter()
            materialize(spark, s, stores[writer], entity, end, f"aud-{run_id}", base / "target", digest)
            t["audiences"] = time.perf_counter() - mark
            t["total"] = time.perf_counter() - started
            times[writer].append(t)
            print(f"round {round_ + 1} {writer:<8} " + "  ".join(f"{k} {v:6.1f}s" for k, v in t.items()), flush=True)
    spark.stop()

    print(f"\n{args.users:,} users, best of {args.repeat} (seconds)")
    print(f"{'phase':<10} {'deltars':>8} {'native':>8} {'native/deltars':>15}")
    for phase in (*PHASES, "total"):
        best = {w: min(t[phase] for t in times[w]) for w in times}
        print(f"{phase:<10} {best['deltars']:8.1f} {best['native']:8.1f} {best['native'] / best['deltars']:14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
