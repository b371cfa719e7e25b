"""Scene assignment: each member's branch, group (holdout / control / treatment), variant and payload.

The rules and the hash are in docs/audiences.md#scenes; ``u(salt, part, k)`` is :func:`_unit`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tagfactory.compiler.manifest import Scene
from tagfactory.lakehouse.schemas import frame_schema

TWO_POW_60 = float(16**15)


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


def count_assignments(spark: SparkSession, assigned: DataFrame,
                      key: str) -> tuple[DataFrame, dict[str, list[dict[str, Any]]]]:
    """The ``scene_stats`` rows (users per scene, branch, group and variant) and the same counts by scene."""
    counted = assigned.groupBy("scene", "branch", "group", "variant").agg(F.count("*").alias("users"))
    count_rows = counted.collect()
    scene_stats = spark.createDataFrame([r.asDict() for r in count_rows] or [], frame_schema("scene_stats", key=key))
    scene_counts: dict[str, list[dict[str, Any]]] = {}
    for r in count_rows:
        scene_counts.setdefault(r["scene"], []).append(r.asDict())
    return scene_stats, scene_counts
