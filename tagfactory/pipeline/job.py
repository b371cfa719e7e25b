"""The profile build job: compiled plan + snapshot date -> published Delta snapshot.

Write-audit-publish: Spark stages the snapshot's Parquet files, the job checks them (one row
per entity; statistics computed from the staged files), and only then the Delta commit makes
them visible. A failure at any point leaves the previous version current.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tagfactory.compiler.plan import read_plan
from tagfactory.lakehouse import delta
from tagfactory.lakehouse.spark import build_spark_session
from tagfactory.lineage import LineageEmitter, dataset_for_uri
from tagfactory.pipeline.sources import register_sources
from tagfactory.pipeline.stats import compute_tag_stats
from tagfactory.progress import log, step
from tagfactory.settings import Settings, load_settings


class BuildError(RuntimeError):
    """The snapshot is wrong and was not published."""


def run_build(snapshot_date: dt.date, plan_path: str | None = None, config: str | None = None,
              master: str | None = None, entities: list[str] | None = None) -> int:
    """Build and publish the snapshot of ``snapshot_date`` for the plan's entities.

    Returns:
        Process exit code (0 on success).
    """
    settings = load_settings(config)
    plan = read_plan(plan_path or Path(settings.target) / "plan.json")
    chosen = [e for e in plan["entities"] if not entities or e["name"] in entities]
    if entities and len(chosen) != len(set(entities)):
        known = ", ".join(e["name"] for e in plan["entities"])
        raise ValueError(f"unknown entity in {entities}; the plan has: {known}")
    with step("starting Spark") as s:
        spark = build_spark_session(settings.spark.app_name, master or settings.spark.master, settings.spark.conf)
        s.detail = f"master {spark.sparkContext.master}"
    emitter = LineageEmitter.from_config(settings.lineage.enabled, settings.lineage.transport,
                                         settings.lineage_file())
    try:
        for entity in chosen:
            build_entity(spark, settings, entity, snapshot_date, emitter)
    finally:
        if master or not settings.spark.master or settings.spark.master.startswith("local"):
            spark.stop()
    return 0


def build_entity(spark: SparkSession, settings: Settings, entity: dict[str, Any], snapshot_date: dt.date,
                 emitter: LineageEmitter) -> dict[str, Any]:
    """Compute, check and publish one entity's profile and tag statistics for one date."""
    name = entity["name"]
    profile_uri = settings.table_uri(entity["profile_table"])
    stats_uri = settings.table_uri(entity["stats_table"])
    run_id = str(uuid.uuid4())
    log(f"building {entity['profile_table']} for {snapshot_date}: {len(entity['tags'])} tags, run {run_id}")
    with step("registering sources") as s:
        uris = register_sources(spark, entity["sources"], settings)
        s.detail = ", ".join(uris)
    inputs = [dataset_for_uri(uris[src["name"]], [(c["name"], c["type"]) for c in src["columns"]])
              for src in entity["sources"]]
    outputs = [dataset_for_uri(profile_uri, [(c["name"], c["type"]) for c in entity["columns"]]),
               dataset_for_uri(stats_uri)]
    metadata = {"run_id": run_id, "job": f"build_profile.{name}", "snapshot_date": snapshot_date.isoformat()}
    with emitter.run(f"build_profile.{name}", inputs, outputs, run_id=run_id,
                     parameters={"snapshot_date": snapshot_date.isoformat()}, nominal_time=snapshot_date,
                     sql=entity["sql"]) as lineage_run:
        query = spark.sql(entity["sql"], args={"snapshot_date": snapshot_date})
        if settings.writer == "native":
            return _native(spark, settings, entity, query, snapshot_date, profile_uri, stats_uri)
        with step(f"computing and staging {entity['profile_table']}") as s:
            staged = delta.stage(spark, query, profile_uri, partition_by=["dt"], run_id=run_id)
            s.rows = staged.rows
            s.detail = f"{len(staged.files)} files"
        try:
            with step("checking the staged snapshot and computing tag statistics") as s:
                stats, rows, keys = compute_tag_stats(spark, delta.read_staged(staged), entity["tags"], snapshot_date)
                s.rows = rows
                if rows != keys:
                    raise BuildError(
                        f"{entity['profile_table']} for {snapshot_date} has {rows - keys:,} duplicate `{entity['key']}` "
                        "rows; a sql tag probably returns more than one row per key. Nothing was published.")
        except BaseException:
            delta.discard(staged)
            raise
        with step(f"publishing {entity['profile_table']}") as s:
            version = delta.commit(staged, commit_metadata=metadata)
            s.detail = f"version {version} at {profile_uri}"
        with step(f"publishing {entity['stats_table']}") as s:
            stats_result = delta.publish_partition(spark, stats, stats_uri, partition_by=["dt"], run_id=run_id)
            s.rows = stats_result.rows
        lineage_run.set_outputs([outputs[0].with_stats(row_count=rows, version=str(version)),
                                 outputs[1].with_stats(row_count=stats_result.rows, version=str(stats_result.version))])
    return {"profile_uri": profile_uri, "stats_uri": stats_uri, "version": version, "rows": rows}


def _native(spark: SparkSession, settings: Settings, entity: dict[str, Any], query: Any, snapshot_date: dt.date,
            profile_uri: str, stats_uri: str) -> dict[str, Any]:
    """Publish with the Delta Lake jars (clusters that have them); no staging step."""
    with step(f"writing {entity['profile_table']} with native Delta") as s:
        result = delta.publish_partition(spark, query, profile_uri, partition_by=["dt"], writer="native")
        s.rows = result.rows
    published = delta.read_table(spark, profile_uri, writer="native").where(F.col("dt") == F.lit(snapshot_date))
    stats, rows, _ = compute_tag_stats(spark, published, entity["tags"], snapshot_date)
    delta.publish_partition(spark, stats, stats_uri, partition_by=["dt"], writer="native")
    return {"profile_uri": profile_uri, "stats_uri": stats_uri, "version": result.version, "rows": rows}
