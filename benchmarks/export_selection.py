"""Benchmark: what hashing email and phone adds to the REAL export selection (target: hashed <= 1.10x kept).

Untimed, a warehouse for one date is synthesized with the tables ``select()`` reads for the
shipped CRM export (``crm_high_value_daily`` of tag_definitions/exports/demo.yaml, compiled from
the repository's definitions into a temporary manifest):

* ``audience_members_user`` (Delta, committed with the date's commit metadata as the audience job
  does): ``high_value_customers`` with ``--members`` keys (default 1,000,000),
  ``birthday_members`` (a tenth of them) and ``test_and_risky`` (suppression, 0.5%);
* ``profile_user`` (Delta): the tag columns the export reads, ``value_tier``, ``member_level``
  and the opt-out tag ``marketing_opt_in`` (5% false: suppressed);
* the ``users`` dimension source (Parquet under ``sources_root``, what ``_join_dimension`` reads)
  with email (a third on gmail.com, with dots) and phone (11-digit mobile numbers, some with +86).

Then the real ``select()`` is timed for (a) ``hashed``: ``email_sha256`` under ``google_cn_v1`` and
``phone_sha256`` under ``meta_cn_v1``, and (b) ``kept``: the same columns ``keep`` (with an
approval); same rows, same run, one untimed warm-up each, then ``--repeat`` rounds (default 3)
alternating the order, the staging folder removed (untimed) before each run so every run stages.
Prints every run, the best of each and the ratio hashed / kept; asserts nothing. Usage:

    python benchmarks/export_selection.py [--members 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 24)
EXPORT = "crm_high_value_daily"
MODES = ("kept", "hashed")
HASHED = {"email_sha256": "hash:google_cn_v1", "phone_sha256": "hash:meta_cn_v1"}


def _manifest(target: Path) -> Any:
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project

    definitions = REPO / "tag_definitions"
    project, _ = load_project(definitions)
    manifest = build_manifest(project, definitions)
    write_manifest(manifest, target)
    return manifest


def _exports(manifest: Any) -> dict[str, Any]:
    """The CRM export hashed as the benchmark says, and the same export with the PII columns kept."""
    base = manifest.export(EXPORT)
    out = {}
    for mode in MODES:
        columns = [c.model_copy(update={"treatment": HASHED[c.name] if mode == "hashed" else "keep"})
                   if c.name in HASHED else c for c in base.columns]
        profiles = sorted({t.split(":", 1)[1] for t in HASHED.values()}) if mode == "hashed" else []
        export = base.model_copy(update={"columns": columns, "hash_profiles": profiles})
        out[mode] = export.model_copy(update={"digest": export.computed_digest()})
    return out


def _synthesize(spark: Any, tables: Any, settings: Any, members: int) -> dict[str, int]:
    from pyspark.sql import functions as F

    users = members + members // 5
    ids = spark.range(users, numPartitions=4)
    key = F.concat(F.lit("u"), F.lpad(F.col("id").cast("string"), 9, "0")).alias("user_id")
    names = F.element_at(F.array(*[F.lit(n) for n in ("zhang", "wang", "li", "liu", "chen", "yang")]),
                         (F.col("id") % 6 + 1).cast("int"))
    domain = F.element_at(F.array(F.lit("gmail.com"), F.lit("example.com"), F.lit("Example.NET")),
                          (F.col("id") % 3 + 1).cast("int"))
    email = F.concat(F.when(F.col("id") % 5 == 0, F.lit(" ")).otherwise(F.lit("")), names, F.lit("."),
                     F.col("id").cast("string"), F.lit("@"), domain)
    phone = F.concat(F.when(F.col("id") % 4 == 0, F.lit("+86 ")).otherwise(F.lit("")),
                     F.element_at(F.array(F.lit("13"), F.lit("15"), F.lit("18")), (F.col("id") % 3 + 1).cast("int")),
                     F.lpad(((F.col("id") * 7919) % 1_000_000_000).cast("string"), 9, "0"))
    ids.select(key, email.alias("email"), phone.alias("phone"),
               F.lit(True).alias("phone_verified")).write.mode("overwrite").parquet(settings.source_uri("users"))

    day = F.lit(DAY).alias("dt")
    tiers = F.element_at(F.array(*[F.lit(t) for t in ("low", "mid", "high")]), (F.col("id") % 3 + 1).cast("int"))
    levels = F.element_at(F.array(*[F.lit(t) for t in ("none", "silver", "gold", "platinum")]),
                          (F.col("id") % 4 + 1).cast("int"))
    profile = ids.select(day, key, tiers.alias("value_tier"), levels.alias("member_level"),
                         (F.col("id") % 20 != 7).alias("marketing_opt_in"))
    audience = ids.where(F.col("id") < members)
    rows = (audience.select(day, F.lit("high_value_customers").alias("audience"), key)
            .unionByName(audience.where(F.col("id") % 10 == 3).select(day, F.lit("birthday_members").alias("audience"),
                                                                      key))
            .unionByName(audience.where(F.col("id") % 200 == 11).select(day, F.lit("test_and_risky").alias("audience"),
                                                                        key)))
    meta = {"snapshot_date": DAY.isoformat(), "job_name": "benchmark"}
    made = {}
    for name, frame in (("profile_user", profile), ("audience_members_user", rows)):
        made[name] = tables.publish(frame, settings.table_uri(name), partition_by=["dt"], commit_metadata=meta).rows
    return made


def _select(spark: Any, tables: Any, settings: Any, manifest: Any, export: Any) -> tuple[float, Any]:
    from tagfactory.exports.select import select

    shutil.rmtree(Path(settings.warehouse) / "_exports", ignore_errors=True)  # every run stages (untimed)
    started = time.perf_counter()
    selection = select(spark, tables, settings, manifest, export, DAY)
    return time.perf_counter() - started, selection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from tagfactory.lakehouse.spark import build_spark_session
    from tagfactory.lakehouse.store import open_store
    from tagfactory.settings import load_settings

    base = Path(tempfile.mkdtemp(prefix="tagfactory-select-bench-"))
    settings = load_settings(overrides={"warehouse": str(base / "warehouse"), "sources_root": str(base / "data"),
                                        "target": str(base / "target")})
    manifest = _manifest(base / "target")
    exports = _exports(manifest)
    spark = build_spark_session("bench-export-selection", "local[2]", {
        "spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": str(base / "spark-warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={base / 'derby'}"})
    spark.sparkContext.setLogLevel("ERROR")
    times: dict[str, list[float]] = {m: [] for m in MODES}
    selections: dict[str, Any] = {}
    try:
        tables = open_store(settings, spark)
        from tagfactory.exports.hashing import engine

        print(f"hashing engine: {engine(spark)} (jvm: the tagfactory-udf jar is on spark.jars)", flush=True)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # select()'s progress lines
            made = _synthesize(spark, tables, settings, args.members)
        print(f"warehouse: {made['audience_members_user']:,} audience member rows, {made['profile_user']:,} "
              f"profiles and users, written in {time.perf_counter() - started:.1f}s (untimed)", flush=True)
        with contextlib.redirect_stdout(io.StringIO()):  # select()'s progress lines
            for mode in MODES:
                _select(spark, tables, settings, manifest, exports[mode])
        print("warm-up: one selection of each (untimed)", flush=True)
        for round_ in range(args.repeat):
            for mode in (MODES if round_ % 2 == 0 else MODES[::-1]):  # alternate: drift hits both
                with contextlib.redirect_stdout(io.StringIO()):  # select()'s progress lines
                    seconds, selections[mode] = _select(spark, tables, settings, manifest, exports[mode])
                times[mode].append(seconds)
                print(f"round {round_ + 1} {mode:<6} {seconds:6.2f}s", flush=True)
    finally:
        spark.stop()
        shutil.rmtree(base, ignore_errors=True)

    best = {m: min(t) for m, t in times.items()}
    hashed = selections["hashed"]
    print(f"\nselect() of {EXPORT}: {hashed.rows_selected:,} rows selected, {hashed.rows_expected:,} delivered, "
          f"suppressed {hashed.rows_suppressed}; best of {args.repeat}")
    for mode in MODES:
        print(f"{mode:<6} {best[mode]:6.2f}s  {best[mode] / best['kept']:5.3f}x kept")
    ratio = best["hashed"] / best["kept"]
    print(f"hashed/kept = {ratio:.3f} ({100 * (ratio - 1):+.1f}%); target <= 1.10 "
          f"(email under google_cn_v1, phone under meta_cn_v1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
