"""Data-impact preview for ``tagfactory plan --preview``.

Runs the base and the head definitions of the changed tags (plus the tags they need, and the
unchanged tags downstream of them) on sample data with Spark, and reports per tag, before vs
after: coverage, null rate, distinct values and distribution, and for how many entities the value
differs. Nothing is written: the results stay in Spark memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tagfactory.compiler.assemble import source_manifest
from tagfactory.compiler.compile import compile_entity
from tagfactory.compiler.diff import PlanDiff
from tagfactory.compiler.resolve import Project
from tagfactory.pipeline.sources import register_sources
from tagfactory.progress import step
from tagfactory.settings import Settings

if TYPE_CHECKING:
    from tagfactory.lakehouse.store import TableStore

NUMERIC = ("integer", "double")
TOP_N = 5
MAX_TAGS = 60


def preview_tags(diff: PlanDiff) -> list[str]:
    """Tags whose values may change: changed tags first, then unchanged tags downstream of them."""
    names = [c.name for c in diff.tags if c.values_change]
    names += [t for t in diff.affected if t not in names]
    return names[:MAX_TAGS]


def restrict(project: Project, wanted: list[str]) -> Project:
    """The project cut down to the built ``wanted`` tags and everything they depend on."""
    keep: set[str] = set()
    stack = [n for n in wanted if n in project.layer]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        stack += [r for r in project.tag_refs.get(name, []) if r in project.layer]
    return dataclasses.replace(
        project,
        tags={n: t for n, t in project.tags.items() if n in keep},
        order=[n for n in project.order if n in keep],
        layer={n: d for n, d in project.layer.items() if n in keep},
    )


def run_preview(spark: SparkSession, settings: Settings, base: Project, head: Project, diff: PlanDiff,
                snapshot_date: dt.date, sample: str, *, tables: TableStore) -> dict[str, Any]:
    """Compute both sides on the sample and summarise them; see the module docstring.

    ``tables`` is the command's store; it reads the sample's Delta sources (nothing is written).
    """
    started = time.perf_counter()
    wanted = preview_tags(diff)
    renamed = {c.name: c.renamed_from for c in diff.tags if c.renamed_from}
    base_names = [renamed.get(n, n) for n in wanted]
    sides: dict[str, dict[str, DataFrame]] = {}
    rows = 0
    for label, project, names in (("base", base, base_names), ("head", head, wanted)):
        with step(f"preview: computing {label} definitions") as s:
            frames = _compute(spark, settings, restrict(project, names), snapshot_date, tables)
            sides[label] = frames
            rows = max(rows, *(int(f.count()) for f in frames.values())) if frames else rows
            s.rows = rows
    result: dict[str, Any] = {"snapshot_date": snapshot_date.isoformat(), "sample": sample, "rows": rows,
                              "tags": {}}
    with step("preview: summarising") as s:
        for name, base_name in zip(wanted, base_names, strict=True):
            head_tag = head.tags[name].model if name in head.layer else None
            base_tag = base.tags[base_name].model if base_name in base.layer else None
            head_df = sides["head"].get(head_tag.entity) if head_tag else None
            base_df = sides["base"].get(base_tag.entity) if base_tag else None
            item: dict[str, Any] = {
                "change": next((c.change for c in diff.tags if c.name == name), "downstream"),
                "base": _summary(base_df, base_name, base_tag.type) if base_tag and base_df is not None else None,
                "head": _summary(head_df, name, head_tag.type) if head_tag and head_df is not None else None,
                "changed": None, "compared": None,
            }
            if head_tag and base_tag and head_df is not None and base_df is not None and head_tag.entity == base_tag.entity:
                item["changed"], item["compared"] = _changed(base_df, head_df, base_name, name,
                                                             head.entities[head_tag.entity].model.key)
            result["tags"][name] = item
        s.detail = f"{len(wanted)} tags"
    for frames in sides.values():
        for frame in frames.values():
            frame.unpersist()
    result["seconds"] = time.perf_counter() - started
    return result


def _compute(spark: SparkSession, settings: Settings, project: Project, snapshot_date: dt.date,
             tables: TableStore) -> dict[str, DataFrame]:
    """Run the restricted project's fused query per entity; cached DataFrames by entity."""
    frames: dict[str, DataFrame] = {}
    for entity in project.entities:
        if not any(t.model.entity == entity for t in project.tags.values()):
            continue
        compiled = compile_entity(project, entity)
        sources = [source_manifest(project.sources[s].model) for s in compiled.sources]
        register_sources(spark, sources, settings, tables=tables)
        frame = spark.sql(compiled.sql, args={"snapshot_date": snapshot_date}).cache()
        frame.count()  # materialise now: the next side re-registers the source views
        frames[entity] = frame
    return frames


def _summary(frame: DataFrame, column: str, value_type: str) -> dict[str, Any]:
    c = F.col(f"`{column}`")
    aggs = [F.count(F.lit(1)).alias("rows"), F.count(c).alias("non_null"),
            F.count_distinct(c).alias("distinct")]
    if value_type in NUMERIC:
        aggs += [F.min(c).alias("min"), F.max(c).alias("max"), F.avg(c.cast("double")).alias("mean"),
                 F.percentile_approx(c, [0.25, 0.5, 0.75], 1000).alias("q")]
    row = frame.agg(*aggs).collect()[0]
    rows, non_null = int(row["rows"]), int(row["non_null"])
    out: dict[str, Any] = {
        "type": value_type, "rows": rows, "coverage": non_null / rows if rows else None,
        "null_rate": (rows - non_null) / rows if rows else None, "distinct": int(row["distinct"]),
    }
    if value_type in NUMERIC:
        q = row["q"] or [None, None, None]
        out["quantiles"] = {"min": row["min"], "p25": q[0], "p50": q[1], "p75": q[2], "max": row["max"],
                            "mean": row["mean"]}
    else:
        values = F.explode(c) if value_type == "array<string>" else c
        top = (frame.select(values.cast("string").alias("v")).where(F.col("v").isNotNull())
               .groupBy("v").count().orderBy(F.col("count").desc(), F.col("v")).limit(TOP_N).collect())
        out["top"] = [{"value": r["v"], "count": int(r["count"]), "share": int(r["count"]) / rows if rows else 0.0}
                      for r in top]
    return out


def _changed(base: DataFrame, head: DataFrame, base_col: str, head_col: str, key: str) -> tuple[int, int]:
    """Entities whose value differs (null-safe), and entities compared (present on both sides)."""
    b = base.select(F.col(f"`{key}`").alias("k"), F.col(f"`{base_col}`").alias("b"))
    h = head.select(F.col(f"`{key}`").alias("k"), F.col(f"`{head_col}`").alias("h"))
    joined = b.join(h, "k")
    row = joined.agg(F.count(F.lit(1)).alias("n"),
                     F.sum(F.when(~F.col("b").eqNullSafe(F.col("h")), 1).otherwise(0)).alias("d")).collect()[0]
    return int(row["d"] or 0), int(row["n"])

