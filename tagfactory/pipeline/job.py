"""The profile build job: compiled manifest + snapshot date -> published Delta snapshot.

Write-audit-publish: Spark stages the snapshot's Parquet files, the job checks them (one row
per entity; statistics computed from the staged files), and only then the Delta commit makes
them visible. A failure at any point leaves the previous version current. Every staged run
records the digest of the manifest it was staged from; auditing or publishing it with another
manifest is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import SparkSession

from tagfactory.compiler.manifest import ColumnLineage, Entity, check_run_digest
from tagfactory.errors import ConfigError, PublishError
from tagfactory.lakehouse import staging
from tagfactory.lakehouse.stage import StagedWrite, new_run_id
from tagfactory.lakehouse.store import TableStore
from tagfactory.lineage import LineageEmitter
from tagfactory.pipeline import lineage_refs as refs
from tagfactory.pipeline.runtime import load_manifest, safe_run_id, start_job, stop_job
from tagfactory.pipeline.sources import register_sources
from tagfactory.pipeline.stats import compute_tag_stats
from tagfactory.progress import log, step
from tagfactory.quality import store
from tagfactory.quality.failures import QualityGateError
from tagfactory.settings import Settings, load_settings


class BuildError(PublishError, RuntimeError):
    """The snapshot is wrong and was not published."""


STEPS = ("all", "check-sources", "stage", "audit", "publish")


def run_build(snapshot_date: dt.date, manifest_file: str | None = None, config: str | None = None,
              master: str | None = None, entities: list[str] | None = None, *, step_name: str = "all",
              run_id: str | None = None, lineage_parent_id: str | None = None,
              lineage_root_parent_id: str | None = None) -> int:
    """Build, audit and publish the snapshot of ``snapshot_date`` for the manifest's entities.

    ``step_name`` runs one step of write-audit-publish (the DAG runs each as its own task):
    ``check-sources``, ``stage``, ``audit`` or ``publish``; they find each other's work by
    ``run_id``, which the single steps require. ``all`` runs them in order in one process.

    Returns:
        Process exit code (0 on success).
    """
    if step_name not in STEPS:
        raise ConfigError(f"unknown step {step_name!r}; one of {', '.join(STEPS)}")
    if step_name != "all" and not run_id:
        raise ConfigError(f"step {step_name} needs --run-id (the same for every step of one build)")
    run_id = safe_run_id(run_id) if run_id else None
    settings = load_settings(config)
    manifest = load_manifest(settings, manifest_file)
    chosen = manifest.choose(entities)
    digest, lineage = manifest.digest, manifest.column_lineage
    job = start_job(settings, master, lineage_parent_id=lineage_parent_id,
                    lineage_root_parent_id=lineage_root_parent_id)
    spark, emitter, tables = job.spark, job.emitter, job.tables
    try:
        for entity in chosen:
            if step_name == "all":
                build_entity(spark, settings, entity, snapshot_date, emitter, digest, tables=tables, run_id=run_id,
                             column_lineage=lineage)
            elif step_name == "check-sources":
                uris = register_sources(spark, entity.sources, settings, tables=tables)
                check_sources_step(spark, settings, entity, snapshot_date, str(run_id), tables=tables,
                                   emitter=emitter, uris=uris)
            elif step_name == "stage":
                stage_step(spark, settings, entity, snapshot_date, str(run_id), emitter, digest, tables=tables,
                           column_lineage=lineage)
            elif step_name == "audit":
                staged = staging.load_staged(spark, settings.table_uri(entity.profile_table), str(run_id))
                audit_step(spark, settings, entity, staged, snapshot_date, digest, tables=tables, emitter=emitter)
            else:
                publish_staged(spark, settings, entity, snapshot_date, run_id, digest, tables=tables, emitter=emitter,
                               column_lineage=lineage)
    finally:
        stop_job(spark, settings, master)
    return 0


def build_entity(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
                 emitter: LineageEmitter, manifest_digest: str, *, tables: TableStore,
                 run_id: str | None = None, column_lineage: Sequence[ColumnLineage] = ()) -> dict[str, Any]:
    """Check, compute, audit and publish one entity's profile and tag statistics for one date.

    Write-audit-publish: sources are checked, the snapshot is staged, the staged files are
    audited (quality gate), and only a passing snapshot is committed. A failing one is moved to
    the table's quarantine and :class:`QualityGateError` says why and where.
    """
    run_id = run_id or new_run_id()
    staged = stage_step(spark, settings, entity, snapshot_date, run_id, emitter, manifest_digest, tables=tables,
                        check_sources=settings.quality.enabled, column_lineage=column_lineage)
    try:
        audit_step(spark, settings, entity, staged, snapshot_date, manifest_digest, tables=tables, emitter=emitter)
    except QualityGateError:
        raise
    except BaseException:
        tables.discard(staged)
        raise
    try:
        return publish_staged(spark, settings, entity, snapshot_date, run_id, manifest_digest, tables=tables,
                              emitter=emitter, column_lineage=column_lineage)
    except BuildError:
        tables.discard(staged)  # the snapshot itself is wrong: nothing to retry
        raise


def check_sources_step(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
                       run_id: str, *, tables: TableStore, emitter: LineageEmitter | None = None,
                       uris: dict[str, str] | None = None) -> None:
    """Audit the (registered) sources' rows for the date; raise when an error check fails.

    Lineage: a ``check_sources.<entity>`` run reading the sources (each with its
    ``dataQualityAssertions``) and writing the quality results.
    """
    if not settings.quality.enabled:
        log("quality gate disabled (settings.quality.enabled = false): sources not checked")
        return
    emitter = emitter or LineageEmitter.disabled()
    uris = uris or {s.name: settings.source_uri(s.path) for s in entity.sources}
    inputs = refs.source_datasets(entity, uris)
    with emitter.run(f"check_sources.{entity.name}", inputs, [refs.results_dataset(settings)],
                     run_id=f"{run_id}-check-sources", nominal_time=snapshot_date,
                     parameters={"snapshot_date": snapshot_date.isoformat()},
                     job_facets=refs.build_job_facets(entity, f"Quality gate on the sources of {entity.profile_table}: "
                                                      "every source's rows of the date")) as lineage_run:
        with step("quality gate: checking sources") as s:
            # Great Expectations (~5 s to import)
            from tagfactory.quality.run import check_sources

            reports = check_sources(spark, settings, entity, snapshot_date, run_id, tables=tables)
            s.detail = f"{sum(len(r.rows) for r in reports)} expectations on {len(reports)} sources"
        by_source = {r.dataset.removeprefix("source:"): r.rows for r in reports}
        lineage_run.set_inputs([refs.with_assertions(ref, by_source.get(src.name, []))
                                for ref, src in zip(inputs, [s for s in entity.sources if s.name in uris], strict=True)])
        _raise_failed_sources(settings, entity, snapshot_date, reports)


def _raise_failed_sources(settings: Settings, entity: Entity, snapshot_date: dt.date, reports: list[Any]) -> None:
    failed = [r for r in reports if not r.passed]
    if failed:
        raise QualityGateError(
            f"source checks failed for {entity.profile_table} dt={snapshot_date}; nothing was built or published:\n"
            + "\n".join(r.message() for r in failed)
            + f"\nResults: table {settings.table_uri('quality_results')}")


def stage_step(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
               run_id: str, emitter: LineageEmitter, manifest_digest: str, *, tables: TableStore,
               check_sources: bool = False, column_lineage: Sequence[ColumnLineage] = ()) -> StagedWrite:
    """Compute the snapshot and stage its files (invisible to readers); the run carries the manifest digest.

    Lineage: the profile table output carries ``columnLineage`` (each tag column from its source
    columns) from ``column_lineage`` (the manifest's).
    """
    name = entity.name
    profile_uri = settings.table_uri(entity.profile_table)
    log(f"building {entity.profile_table} for {snapshot_date}: {len(entity.tags)} tags, run {run_id}")
    with step("registering sources") as s:
        uris = register_sources(spark, entity.sources, settings, tables=tables)
        s.detail = ", ".join(uris)
    if check_sources:
        check_sources_step(spark, settings, entity, snapshot_date, run_id, tables=tables, emitter=emitter, uris=uris)
    inputs = refs.source_datasets(entity, uris)
    # the staged files are the profile table's next version: the output is the table, staging a run facet
    staging_out = [refs.profile_with_columns(refs.entity_dataset(settings, entity, entity.profile_table), settings,
                                             entity, column_lineage)]
    with emitter.run(f"build_profile.{name}", inputs, staging_out, run_id=run_id,
                     parameters={"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest_digest},
                     nominal_time=snapshot_date, sql=entity.sql,
                     run_facets=refs.staging_facets(f"{profile_uri}/_staging/{run_id}", run_id, entity.profile_table),
                     job_facets=refs.build_job_facets(entity, f"Computes the {entity.profile_table} snapshot of a date "
                                                      f"({len(entity.tags)} tags) and stages its files")) as lineage_run:
        query = spark.sql(entity.sql, args={"snapshot_date": snapshot_date})
        with step(f"computing and staging {entity.profile_table}") as s:
            # the compiled query's dt is the snapshot date: its files go straight into that folder
            staged = tables.stage(query.drop("dt"), profile_uri, partition_by=["dt"], run_id=run_id,
                                  partition_values={"dt": snapshot_date})
            staged = staging.save_manifest(staged, manifest_digest=manifest_digest)
            s.rows = staged.rows
            s.detail = f"{len(staged.files)} files"
        lineage_run.set_outputs([staging_out[0].with_stats(row_count=staged.rows)])
    return staged


def audit_step(spark: SparkSession, settings: Settings, entity: Entity, staged: StagedWrite,
               snapshot_date: dt.date, manifest_digest: str, *, tables: TableStore,
               emitter: LineageEmitter | None = None) -> None:
    """Audit the staged files; record a verdict; quarantine and raise when an error check fails.

    Lineage: an ``audit_profile.<entity>`` run reading the staged profile (with its
    ``dataQualityAssertions``) and writing the quality results.

    Raises:
        DigestMismatchError: the run was staged from another manifest (nothing is audited).
    """
    check_run_digest(staged.manifest_digest, manifest_digest, f"run {staged.run_id} of {entity.profile_table}")
    emitter = emitter or LineageEmitter.disabled()
    staged_in = refs.entity_dataset(settings, entity, entity.profile_table)
    with emitter.run(f"audit_profile.{entity.name}", [staged_in], [refs.results_dataset(settings)],
                     run_id=f"{staged.run_id}-audit", nominal_time=snapshot_date,
                     parameters={"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest_digest},
                     run_facets=refs.staging_facets(staged.staging_uri, staged.run_id, entity.profile_table),
                     job_facets=refs.build_job_facets(entity, f"Quality gate on the staged {entity.profile_table} "
                                                      "snapshot before it is published")) as lineage_run:
        _audit_staged(spark, settings, entity, staged, snapshot_date, manifest_digest, tables=tables,
                      on_rows=lambda rows: lineage_run.set_inputs([refs.with_assertions(staged_in, rows)]))


def _audit_staged(spark: SparkSession, settings: Settings, entity: Entity, staged: StagedWrite,
                  snapshot_date: dt.date, manifest_digest: str, *, tables: TableStore,
                  on_rows: Callable[[list[dict[str, Any]]], None]) -> None:
    if not settings.quality.enabled:
        staging.write_verdict(staged, {"passed": True, "dt": snapshot_date.isoformat(), "run_id": staged.run_id,
                                       "errors": [], "warnings": [], "gate": "disabled",
                                       "manifest_digest": manifest_digest})
        return
    # not cached: the fused pass reads the staged files at most twice (docs/jvm-components.md,
    # "Design notes"); the GX fallback persists what it needs
    staged_df = tables.read_staged(staged)
    with step(f"quality gate: auditing staged {entity.profile_table}") as s:
        # Great Expectations (~5 s to import)
        from tagfactory.quality.run import audit_profile

        report = audit_profile(spark, settings, entity, staged_df, snapshot_date, staged.run_id, tables=tables)
        s.detail = report.summary()
    on_rows(report.rows)
    staging.write_verdict(staged, {**report.verdict(), "manifest_digest": manifest_digest})
    if report.passed:
        return
    moved = staging.quarantine(staged)
    removed = staging.purge_quarantine(spark, staged.table_uri, settings.quality.quarantine_retention_days)
    if removed:
        log(f"removed {len(removed)} quarantined runs older than {settings.quality.quarantine_retention_days:g} days")
    raise QualityGateError(
        report.message()
        + f"\nNothing was published; {entity.profile_table} still serves its previous version."
        + f"\nThe staged files are quarantined at {moved.staging_uri} (kept "
        f"{settings.quality.quarantine_retention_days:g} days)."
        + f"\nTo publish them anyway: tagfactory publish --entity {entity.name} --date {snapshot_date} "
        f"--run-id {staged.run_id} --override-gate --reason \"...\"")


def publish_staged(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
                   run_id: str | None, manifest_digest: str, *, tables: TableStore,
                   override_reason: str | None = None, actor: str | None = None,
                   emitter: LineageEmitter | None = None,
                   column_lineage: Sequence[ColumnLineage] = ()) -> dict[str, Any]:
    """Publish a staged (or, with an override, a quarantined) run of an entity's snapshot.

    A run is published only with a passing audit verdict, or with ``override_reason``: the override
    is recorded in the quality results table (who, why, which expectations failed) before the
    commit, and in the Delta commit's metadata. Tag statistics are computed from the same files
    and published after the profile.
    """
    profile_uri = settings.table_uri(entity.profile_table)
    stats_uri = settings.table_uri(entity.stats_table)
    quarantined = override_reason is not None
    if run_id is None:
        candidates = staging.list_quarantined(spark, profile_uri) if quarantined else []
        matching = [r for r in candidates
                    if (staging.read_verdict(staging.load_staged(spark, profile_uri, r, quarantined=True)) or {})
                    .get("dt") == snapshot_date.isoformat()]
        if not matching:
            raise staging.StagingError(f"no quarantined run of {entity.profile_table} for {snapshot_date}; pass --run-id")
        run_id = matching[-1]
    staged = staging.load_staged(spark, profile_uri, run_id, quarantined=quarantined)  # carries its digest
    check_run_digest(staged.manifest_digest, manifest_digest, f"run {run_id} of {entity.profile_table}")
    verdict = staging.read_verdict(staged) or {}
    if verdict.get("dt") not in (None, snapshot_date.isoformat()):
        raise staging.StagingError(f"run {run_id} staged {entity.profile_table} for {verdict.get('dt')}, not {snapshot_date}")
    if not verdict.get("passed") and override_reason is None:
        raise QualityGateError(f"run {run_id} of {entity.profile_table} has no passing audit verdict; "
                               "run the audit step first, or publish a quarantined run with --override-gate "
                               "--reason \"...\"")
    metadata = {"run_id": run_id, "job_name": f"build_profile.{entity.name}", "snapshot_date": snapshot_date.isoformat(),
                "manifest_digest": manifest_digest}
    if override_reason is not None:
        metadata.update(store.record_override(
            spark, settings, tables=tables, run_id=run_id, dataset=entity.profile_table,
            snapshot_date=snapshot_date.isoformat(), reason=override_reason, actor=actor, overridden=verdict.get("errors", [])))
    emitter = emitter or LineageEmitter.disabled()
    # reads the staged version of the profile table (the staging folder is a run facet) and commits it
    staged_in = [refs.entity_dataset(settings, entity, entity.profile_table)]
    outputs = [refs.profile_with_columns(refs.entity_dataset(settings, entity, entity.profile_table), settings,
                                         entity, column_lineage),
               refs.entity_dataset(settings, entity, entity.stats_table)]
    parameters = {"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest_digest}
    overridden = [refs.results_dataset(settings)] if override_reason is not None else []  # the override's row
    if override_reason is not None:
        parameters.update({"gate_override": override_reason, "gate_override_by": str(metadata.get("gate_override_by"))})
    with emitter.run(f"publish_profile.{entity.name}", staged_in, [*outputs, *overridden], run_id=f"{run_id}-publish",
                     parameters=parameters,
                     nominal_time=snapshot_date,
                     run_facets=refs.staging_facets(staged.staging_uri, run_id, entity.profile_table),
                     job_facets=refs.build_job_facets(entity, f"Commits the audited {entity.profile_table} snapshot "
                                                      f"(Delta) and publishes its tag statistics")) as lineage_run:
        with step("computing tag statistics from the staged files") as s:
            stats, rows, keys = compute_tag_stats(spark, tables.read_staged(staged), entity.tags, snapshot_date)
            s.rows = rows
        if rows != keys:
            raise BuildError(
                f"{entity.profile_table} for {snapshot_date} has {rows - keys:,} duplicate `{entity.key}` rows; "
                "a sql tag probably returns more than one row per key. Nothing was published.")
        with step(f"publishing {entity.profile_table}") as s:
            version = tables.commit(staged, commit_metadata=metadata)
            s.detail = f"version {version} at {profile_uri}"
        with step(f"publishing {entity.stats_table}") as s:
            stats_result = tables.publish(stats, stats_uri, partition_by=["dt"], run_id=f"{run_id}-stats")
            s.rows = stats_result.rows
        # the tag statistics computed above (a local relation: no pass over the snapshot) as quality metrics
        published = refs.with_metrics(outputs[0], rows, [r.asDict() for r in stats.collect()], entity)
        lineage_run.set_outputs([published.with_stats(row_count=rows, version=str(version)),
                                 outputs[1].with_stats(row_count=stats_result.rows, version=str(stats_result.version)),
                                 *overridden])
    return {"profile_uri": profile_uri, "stats_uri": stats_uri, "version": version, "rows": rows,
            "stats_version": stats_result.version}
