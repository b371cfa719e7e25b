"""Materialize every audience and scene of an entity for one date, through the quality gate.

The orchestrator: it reads the published profile snapshot and runs the steps of one run in
order, each in its own module:

1. the list and SQL memberships and the one compiled pass over the snapshot (:mod:`.membership`),
   staged as ``audience_members``;
2. the changes vs the latest earlier ``dt`` (:mod:`.changes`) and the stats (:mod:`.stats`);
3. the audience profiles with TGI (:mod:`.profiles`);
4. the scene assignments and their counts (:mod:`.scenes`);
5. the guardrails (:mod:`.guardrails`), then all six staged tables are committed, or, when a
   guardrail fails, all are quarantined and nothing is published (:mod:`.publish`).

See docs/audiences.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tagfactory.audiences.changes import changes, previous
from tagfactory.audiences.errors import AudienceError
from tagfactory.audiences.guardrails import check_guardrails, record_results
from tagfactory.audiences.membership import external, keyed_input, membership, one_pass_codegen
from tagfactory.audiences.profiles import audience_profile
from tagfactory.audiences.publish import StagedDay, commit_all, quarantine_all
from tagfactory.audiences.scenes import assign_scenes, count_assignments
from tagfactory.audiences.stats import change_counts, list_unknown, member_counts, stats_rows
from tagfactory.compiler.manifest import ColumnLineage, Entity
from tagfactory.lakehouse.schemas import frame_schema
from tagfactory.lakehouse.store import TableStore
from tagfactory.lineage import DatasetRef, LineageEmitter, dataset_for_uri
from tagfactory.lineage import facets as olf
from tagfactory.pipeline import lineage_refs as refs
from tagfactory.progress import log, step
from tagfactory.quality.failures import QualityGateError
from tagfactory.quality.gate import AuditReport
from tagfactory.settings import Settings


@dataclass(frozen=True)
class _Run:
    """What every step of one materialization run reads."""

    spark: SparkSession
    settings: Settings
    tables: TableStore
    entity: Entity
    snapshot_date: dt.date
    run_id: str
    manifest_dir: Path
    manifest_digest: str
    uris: dict[str, str]


def materialize(spark: SparkSession, settings: Settings, tables: TableStore, entity: Entity, snapshot_date: dt.date,
                run_id: str, manifest_dir: Path, manifest_digest: str,
                emitter: LineageEmitter | None = None,
                column_lineage: Sequence[ColumnLineage] = ()) -> dict[str, Any]:
    """Stage, audit and publish the audience and scene tables of ``entity`` for ``snapshot_date``.

    ``tables`` is the job's table store: every read, stage and commit goes through it.
    ``column_lineage`` (the manifest's) becomes the ``columnLineage`` facets of the members and
    scene assignment outputs.

    Returns:
        Summary: per-audience stats rows, per-scene counts, table versions.

    Raises:
        QualityGateError: an ``error`` guardrail failed; nothing was published.
        AudienceError: the inputs are missing.
    """
    if not entity.audiences:
        log(f"no audiences defined for entity {entity.name}: nothing to materialize")
        return {"stats": [], "scenes": {}}
    run = _Run(spark, settings, tables, entity, snapshot_date, run_id, manifest_dir, manifest_digest,
               {k: settings.table_uri(v) for k, v in entity.audience_tables.items()})
    profile_uri = settings.table_uri(entity.profile_table)
    emitter = emitter or LineageEmitter.from_config(False, None, None)
    profile, population = _read_snapshot(run, profile_uri)
    try:
        outputs = refs.audience_outputs_with_columns(
            {kind: refs.entity_dataset(settings, entity, name) for kind, name in entity.audience_tables.items()},
            settings, entity, column_lineage)
        with emitter.run(f"materialize_audiences.{entity.name}", _lineage_inputs(run, profile_uri),
                         list(outputs.values()), run_id=f"{run_id}-audiences",
                         parameters={"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest_digest},
                         nominal_time=snapshot_date, sql=entity.audiences_sql,
                         job_facets=olf.without_none({
                             "ownership": olf.ownership(a.owner for a in entity.audiences),
                             "documentation": olf.documentation(
                                 f"Materializes the {len(entity.audiences)} audiences and {len(entity.scenes)} scenes "
                                 f"of {entity.name} from the published {entity.profile_table} snapshot")})
                         ) as lineage_run:
            day, summary, report = _stage_and_audit(run, profile, population)
            if not report.passed:
                _refuse(run, day, report)
            summary["versions"] = commit_all(day.staged, snapshot_date, run_id, tables,
                                             {"manifest_digest": manifest_digest})
            lineage_run.set_outputs([ref.with_stats(row_count=day.staged[kind].rows,
                                                    version=summary["versions"].get(kind))
                                     for kind, ref in outputs.items()])
    finally:
        profile.unpersist()
    return summary


def _lineage_inputs(run: _Run, profile_uri: str) -> list[DatasetRef]:
    """What the run reads: the profile snapshot, the uploaded lists, the SQL audiences' sources and the
    audience members as they were before this run (the previous day's members), at their versions."""
    entity, settings = run.entity, run.settings
    inputs = [refs.entity_dataset(settings, entity, entity.profile_table, version=run.tables.version(profile_uri))]
    inputs += [dataset_for_uri(run.manifest_dir / a.uploaded.file, [(entity.key, "string")],
                               description=f"uploaded list of audience {a.name}")
               for a in entity.audiences if a.uploaded is not None]
    used = {n for a in entity.audiences if a.kind == "sql" for n in a.sources or []}
    inputs += refs.source_datasets(entity, {s.name: settings.source_uri(s.path) for s in entity.sources}, used)
    members = run.uris["audience_members"]
    before = run.tables.version(members)
    if before is not None:
        inputs.append(refs.entity_dataset(settings, entity, entity.audience_tables["audience_members"],
                                          version=before))
    return inputs


def _read_snapshot(run: _Run, profile_uri: str) -> tuple[DataFrame, int]:
    """The entity's published profile snapshot of the date (cached, registered as ``profile``) and its rows."""
    entity, date = run.entity, run.snapshot_date
    with step(f"reading {entity.profile_table} dt={date}") as s:
        if run.tables.version(profile_uri) is None:
            raise AudienceError(f"{profile_uri} does not exist: build the profile snapshot first "
                                f"(tagfactory build --date {date})")
        profile = run.tables.read(profile_uri).where(F.col("dt") == F.lit(date)).drop("dt").cache()
        population = profile.count()
        s.rows = population
        if population == 0:
            raise AudienceError(f"{entity.profile_table} has no snapshot for {date}: publish it first "
                                f"(tagfactory build --date {date}); nothing was materialized")
    profile.createOrReplaceTempView("profile")
    return profile, population


def _stage_and_audit(run: _Run, profile: DataFrame,
                     population: int) -> tuple[StagedDay, dict[str, Any], AuditReport]:
    """Stage the six tables of the run in order, then audit the guardrails (nothing is committed here)."""
    day = StagedDay(run.tables, run.uris, run.snapshot_date, run.run_id)
    ext, lists = _read_external(run)
    today = _stage_members(run, day, profile, ext)
    previous_dt, previous_sizes = _stage_changes(run, day, today)
    sizes = member_counts(today)
    rows = _stage_stats(run, day, profile, sizes, lists, previous_dt, previous_sizes)
    _stage_audience_profile(run, day, profile, today, sizes, population)
    scene_counts = _stage_scenes(run, day, today)
    report = _audit(run, day, rows)
    return day, {"stats": rows, "scenes": scene_counts, "population": population}, report


def _read_external(run: _Run) -> tuple[DataFrame | None, DataFrame | None]:
    """Step 1: the uploaded lists and the SQL audiences, as (key, audience) rows."""
    audiences = run.entity.audiences
    with step("reading uploaded lists and running SQL audiences") as s:
        ext, lists = external(run.spark, run.settings, run.tables, run.entity, audiences, run.snapshot_date, run.manifest_dir)
        s.detail = f"{sum(1 for a in audiences if a.kind != 'rule')} list/SQL audiences"
    return ext, lists


def _stage_members(run: _Run, day: StagedDay, profile: DataFrame, ext: DataFrame | None) -> DataFrame:
    """Step 2: ONE pass, every audience's condition over the snapshot; returns the staged (audience, key) rows."""
    key = run.entity.key
    members = membership(keyed_input(profile, key, ext), run.entity, run.snapshot_date)
    with step(f"evaluating {len(run.entity.audiences)} audiences in one pass and staging members") as s, \
            one_pass_codegen(run.spark):
        s.rows = day.stage(members, "audience_members").rows
    return day.read("audience_members").select("audience", key)


def _stage_changes(run: _Run, day: StagedDay, today: DataFrame) -> tuple[dt.date | None, dict[str, int]]:
    """Step 3: the entered / exited records vs the latest earlier snapshot; returns its dt and sizes."""
    key = run.entity.key
    with step("comparing with the previous snapshot") as s:
        previous_dt, previous_members, previous_sizes = previous(run.spark, run.tables, run.uris,
                                                                 run.snapshot_date, key)
        names = [a.name for a in run.entity.audiences]
        day.stage(changes(today, previous_members, names, key), "audience_changes")
        s.detail = f"previous dt {previous_dt or 'none'}"
    return previous_dt, previous_sizes


def _stage_stats(run: _Run, day: StagedDay, profile: DataFrame, sizes: dict[str, int], lists: DataFrame | None,
                 previous_dt: dt.date | None, previous_sizes: dict[str, int]) -> list[dict[str, Any]]:
    """Step 4: one stats row per audience (size, added, removed, change, list misses); returns the rows."""
    key = run.entity.key
    moves = change_counts(day.read("audience_changes"))
    unknown = list_unknown(lists, profile, key)
    rows = stats_rows(run.entity.audiences, sizes, moves, unknown, previous_dt, previous_sizes)
    day.stage(run.spark.createDataFrame(rows, frame_schema("audience_stats", key=key)), "audience_stats")
    return rows


def _stage_audience_profile(run: _Run, day: StagedDay, profile: DataFrame, today: DataFrame,
                            sizes: dict[str, int], population: int) -> None:
    """Step 5: the audience profiles (TGI)."""
    with step("profiling audiences (TGI)") as s:
        profile_df = audience_profile(run.spark, run.entity, profile, today, sizes, population, run.entity.key)
        s.rows = day.stage(profile_df, "audience_profile").rows


def _stage_scenes(run: _Run, day: StagedDay, today: DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Step 6: the scene assignments and their counts; returns the counts by scene."""
    key = run.entity.key
    scenes = run.entity.scenes or []
    with step(f"assigning {len(scenes)} scenes") as s:
        assignments = assign_scenes(run.spark, scenes, today, key)
        if assignments is None:
            assignments = run.spark.createDataFrame([], frame_schema("scene_assignments", key=key))
        scene_assignments = day.stage(assignments, "scene_assignments")
        scene_stats, scene_counts = count_assignments(run.spark, day.read("scene_assignments"), key)
        day.stage(scene_stats, "scene_stats")
        s.rows = scene_assignments.rows
    return scene_counts


def _audit(run: _Run, day: StagedDay, rows: list[dict[str, Any]]) -> AuditReport:
    """Step 7: seal the staged runs, check the guardrails, store the verdict and record the results."""
    day.save_manifests(run.manifest_digest)
    report = check_guardrails(run.settings, run.entity, rows, run.snapshot_date, run.run_id)
    day.write_verdicts(report, run.manifest_digest)
    record_results(run.spark, run.settings, run.tables, report)
    return report


def _refuse(run: _Run, day: StagedDay, report: AuditReport) -> NoReturn:
    """A failed gate: quarantine every staged table and raise, saying how to publish them anyway."""
    retention = run.settings.quality.quarantine_retention_days
    moved = quarantine_all(run.spark, day, retention)
    raise QualityGateError(
        report.message()
        + "\nNothing was published; the audience tables still serve their previous versions."
        + f"\nThe staged files are quarantined under <table>/_quarantine/{run.run_id} "
        f"({moved} tables, kept {retention:g} days)."
        + f"\nTo publish them anyway: tagfactory audiences --entity {run.entity.name} --date "
        f"{run.snapshot_date} --run-id {run.run_id} --override-gate --reason \"...\"")
