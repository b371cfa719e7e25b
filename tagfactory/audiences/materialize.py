"""Materialize every audience and scene of an entity for one date, through the quality gate.

One compiled Spark query over the published profile snapshot evaluates the conditions of all
rule audiences at once (list and SQL audiences are joined in as a per-key array first), packing
the results into bit words that are decoded into member rows (see :func:`membership`). From the
staged members the job derives the day's changes and stats (vs the latest earlier ``dt``), the
audience profiles (TGI) and the scene assignments. All six tables are staged, the guardrails are
audited, and only then are they committed; a failed gate quarantines every staged table and
publishes nothing. See docs/audiences.md.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from tagfactory.audiences.lists import read_normalized
from tagfactory.compiler.audience_pass import INPUT_VIEW
from tagfactory.compiler.manifest import Audience, Entity, Scene, UploadedList, check_run_digest
from tagfactory.errors import PublishError
from tagfactory.lakehouse import delta, staging
from tagfactory.lakehouse.delta import StagedWrite
from tagfactory.lakehouse.schemas import frame_schema
from tagfactory.lakehouse.store import TableStore, open_store
from tagfactory.lineage import LineageEmitter, dataset_for_uri
from tagfactory.pipeline.sources import register_sources
from tagfactory.progress import log, step
from tagfactory.quality import store
from tagfactory.quality.gate import AuditReport, Finding
from tagfactory.quality.gx_bridge import (
    ExpectationSpec,
    build_suite,
    result_from_outcomes,
    rows_from_result,
)
from tagfactory.quality.run import QualityGateError
from tagfactory.settings import Settings

EXT = "_ext"
# spark.sql.codegen.maxFields under one_pass_codegen: fewer than a snapshot's columns, more than the
# decode steps' (key, word, value, names, audience)
ONE_PASS_MAX_FIELDS = 8
TWO_POW_60 = float(16**15)
TOP_STRING_VALUES = 20
QUINTILES = [0.2, 0.4, 0.6, 0.8]


class AudienceError(PublishError, RuntimeError):
    """The audiences cannot be materialized (e.g. no profile snapshot for the date)."""


def materialize(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
                run_id: str, manifest_dir: Path, manifest_digest: str,
                emitter: LineageEmitter | None = None) -> dict[str, Any]:
    """Stage, audit and publish the audience and scene tables of ``entity`` for ``snapshot_date``.

    Returns:
        Summary: per-audience stats rows, per-scene counts, table versions.

    Raises:
        QualityGateError: an ``error`` guardrail failed; nothing was published.
        AudienceError: the inputs are missing.
    """
    audiences = entity.audiences or []
    if not audiences:
        log(f"no audiences defined for entity {entity.name}: nothing to materialize")
        return {"stats": [], "scenes": {}}
    tables = {k: settings.table_uri(v) for k, v in entity.audience_tables.items()}
    profile_uri = settings.table_uri(entity.profile_table)
    emitter = emitter or LineageEmitter.from_config(False, None, None)
    with step(f"reading {entity.profile_table} dt={snapshot_date}") as s:
        if delta.table_version(profile_uri) is None:
            raise AudienceError(f"{profile_uri} does not exist: build the profile snapshot first "
                                f"(tagfactory build --date {snapshot_date})")
        profile = open_store(settings, spark).read(profile_uri) \
            .where(F.col("dt") == F.lit(snapshot_date)).drop("dt").cache()
        population = profile.count()
        s.rows = population
        if population == 0:
            raise AudienceError(f"{entity.profile_table} has no snapshot for {snapshot_date}: publish it first "
                                f"(tagfactory build --date {snapshot_date}); nothing was materialized")
    profile.createOrReplaceTempView("profile")
    inputs = [dataset_for_uri(profile_uri)]
    outputs = [dataset_for_uri(uri) for uri in tables.values()]
    try:
        with emitter.run(f"materialize_audiences.{entity.name}", inputs, outputs, run_id=f"{run_id}-audiences",
                         parameters={"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest_digest},
                         nominal_time=snapshot_date):
            staged, summary, report = _stage_and_audit(spark, settings, entity, profile, population, snapshot_date,
                                                       run_id, tables, manifest_dir, manifest_digest)
            if not report.passed:
                moved = [staging.quarantine(st) for st in staged.values()]
                for uri in tables.values():
                    staging.purge_quarantine(spark, uri, settings.quality.quarantine_retention_days)
                raise QualityGateError(
                    report.message()
                    + "\nNothing was published; the audience tables still serve their previous versions."
                    + f"\nThe staged files are quarantined under <table>/_quarantine/{run_id} "
                    f"({len(moved)} tables, kept {settings.quality.quarantine_retention_days:g} days)."
                    + f"\nTo publish them anyway: tagfactory audiences --entity {entity.name} --date "
                    f"{snapshot_date} --run-id {run_id} --override-gate --reason \"...\"")
            summary["versions"] = _commit_all(staged, snapshot_date, run_id, open_store(settings, spark),
                                              {"manifest_digest": manifest_digest})
    finally:
        profile.unpersist()
    return summary


def _stage_and_audit(spark: SparkSession, settings: Settings, entity: Entity, profile: DataFrame,
                     population: int, snapshot_date: dt.date, run_id: str, tables: dict[str, str],
                     manifest_dir: Path, manifest_digest: str
                     ) -> tuple[dict[str, StagedWrite], dict[str, Any], AuditReport]:
    key = entity.key
    audiences = entity.audiences
    staged: dict[str, StagedWrite] = {}

    # 1. external memberships (uploaded lists, SQL audiences) as one per-key array
    with step("reading uploaded lists and running SQL audiences") as s:
        ext, lists = _external(spark, settings, entity, audiences, snapshot_date, manifest_dir)
        s.detail = f"{sum(1 for a in audiences if a.kind != 'rule')} list/SQL audiences"
    # 2. ONE pass: every audience's condition over the profile snapshot
    keyed = profile.withColumn(key, F.col(key).cast("string"))
    if ext is not None:
        grouped = ext.groupBy(key).agg(F.collect_set("audience").alias(EXT))
        keyed = keyed.join(grouped, key, "left")
    else:
        keyed = keyed.withColumn(EXT, F.lit(None).cast("array<string>"))
    members = membership(keyed, entity, snapshot_date)

    def stage_day(df: DataFrame, table: str) -> StagedWrite:
        """Stage the day's rows of one audience table (``dt`` is the snapshot date)."""
        staged[table] = delta.stage(spark, df, tables[table], partition_by=["dt"], run_id=run_id,
                                    partition_values={"dt": snapshot_date})
        return staged[table]

    with step(f"evaluating {len(audiences)} audiences in one pass and staging members") as s, one_pass_codegen(spark):
        members_staged = stage_day(members, "audience_members")
        s.rows = members_staged.rows
    today = delta.read_staged(members_staged).select("audience", key)

    # 3. changes and stats vs the latest earlier snapshot
    with step("comparing with the previous snapshot") as s:
        previous_dt, previous, previous_sizes = _previous(spark, settings, tables, snapshot_date, key)
        names = [a.name for a in audiences]
        if previous is not None:
            prev = previous.where(F.col("audience").isin(names))
            changes = (today.withColumn("_t", F.lit(True))
                       .join(prev.withColumn("_p", F.lit(True)), ["audience", key], "full_outer")
                       .where(F.col("_t").isNull() | F.col("_p").isNull())
                       .select("audience", key, F.when(F.col("_t"), "entered").otherwise("exited").alias("change")))
        else:
            changes = today.select("audience", key, F.lit("entered").alias("change"))
        stage_day(changes, "audience_changes")
        s.detail = f"previous dt {previous_dt or 'none'}"
    sizes = {r["audience"]: int(r["n"]) for r in today.groupBy("audience").agg(F.count("*").alias("n")).collect()}
    moves: dict[tuple[str, str], int] = {}
    for r in delta.read_staged(staged["audience_changes"]).groupBy("audience", "change").count().collect():
        moves[(r["audience"], r["change"])] = int(r["count"])
    unknown = _list_unknown(lists, profile, key)
    stats_rows = []
    for a in audiences:
        size = sizes.get(a.name, 0)
        prev_size = previous_sizes.get(a.name) if previous_dt else None
        change = abs(size - prev_size) / prev_size if prev_size else None
        stats_rows.append({
            "audience": a.name, "kind": a.kind, "size": size, "previous_dt": previous_dt,
            "previous_size": prev_size, "added": moves.get((a.name, "entered"), 0),
            "removed": moves.get((a.name, "exited"), 0), "change": change,
            "list_unknown": unknown.get(a.name) if a.kind == "list" else None,
        })
    stats_df = spark.createDataFrame(stats_rows, frame_schema("audience_stats", key=key))
    stage_day(stats_df, "audience_stats")

    # 4. audience profiles (TGI)
    with step("profiling audiences (TGI)") as s:
        profile_df = _audience_profile(spark, entity, profile, today, sizes, population, key)
        s.rows = stage_day(profile_df, "audience_profile").rows
    # 5. scenes
    scene_counts: dict[str, list[dict[str, Any]]] = {}
    scenes = entity.scenes or []
    with step(f"assigning {len(scenes)} scenes") as s:
        assignments = assign_scenes(spark, scenes, today, key)
        if assignments is None:
            assignments = spark.createDataFrame([], frame_schema("scene_assignments", key=key))
        scene_assignments = stage_day(assignments, "scene_assignments")
        counted = (delta.read_staged(scene_assignments)
                   .groupBy("scene", "branch", "group", "variant").agg(F.count("*").alias("users")))
        count_rows = counted.collect()
        scene_stats = spark.createDataFrame([r.asDict() for r in count_rows] or [],
                                            frame_schema("scene_stats", key=key))
        stage_day(scene_stats, "scene_stats")
        for r in count_rows:
            scene_counts.setdefault(r["scene"], []).append(r.asDict())
        s.rows = scene_assignments.rows
    for st in staged.values():
        staging.save_manifest(st, manifest_digest=manifest_digest)
    report = _guardrails(settings, entity, stats_rows, snapshot_date, run_id)
    for st in staged.values():
        staging.write_verdict(st, {**report.verdict(), "manifest_digest": manifest_digest})
    with step("recording guardrail results"):
        store.record(spark, settings, [report])
    if settings.quality.data_docs:
        with step("rendering Data Docs") as s:
            s.detail = str(store.render_docs(settings, [report]))
    log(report.message() if not report.passed or report.warnings else report.summary())
    summary = {"stats": stats_rows, "scenes": scene_counts, "population": population}
    return staged, summary, report


def membership(keyed: DataFrame, entity: Entity, snapshot_date: dt.date) -> DataFrame:
    """(audience, key) rows of every audience, from ONE query over the profile snapshot.

    ``keyed`` is the snapshot with the key as a string and the ``_ext`` array column (list and
    SQL memberships). It is registered as the temp view ``audience_input`` and the entity's
    compiled one-pass query (``entity.audiences_sql``, see :mod:`tagfactory.compiler.audience_pass`)
    runs over it with ``:snapshot_date`` bound, as the profile job runs ``entity.sql``: a single
    scan, whatever the number of audiences, in one Spark stage (the conditions packed into bit
    words, the non-zero words exploded and decoded by a broadcast join).

    Run it under :func:`one_pass_codegen`, which keeps the wide projection of the conditions out of
    whole-stage code generation (it runs as split, JIT-compilable methods) while the explode and
    decode steps stay whole-stage code-generated.
    """
    if entity.audiences_sql is None:
        raise AudienceError(f"the manifest holds no audience query for entity {entity.name}: "
                            "run `tagfactory compile` again")
    keyed.createOrReplaceTempView(INPUT_VIEW)
    return keyed.sparkSession.sql(entity.audiences_sql, args={"snapshot_date": snapshot_date})


@contextmanager
def one_pass_codegen(spark: SparkSession) -> Iterator[None]:
    """Run :func:`membership` with the code-generation settings it needs (restored after).

    Whole-stage code generation would fuse the condition projection (hundreds of conditions)
    into one method far above 8,000 bytes of bytecode, which HotSpot never JIT-compiles: it runs
    interpreted, many times slower. ``spark.sql.codegen.maxFields`` (``ONE_PASS_MAX_FIELDS``)
    below the snapshot's column count keeps that projection out of whole-stage code: it runs as
    per-expression generated code split into small, JIT-compiled methods, and the narrow
    explode/decode steps above it still form one whole-stage-generated stage, in the same task.
    ``spark.sql.codegen.hugeMethodLimit=8000`` covers a narrow snapshot (fewer columns than
    that) with many conditions: such a stage falls back to split methods as a whole.
    Measured by benchmarks/audiences_100.py (1M users x 96 tags, 100 audiences): ~40 s with
    Spark's defaults, ~10 s like this; the earlier hugeMethodLimit-only settings needed a
    shuffle to split the stages and compiled the whole stage once in vain on every run.
    """
    with delta.session_conf(spark, "spark.sql.codegen.maxFields", str(ONE_PASS_MAX_FIELDS)), \
            delta.session_conf(spark, "spark.sql.codegen.hugeMethodLimit", "8000"):
        yield


def _external(spark: SparkSession, settings: Settings, entity: Entity, audiences: Sequence[Audience],
              snapshot_date: dt.date, manifest_dir: Path) -> tuple[DataFrame | None, DataFrame | None]:
    """(key, audience) rows of every list and SQL audience (keys as strings), and of the lists alone."""
    key = entity.key
    lists: list[DataFrame] = []
    queries: list[DataFrame] = []
    schema = StructType([StructField(key, StringType()), StructField("audience", StringType())])
    sources = {s.name: s for s in entity.sources}
    needed = [sources[n] for a in audiences if a.kind == "sql" for n in a.sources or [] if n in sources]
    if needed:
        register_sources(spark, list({s.name: s for s in needed}.values()), settings)
    for a in audiences:
        if a.uploaded is not None:
            path = manifest_dir / a.uploaded.file
            if not path.exists():
                raise AudienceError(f"audience {a.name}: {path} is missing; run `tagfactory compile` again")
            ids = read_normalized(path)
            if UploadedList.digest_of(ids) != a.uploaded.sha256:
                raise AudienceError(f"audience {a.name}: {path} is not the list the manifest was compiled with "
                                    "(its SHA-256 differs); run `tagfactory compile` again")
            lists.append(spark.createDataFrame([(i, a.name) for i in ids], schema))
        elif a.sql is not None:
            rows = spark.sql(a.sql, args={"snapshot_date": snapshot_date})
            queries.append(rows.select(F.col(rows.columns[0]).cast("string").alias(key))
                           .where(F.col(key).isNotNull()).distinct().withColumn("audience", F.lit(a.name)))
    return _union(lists + queries), _union(lists)


def _union(parts: list[DataFrame]) -> DataFrame | None:
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def _list_unknown(lists: DataFrame | None, profile: DataFrame, key: str) -> dict[str, int]:
    """Identifiers of each list audience that are not in the profile snapshot."""
    if lists is None:
        return {}
    keys = profile.select(F.col(key).cast("string").alias(key))
    rows = lists.join(keys, key, "left_anti").groupBy("audience").count().collect()
    return {r["audience"]: int(r["count"]) for r in rows}


def _previous(spark: SparkSession, settings: Settings, tables: dict[str, str], snapshot_date: dt.date,
              key: str) -> tuple[dt.date | None, DataFrame | None, dict[str, int]]:
    """Latest earlier dt of the members table, its members, and the sizes in its stats."""
    if delta.table_version(tables["audience_stats"]) is None:
        return None, None, {}
    stats = open_store(settings, spark).read(tables["audience_stats"]) \
        .where(F.col("dt") < F.lit(snapshot_date))
    latest = stats.agg(F.max("dt")).collect()[0][0]
    if latest is None:
        return None, None, {}
    sizes = {r["audience"]: int(r["size"]) for r in stats.where(F.col("dt") == F.lit(latest)).collect()}
    members: DataFrame
    if delta.table_version(tables["audience_members"]) is None:
        members = spark.createDataFrame([], frame_schema("audience_members", key=key))
    else:
        members = open_store(settings, spark).read(tables["audience_members"]) \
            .where(F.col("dt") == F.lit(latest)).select("audience", key)
    return latest, members, sizes


# --- audience profile (TGI) --------------------------------------------------------------------------

def _audience_profile(spark: SparkSession, entity: Entity, profile: DataFrame, today: DataFrame,
                      sizes: dict[str, int], population: int, key: str) -> DataFrame:
    types = {t.name: t.type for t in entity.tags}
    wanted = {a.name: [t for t in a.profile_tags if t in types and types[t] != "array<string>"]
              for a in entity.audiences}
    tags = list(dict.fromkeys(t for ts in wanted.values() for t in ts))
    schema = frame_schema("audience_profile", key=key)
    if not tags:
        return spark.createDataFrame([], schema)
    labels = _labels(profile, tags, types)
    stacked = F.explode(F.array(*[F.struct(F.lit(t).alias("tag"), labels[t].alias("value")) for t in tags])).alias("p")
    pop = (profile.select(stacked).select("p.tag", "p.value").groupBy("tag", "value")
           .agg(F.count("*").alias("population_users")))
    pairs = spark.createDataFrame([(a, t) for a, ts in wanted.items() for t in ts], "audience string, tag string")
    keyed = profile.withColumn(key, F.col(key).cast("string"))
    aud = (today.join(keyed, key).select("audience", stacked).select("audience", "p.tag", "p.value")
           .join(F.broadcast(pairs), ["audience", "tag"])
           .groupBy("audience", "tag", "value").agg(F.count("*").alias("audience_users")))
    size_df = spark.createDataFrame([(a, n) for a, n in sizes.items()] or [], "audience string, size bigint")
    return (aud.join(F.broadcast(size_df), "audience").join(pop, ["tag", "value"], "left")
            .select("audience", "tag", "value", "audience_users",
                    (F.col("audience_users") / F.col("size")).alias("share_in_audience"),
                    F.col("population_users"),
                    (F.col("population_users") / F.lit(population)).alias("share_in_population"))
            .withColumn("tgi", F.col("share_in_audience") / F.col("share_in_population") * 100))


def _labels(profile: DataFrame, tags: list[str], types: dict[str, str]) -> dict[str, Any]:
    """Column expression of each profiled tag's value label (see docs/audiences.md)."""
    numeric = [t for t in tags if types[t] in ("integer", "double")]
    strings = [t for t in tags if types[t] == "string"]
    edges: dict[str, list[float]] = {}
    if numeric:
        row = profile.agg(*[F.expr(f"percentile(`{t}`, array({', '.join(map(str, QUINTILES))}))").alias(t)
                            for t in numeric]).collect()[0]
        for t in numeric:
            edges[t] = sorted({float(v) for v in (row[t] or []) if v is not None})
    top: dict[str, list[str]] = {}
    if strings:
        stacked = F.explode(F.array(*[F.struct(F.lit(t).alias("tag"), F.col(f"`{t}`").alias("value"))
                                      for t in strings])).alias("p")
        counts = (profile.select(stacked).select("p.tag", "p.value").where(F.col("value").isNotNull())
                  .groupBy("tag", "value").count().collect())
        for t in strings:
            ranked = sorted(((r["count"], r["value"]) for r in counts if r["tag"] == t), key=lambda x: (-x[0], x[1]))
            top[t] = [v for _, v in ranked[:TOP_STRING_VALUES]]
    out: dict[str, Any] = {}
    for t in tags:
        c = F.col(f"`{t}`")
        if t in edges:
            e = edges[t]
            if not e:
                label = F.lit(None).cast("string")
            else:
                label = F.when(c < F.lit(e[0]), F.lit(f"< {e[0]:g}"))
                for lo, hi in zip(e, e[1:], strict=False):
                    label = label.when(c < F.lit(hi), F.lit(f"[{lo:g}, {hi:g})"))
                label = label.otherwise(F.lit(f">= {e[-1]:g}"))
        elif t in top:
            label = F.when(c.isin(top[t]), c).otherwise(F.lit("(other)")) if top[t] else F.lit("(other)")
        elif types[t] == "boolean":
            label = F.when(c, F.lit("true")).otherwise(F.lit("false"))
        else:
            label = c.cast("string")
        out[t] = F.when(c.isNull(), F.lit("(null)")).otherwise(label)
    return out


# --- scenes --------------------------------------------------------------------------------------------

def _unit(salt: Any, part: Any, key: str) -> Any:
    """u(salt, part, k) in [0, 1): the first 15 hex digits of sha256("salt:part:k") / 16**15."""
    text = F.concat_ws(":", salt, part, F.col(key).cast("string"))
    return F.conv(F.substring(F.sha2(text, 256), 1, 15), 16, 10).cast("bigint").cast("double") / F.lit(TWO_POW_60)


def payload_json(payload: dict[str, Any] | None) -> str | None:
    """Canonical JSON of a payload (sorted keys), or None."""
    return None if payload is None else json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def assign_scenes(spark: SparkSession, scenes: Sequence[Scene], today: DataFrame, key: str) -> DataFrame | None:
    """Scene assignments (scene, key, branch, group, variant, payload) from (audience, key) members.

    ``scenes`` are plan entries (see docs/audiences.md#scenes for the rules and the hash).
    """
    if not scenes:
        return None
    used = sorted({b.audience for s in scenes for b in s.branches})
    held = today.where(F.col("audience").isin(used)).groupBy(key).agg(F.collect_set("audience").alias("auds"))
    picks = []
    for scene in scenes:
        branch = None
        for b in reversed(scene.branches):
            hit = F.array_contains("auds", b.audience)
            branch = F.when(hit, F.lit(b.name)) if branch is None else F.when(hit, F.lit(b.name)).otherwise(branch)
        assert branch is not None  # a scene has at least one branch (SceneSpec.branches)
        picks.append(F.struct(F.lit(scene.name).alias("scene"), branch.alias("branch")))
    rows = held.select(key, F.explode(F.array(*picks)).alias("a")).select(key, "a.scene", "a.branch") \
        .where(F.col("branch").isNotNull())
    config = []
    for scene in scenes:
        for b in scene.branches:
            variants = b.variants or []
            total = sum(float(v.weight) for v in variants)
            cums, acc = [], 0.0
            for v in variants:
                acc += float(v.weight)
                cums.append(acc / total)
            if cums:
                cums[-1] = 1.0
            base = b.payload
            payloads = [payload_json({**(base or {}), **(v.payload or {})})
                        if (base is not None or v.payload is not None) else None for v in variants]
            config.append((scene.name, b.name, str(scene.salt), float(scene.holdout), float(b.control),
                           [v.name for v in variants], cums, payloads, payload_json(base)))
    cfg = spark.createDataFrame(config, "scene string, branch string, salt string, holdout double, control double, "
                                "v_names array<string>, v_cums array<double>, v_payloads array<string>, "
                                "b_payload string")
    joined = rows.join(F.broadcast(cfg), ["scene", "branch"])
    h = _unit(F.col("salt"), F.lit("holdout"), key)
    s = _unit(F.col("salt"), F.concat(F.lit("split:"), F.col("branch")), key)
    joined = joined.withColumn("_h", h).withColumn("_s", s)
    group = (F.when(F.col("_h") < F.col("holdout"), F.lit("holdout"))
             .when(F.col("_s") < F.col("control"), F.lit("control")).otherwise(F.lit("treatment")))
    share = (F.col("_s") - F.col("control")) / (F.lit(1.0) - F.col("control"))
    position = F.array_position(F.transform("v_cums", lambda c: share < c), True)
    has_variants = F.size("v_names") > 0
    variant = F.when((F.col("group") == "treatment") & has_variants, F.element_at("v_names", position.cast("int")))
    payload = (F.when(F.col("group") != "treatment", F.lit(None).cast("string"))
               .when(has_variants, F.element_at("v_payloads", position.cast("int")))
               .otherwise(F.col("b_payload")))
    return (joined.withColumn("group", group).withColumn("variant", variant).withColumn("payload", payload)
            .select("scene", key, "branch", "group", "variant", "payload"))


# --- guardrails and commit -----------------------------------------------------------------------------

def _guardrails(settings: Settings, entity: Entity, stats_rows: list[dict[str, Any]], snapshot_date: dt.date,
                run_id: str) -> AuditReport:
    """Check each audience's guardrails against its stats row; a GX result like every other gate.

    The outcomes are computed here from the audience's stats row; GX only records them. The specs
    are ``internal`` (built here from validated audience names), so their ``row_condition`` naming
    the stats row passes the bridge, which refuses conditions from definitions.
    """
    started = time.perf_counter()
    by_name = {r["audience"]: r for r in stats_rows}
    outcomes: list[tuple[ExpectationSpec, bool, dict[str, Any]]] = []
    findings: list[tuple[str, Finding]] = []
    for a in entity.audiences:
        g = a.guardrails
        row = by_name[a.name]
        size = row["size"]
        severity = g.severity
        if g.min_size is not None or g.max_size is not None:
            spec = ExpectationSpec("expect_column_values_to_be_between",
                                   {"column": "size", "min_value": g.min_size, "max_value": g.max_size,
                                    **_row_of(a.name)},
                                   severity, name=f"{a.name}.size", meta={"audience": a.name}, internal=True)
            ok = (g.min_size is None or size >= g.min_size) and (g.max_size is None or size <= g.max_size)
            outcomes.append((spec, ok, {"observed_value": size, "element_count": 1, "unexpected_count": 0 if ok else 1,
                                        "unexpected_percent": 0.0 if ok else 100.0, "partial_unexpected_list": [] if ok else [size]}))
            if not ok:
                bound = (f"below min_size {g.min_size:,}" if g.min_size is not None and size < g.min_size
                         else f"above max_size {g.max_size:,}")
                findings.append((severity, Finding(spec.name, severity, f"audience `{a.name}`: {size:,} users, {bound}")))
        if g.max_change is not None and row["change"] is not None:
            spec = ExpectationSpec("expect_column_values_to_be_between",
                                   {"column": "change", "min_value": 0, "max_value": g.max_change, **_row_of(a.name)},
                                   severity, name=f"{a.name}.change", meta={"audience": a.name}, internal=True)
            ok = row["change"] <= g.max_change
            outcomes.append((spec, ok, {"observed_value": row["change"], "element_count": 1,
                                        "unexpected_count": 0 if ok else 1, "unexpected_percent": 0.0 if ok else 100.0,
                                        "partial_unexpected_list": [] if ok else [row["change"]]}))
            if not ok:
                findings.append((severity, Finding(spec.name, severity, (
                    f"audience `{a.name}`: {row['previous_size']:,} -> {size:,} users on {row['previous_dt']} -> "
                    f"{snapshot_date}, a change of {row['change']:.1%} > max_change {g.max_change:.0%}"))))
    dataset = entity.audience_tables["audience_members"]
    suite_name = f"audiences_{entity.name}"
    specs = [o[0] for o in outcomes]
    suite = build_suite(suite_name, specs)
    result = result_from_outcomes(suite, outcomes, run_name=run_id, batch_id=f"{dataset}__{snapshot_date}")
    rows = rows_from_result(result, run_id=run_id, dt=snapshot_date.isoformat(), dataset=dataset)
    report = AuditReport(dataset, snapshot_date.isoformat(), run_id, result, rows,
                         evaluated={"guardrails": len(outcomes)})
    for level, finding in findings:
        (report.errors if level == "error" else report.warnings).append(finding)
    report.seconds = time.perf_counter() - started
    return report


def _row_of(audience: str) -> dict[str, str]:
    """GX kwargs restricting an expectation to one audience's row of the stats table."""
    return {"row_condition": f'audience == "{audience}"', "condition_parser": "spark"}


def publish_overridden(spark: SparkSession, settings: Settings, entity: Entity, snapshot_date: dt.date,
                       run_id: str, reason: str, manifest_digest: str, actor: str | None = None) -> dict[str, int]:
    """Publish the audience tables of a run the guardrails quarantined: a recorded decision.

    The override (who, why, which guardrails failed) is a row of ``quality_results`` and part of
    every Delta commit's metadata.
    """
    tables = {k: settings.table_uri(v) for k, v in entity.audience_tables.items()}
    staged = {name: staging.load_staged(spark, uri, run_id, quarantined=True) for name, uri in tables.items()}
    for name, st in staged.items():
        check_run_digest(staging.staged_digest(st), manifest_digest, f"run {run_id} of {name}")
    verdict = staging.read_verdict(staged["audience_members"]) or {}
    if verdict.get("dt") not in (None, snapshot_date.isoformat()):
        raise AudienceError(f"run {run_id} materialized the audiences of {verdict.get('dt')}, not {snapshot_date}")
    metadata = store.record_override(
        spark, settings, run_id=run_id, dataset=entity.audience_tables["audience_members"],
        snapshot_date=snapshot_date.isoformat(), reason=reason, actor=actor, overridden=verdict.get("errors", []))
    return _commit_all(staged, snapshot_date, run_id, open_store(settings, spark),
                       {**metadata, "manifest_digest": manifest_digest})


def _commit_all(staged: dict[str, StagedWrite], snapshot_date: dt.date, run_id: str, tables: TableStore,
                extra: dict[str, str] | None = None) -> dict[str, int]:
    """Commit every staged table; members last, so a reader of members sees a complete day."""
    versions: dict[str, int] = {}
    order = ["audience_changes", "audience_stats", "audience_profile", "scene_assignments", "scene_stats",
             "audience_members"]
    for name in order:
        st = staged[name]
        with step(f"publishing {name}") as s:
            versions[name] = tables.commit(st, commit_metadata={"run_id": run_id, "job_name": "materialize_audiences",
                                                                "snapshot_date": snapshot_date.isoformat(),
                                                                **(extra or {})},
                                           empty_partition={"dt": snapshot_date.isoformat()})
            s.detail = f"version {versions[name]}, {st.rows:,} rows"
    return versions


def describe(summary: dict[str, Any]) -> str:
    """Human summary: audience sizes and day-over-day changes, scene counts."""
    width = max([28, *(len(r["audience"]) for r in summary.get("stats", []))])
    lines = [f"{'audience':<{width}} {'kind':<5} {'size':>9} {'prev':>9} {'+added':>8} {'-removed':>9} {'change':>7}"]
    for r in summary.get("stats", []):
        prev = "-" if r["previous_size"] is None else f"{r['previous_size']:,}"
        change = "-" if r["change"] is None else f"{r['change']:.1%}"
        lines.append(f"{r['audience']:<{width}} {r['kind']:<5} {r['size']:>9,} {prev:>9} {r['added']:>8,} "
                     f"{r['removed']:>9,} {change:>7}")
    for scene, counts in sorted(summary.get("scenes", {}).items()):
        total = sum(c["users"] for c in counts)
        lines.append(f"scene {scene}: {total:,} users assigned")
        for c in sorted(counts, key=lambda c: (c["branch"], c["group"], c["variant"] or "")):
            variant = f" variant {c['variant']}" if c["variant"] else ""
            lines.append(f"  {c['branch']:<20} {c['group']:<9}{variant:<12} {c['users']:>9,}")
    return "\n".join(lines)

