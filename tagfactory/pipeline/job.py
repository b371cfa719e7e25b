"""The profile build job: compiled plan + snapshot date -> published Delta snapshot.

Write-audit-publish: Spark stages the snapshot's Parquet files, the job checks them (one row
per entity; statistics computed from the staged files), and only then the Delta commit makes
them visible. A failure at any point leaves the previous version current.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tagfactory.compiler.plan import read_plan
from tagfactory.lakehouse import delta, staging
from tagfactory.lakehouse.spark import build_spark_session
from tagfactory.lineage import LineageEmitter, dataset_for_uri
from tagfactory.pipeline.sources import register_sources
from tagfactory.pipeline.stats import compute_tag_stats
from tagfactory.progress import log, step
from tagfactory.quality.run import QualityGateError, audit_profile, check_sources
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
                 emitter: LineageEmitter, *, run_id: str | None = None) -> dict[str, Any]:
    """Compute, audit and publish one entity's profile and tag statistics for one date.

    Write-audit-publish: sources are checked, the snapshot is staged, the staged files are
    audited (quality gate), and only a passing snapshot is committed. A failing one is moved to
    the table's quarantine and :class:`QualityGateError` says why and where.
    """
    name = entity["name"]
    profile_uri = settings.table_uri(entity["profile_table"])
    stats_uri = settings.table_uri(entity["stats_table"])
    run_id = run_id or delta.new_run_id()
    gate = settings.quality.enabled
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
        if gate:
            _gate_sources(spark, settings, entity, snapshot_date, run_id)
        query = spark.sql(entity["sql"], args={"snapshot_date": snapshot_date})
        if settings.writer == "native":
            return _native(spark, settings, entity, query, snapshot_date, profile_uri, stats_uri)
        with step(f"computing and staging {entity['profile_table']}") as s:
            staged = delta.stage(spark, query, profile_uri, partition_by=["dt"], run_id=run_id)
            staging.save_manifest(staged)
            s.rows = staged.rows
            s.detail = f"{len(staged.files)} files"
        staged_df = delta.read_staged(staged).cache()
        try:
            if gate:
                _gate_profile(spark, settings, entity, staged, staged_df, snapshot_date, run_id)
            with step("checking the staged snapshot and computing tag statistics") as s:
                stats, rows, keys = compute_tag_stats(spark, staged_df, entity["tags"], snapshot_date)
                s.rows = rows
                if rows != keys:
                    raise BuildError(
                        f"{entity['profile_table']} for {snapshot_date} has {rows - keys:,} duplicate `{entity['key']}` "
                        "rows; a sql tag probably returns more than one row per key. Nothing was published.")
        except QualityGateError:
            raise
        except BaseException:
            delta.discard(staged)
            raise
        finally:
            staged_df.unpersist()
        with step(f"publishing {entity['profile_table']}") as s:
            version = delta.commit(staged, commit_metadata=metadata)
            s.detail = f"version {version} at {profile_uri}"
        with step(f"publishing {entity['stats_table']}") as s:
            stats_result = delta.publish_partition(spark, stats, stats_uri, partition_by=["dt"], run_id=run_id)
            s.rows = stats_result.rows
        lineage_run.set_outputs([outputs[0].with_stats(row_count=rows, version=str(version)),
                                 outputs[1].with_stats(row_count=stats_result.rows, version=str(stats_result.version))])
    return {"profile_uri": profile_uri, "stats_uri": stats_uri, "version": version, "rows": rows}


def _gate_sources(spark: SparkSession, settings: Settings, entity: dict[str, Any], snapshot_date: dt.date,
                  run_id: str) -> None:
    with step("quality gate: checking sources") as s:
        reports = check_sources(spark, settings, entity, snapshot_date, run_id)
        s.detail = f"{sum(len(r.rows) for r in reports)} expectations on {len(reports)} sources"
    failed = [r for r in reports if not r.passed]
    if failed:
        raise QualityGateError(
            f"source checks failed for {entity['profile_table']} dt={snapshot_date}; nothing was built or published:\n"
            + "\n".join(r.message() for r in failed)
            + f"\nResults: table {settings.table_uri('quality_results')}")


def _gate_profile(spark: SparkSession, settings: Settings, entity: dict[str, Any], staged: Any, staged_df: Any,
                  snapshot_date: dt.date, run_id: str) -> None:
    with step(f"quality gate: auditing staged {entity['profile_table']}") as s:
        report = audit_profile(spark, settings, entity, staged_df, snapshot_date, run_id)
        s.detail = report.summary()
    staging.write_verdict(staged, report.verdict())
    if not report.passed:
        moved = staging.quarantine(staged)
        removed = staging.purge_quarantine(spark, staged.table_uri, settings.quality.quarantine_retention_days)
        if removed:
            log(f"removed {len(removed)} quarantined runs older than {settings.quality.quarantine_retention_days:g} days")
        raise QualityGateError(
            report.message()
            + f"\nNothing was published; {entity['profile_table']} still serves its previous version."
            + f"\nThe staged files are quarantined at {moved.staging_uri} (kept "
            f"{settings.quality.quarantine_retention_days:g} days)."
            + f"\nTo publish them anyway: tagfactory publish --entity {entity['name']} --date {snapshot_date} "
            f"--run-id {run_id} --override-gate --reason \"...\"")


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


def publish_staged(spark: SparkSession, settings: Settings, entity: dict[str, Any], snapshot_date: dt.date,
                   run_id: str | None, *, override_reason: str | None = None, actor: str | None = None
                   ) -> dict[str, Any]:
    """Publish a staged (or, with an override, a quarantined) run of an entity's snapshot.

    A run is published only with a passing audit verdict, or with ``override_reason``: the override
    is recorded in the quality results table (who, why, which expectations failed) before the
    commit, and in the Delta commit's metadata.
    """
    profile_uri = settings.table_uri(entity["profile_table"])
    quarantined = override_reason is not None
    if run_id is None:
        candidates = staging.list_quarantined(spark, profile_uri) if quarantined else []
        matching = [r for r in candidates
                    if (staging.read_verdict(staging.load_staged(spark, profile_uri, r, quarantined=True)) or {})
                    .get("dt") == snapshot_date.isoformat()]
        if not matching:
            raise ValueError(f"no quarantined run of {entity['profile_table']} for {snapshot_date}; pass --run-id")
        run_id = matching[-1]
    staged = staging.load_staged(spark, profile_uri, run_id, quarantined=quarantined)
    verdict = staging.read_verdict(staged) or {}
    if verdict.get("dt") not in (None, snapshot_date.isoformat()):
        raise ValueError(f"run {run_id} staged {entity['profile_table']} for {verdict.get('dt')}, not {snapshot_date}")
    if not verdict.get("passed") and override_reason is None:
        raise QualityGateError(f"run {run_id} of {entity['profile_table']} has no passing audit; publishing it needs "
                               "--override-gate --reason \"...\"")
    metadata = {"run_id": run_id, "job": f"publish.{entity['name']}", "snapshot_date": snapshot_date.isoformat()}
    if override_reason is not None:
        if len(override_reason.strip()) < 10:
            raise ValueError("--reason must say why the gate is overridden (at least 10 characters)")
        from tagfactory.quality import store

        who = actor or os.environ.get("USER") or "unknown"
        store.record(spark, settings, [], [store.override_row(
            run_id=run_id, dataset=entity["profile_table"], snapshot_date=snapshot_date.isoformat(),
            reason=override_reason.strip(), actor=who, overridden=verdict.get("errors", []))])
        metadata.update({"gate_override": override_reason.strip(), "gate_override_by": who})
        log(f"quality gate overridden by {who}: {override_reason.strip()}")
    staged_df = delta.read_staged(staged)
    stats, rows, _ = compute_tag_stats(spark, staged_df, entity["tags"], snapshot_date)
    with step(f"publishing {entity['profile_table']}") as s:
        version = delta.commit(staged, commit_metadata=metadata)
        s.detail = f"version {version} at {profile_uri}"
    stats_result = delta.publish_partition(spark, stats, settings.table_uri(entity["stats_table"]),
                                           partition_by=["dt"], run_id=f"{run_id}-stats")
    return {"version": version, "rows": rows, "stats_version": stats_result.version}
