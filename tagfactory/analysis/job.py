"""The effect-analysis job for one as-of date (spark-submit ``jobs/analyze_effects.py``, the DAG, the tests).

For every entity with scenes that carry an analysis plan (``Scene.analysis``):

1. read ``scene_assignments_<e>`` (dates up to ``D``), the entity's sources (the goals' compiled
   ``events_sql`` runs over them with ``:snapshot_date = D``), ``profile_<e>`` (covariates and
   slices) and, where it exists, ``export_receipts`` (the delivered dates of each scene's exports);
2. Spark aggregates (:mod:`.aggregate`): the exposures, the sufficient statistics of every cell and
   the health counts, collected once (they are small);
3. the driver computes results and health (:mod:`.driver`);
4. the four tables are staged into the date's partition and committed, each replacing the date
   (an empty result replaces it with nothing): a re-run of ``D`` gives the same rows.

Lineage: one run ``analyze_effects.<entity>`` reading the assignments, the goals' sources, the
profile and the receipts and writing the four tables (versions and row counts; each with the
``columnLineage`` facet of the manifest's ``effect:<table>`` entries, the columns' immediate
inputs in the assignments, sources and profile), parented like the other jobs (``--lineage-parent-id``). Progress lines as the other jobs (:mod:`tagfactory.progress`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tagfactory.analysis import aggregate
from tagfactory.analysis.arms import Cell
from tagfactory.analysis.driver import SceneInputs, analyse_scene
from tagfactory.audiences.publish import StagedDay, commit_all
from tagfactory.compiler.manifest import Entity, Manifest, Scene, manifest_path, read_manifest
from tagfactory.contracts.tables import EFFECT_KINDS, RECEIPTS_TABLE, table_name
from tagfactory.lakehouse import delta
from tagfactory.lakehouse.schemas import frame_schema
from tagfactory.lakehouse.store import TableStore
from tagfactory.lineage import DatasetRef, LineageEmitter
from tagfactory.lineage import facets as olf
from tagfactory.pipeline import lineage_refs as refs
from tagfactory.pipeline.runtime import safe_run_id, start_job, stop_job
from tagfactory.pipeline.sources import register_sources
from tagfactory.progress import log, step
from tagfactory.settings import Settings, load_settings

# the results last, so a reader of effect_results sees a complete day
COMMIT_ORDER = ["effect_exposures", "effect_stats", "effect_health", "effect_results"]


def run_effects(as_of: dt.date, manifest_file: str | None = None, config: str | None = None,
                master: str | None = None, entities: list[str] | None = None, run_id: str | None = None, *,
                lineage_parent_id: str | None = None, lineage_root_parent_id: str | None = None) -> int:
    """Analyse every scene with goals as of ``as_of`` and publish the four effect tables; exit code."""
    settings = load_settings(config)
    file = Path(manifest_file or manifest_path(settings.target))
    manifest = read_manifest(file)
    run_id = safe_run_id(run_id) if run_id else delta.new_run_id()
    job = start_job(settings, master, lineage_parent_id=lineage_parent_id,
                    lineage_root_parent_id=lineage_root_parent_id)
    try:
        for entity in manifest.choose(entities):
            summary = analyze_entity(job.spark, settings, job.tables, manifest, entity, as_of, run_id, job.emitter)
            if summary.get("results"):
                from tagfactory.analysis.report import render

                log(f"effects of {entity.name} as of {as_of}:\n" + render(summary["results"]))
    finally:
        stop_job(job.spark, settings, master)
    return 0


def analyzed_scenes(entity: Entity) -> list[Scene]:
    """The entity's scenes with an analysis plan."""
    return [s for s in entity.scenes if s.analysis is not None and s.analysis.goals]


def analyze_entity(spark: SparkSession, settings: Settings, tables: TableStore, manifest: Manifest, entity: Entity,
                   as_of: dt.date, run_id: str, emitter: LineageEmitter | None = None) -> dict[str, Any]:
    """Aggregate, analyse and publish the effect tables of ``entity`` for ``as_of``; a summary."""
    scenes = analyzed_scenes(entity)
    if not scenes:
        log(f"no scene of {entity.name} has goals: no effect analysis")
        return {"results": []}
    names: dict[str, str] = {kind: table_name(kind, entity.name) for kind in EFFECT_KINDS}
    uris = {kind: settings.table_uri(n) for kind, n in names.items()}
    emitter = emitter or LineageEmitter.disabled()
    inputs, used = _lineage_inputs(settings, tables, manifest, entity, scenes)
    outputs = refs.effect_outputs_with_columns({kind: refs.entity_dataset(settings, entity, name)
                                                for kind, name in names.items()}, settings, entity,
                                               manifest.column_lineage)
    with emitter.run(f"analyze_effects.{entity.name}", inputs, list(outputs.values()), run_id=f"{run_id}-effects",
                     parameters={"snapshot_date": as_of.isoformat(), "manifest_digest": manifest.digest},
                     nominal_time=as_of, job_facets=olf.without_none({
                         "ownership": olf.ownership(s.owner for s in scenes),
                         "documentation": olf.documentation(
                             f"Effect analysis of {len(scenes)} scenes of {entity.name}: exposures, sufficient "
                             "statistics, results and health as of the date")})) as lineage_run:
        day = StagedDay(tables, uris, as_of, run_id)
        summary = _analyze(spark, settings, tables, manifest, entity, scenes, as_of, day, used)
        versions = commit_all(day.staged, as_of, run_id, tables, {"manifest_digest": manifest.digest},
                              order=COMMIT_ORDER, job_name="analyze_effects")
        lineage_run.set_outputs([ref.with_stats(row_count=day.staged[kind].rows, version=versions.get(kind))
                                 for kind, ref in outputs.items()])
    summary["versions"] = versions
    return summary


def _lineage_inputs(settings: Settings, tables: TableStore, manifest: Manifest, entity: Entity,
                    scenes: list[Scene]) -> tuple[list[DatasetRef], set[str]]:
    """The assignments, the goals' sources, the profile (when a goal reads a tag) and the receipts."""
    used = {g.source.name for s in scenes for g in (s.analysis.goals if s.analysis else [])}
    assignments = entity.audience_tables["scene_assignments"]
    out = [refs.entity_dataset(settings, entity, assignments, version=tables.version(settings.table_uri(assignments)))]
    out += refs.source_datasets(entity, {s.name: settings.source_uri(s.path) for s in entity.sources}, used)
    out.append(refs.entity_dataset(settings, entity, entity.profile_table,
                                   version=tables.version(settings.table_uri(entity.profile_table))))
    if _scene_exports(manifest, entity):
        receipts = next(t for t in manifest.tables if t.name == RECEIPTS_TABLE)
        out.append(refs.table_dataset(settings, receipts, version=tables.version(settings.table_uri(RECEIPTS_TABLE))))
    return out, used


def _scene_exports(manifest: Manifest, entity: Entity) -> dict[str, list[str]]:
    """Scene -> the exports delivering its assignments."""
    out: dict[str, list[str]] = {}
    for export in manifest.exports:
        if export.entity == entity.name and export.what.kind == "scenes":
            for scene in export.what.scenes or []:
                out.setdefault(scene, []).append(export.name)
    return out


def _delivered(spark: SparkSession, settings: Settings, tables: TableStore, manifest: Manifest, entity: Entity,
               as_of: dt.date) -> dict[str, list[dt.date]]:
    """Scene -> the dates (up to ``as_of``) its exports delivered, from ``export_receipts`` (none: absent)."""
    exports = _scene_exports(manifest, entity)
    uri = settings.table_uri(RECEIPTS_TABLE)
    if not exports or tables.version(uri) is None:
        return {}
    names = sorted({e for v in exports.values() for e in v})
    rows = (tables.read(uri).where(F.col("export").isin(names) & F.col("status").isin("delivered", "unchanged")
                                   & (F.col("dt") <= F.lit(as_of)))
            .select("export", "dt").distinct().collect())
    by_export: dict[str, set[dt.date]] = {}
    for r in rows:
        by_export.setdefault(r["export"], set()).add(r["dt"])
    out = {scene: sorted(set().union(*(by_export.get(e, set()) for e in ex))) for scene, ex in exports.items()}
    return {scene: dates for scene, dates in out.items() if dates}


def _analyze(spark: SparkSession, settings: Settings, tables: TableStore, manifest: Manifest, entity: Entity,
             scenes: list[Scene], as_of: dt.date, day: StagedDay, used: set[str]) -> dict[str, Any]:
    key = entity.key
    assignments_uri = settings.table_uri(entity.audience_tables["scene_assignments"])
    if tables.version(assignments_uri) is None:
        from tagfactory.audiences.errors import AudienceError

        raise AudienceError(f"{assignments_uri} does not exist: materialize the audiences and scenes first "
                            f"(tagfactory audiences --date {as_of})")
    names = [s.name for s in scenes]
    assignments = (tables.read(assignments_uri).where(F.col("scene").isin(names) & (F.col("dt") <= F.lit(as_of)))
                   .select("scene", key, "branch", "group", "variant", "dt").cache())
    profile_uri = settings.table_uri(entity.profile_table)
    profile = tables.read(profile_uri) if tables.version(profile_uri) is not None else None
    register_sources(spark, [s for s in entity.sources if s.name in used], settings, tables=tables)
    delivered = _delivered(spark, settings, tables, manifest, entity, as_of)
    try:
        with step(f"exposures of {len(scenes)} scenes as of {as_of}") as s:
            exposed = aggregate.exposures(assignments, key, as_of).cache()
            s.rows = day.stage(exposed, "effect_exposures").rows
        with step("aggregating goal windows into sufficient statistics") as s:
            stats = _stats(spark, exposed, profile, scenes, key, as_of, assignments, delivered)
            s.rows = len(stats)
            day.stage(spark.createDataFrame(stats, frame_schema("effect_stats", key=key)), "effect_stats")
        counts, firsts, health = _counts(exposed, assignments, key, as_of)
        previous = _previous(settings, tables, entity, as_of)
        results, health_rows = [], []
        with step("estimating effects (driver)") as s:
            for scene in scenes:
                cells = [Cell.from_row(r) for r in stats if r["scene"] == scene.name]
                inputs = SceneInputs(cells, counts.get(scene.name, {}), health.get(scene.name, {}),
                                     firsts.get(scene.name), scene.name in delivered,
                                     [r for r in previous if r["scene"] == scene.name])
                rows, hrows = analyse_scene(scene, inputs, as_of)
                results += rows
                health_rows += hrows
            s.rows = len(results)
        day.stage(spark.createDataFrame(health_rows, frame_schema("effect_health", key=key)), "effect_health")
        day.stage(spark.createDataFrame(results, frame_schema("effect_results", key=key)), "effect_results")
    finally:
        assignments.unpersist()
    return {"results": results, "health": health_rows, "stats": len(stats)}


def _stats(spark: SparkSession, exposed: DataFrame, profile: DataFrame | None, scenes: list[Scene], key: str,
           as_of: dt.date, assignments: DataFrame, delivered: dict[str, list[dt.date]]) -> list[dict[str, Any]]:
    """Every scene's goal statistics, unioned and collected once."""
    parts = []
    events: dict[str, DataFrame] = {}  # one scan per compiled events query, shared by the scenes
    for scene in scenes:
        mine = exposed.where(F.col("scene") == scene.name)
        for goal in scene.analysis.goals if scene.analysis else []:
            if goal.events_sql not in events:
                events[goal.events_sql] = spark.sql(goal.events_sql, args={"snapshot_date": as_of}).cache()
            parts.append(aggregate.goal_stats(mine, events[goal.events_sql], profile, goal, scene.name, key, as_of,
                                              assignments, delivered.get(scene.name)))
    if not parts:
        return []
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    try:
        return [r.asDict() for r in union.collect()]
    finally:
        for frame in events.values():
            frame.unpersist()


Arms = dict[tuple[str, str | None, str | None], int]


def _counts(exposed: DataFrame, assignments: DataFrame, key: str, as_of: dt.date
            ) -> tuple[dict[str, Arms], dict[str, dt.date], dict[str, dict[str, tuple[int, int]]]]:
    """Exposed users per scene and (branch, group, variant), each scene's first assignment date, and
    group changes and users in several branches per scene and branch."""
    counts: dict[str, Arms] = {}
    firsts: dict[str, dt.date] = {}
    for r in exposed.groupBy("scene", "branch", "group", "variant").agg(
            F.count("*").alias("users"), F.min("first_date").alias("first")).collect():
        counts.setdefault(r["scene"], {})[(r["branch"], r["group"], r["variant"])] = int(r["users"])
        firsts[r["scene"]] = min(firsts.get(r["scene"], r["first"]), r["first"])
    health: dict[str, dict[str, tuple[int, int]]] = {}
    for r in aggregate.branch_health(assignments, exposed, key, as_of).collect():
        health.setdefault(r["scene"], {})[r["branch"]] = (int(r["group_changes"]), int(r["users_in_several_branches"]))
    return counts, firsts, health


def _previous(settings: Settings, tables: TableStore, entity: Entity, as_of: dt.date) -> list[dict[str, Any]]:
    """Earlier dates' sequential state (the latest look per result) from ``effect_results``."""
    uri = settings.table_uri(table_name("effect_results", entity.name))
    if tables.version(uri) is None:
        return []
    wanted = ["scene", "goal", "comparison", "slice_tag", "slice_value", "seq_ci_low", "seq_ci_high",
              "seq_p_value", "tau2", "dt"]
    return [r.asDict() for r in tables.read(uri).where((F.col("dt") < F.lit(as_of)) & F.col("tau2").isNotNull())
            .select(*wanted).collect()]
