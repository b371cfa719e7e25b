"""Audience profiles (人群画像): each audience's tag-value distribution vs the population, with TGI.

See "Audience profile" in docs/audiences.md for the value labels and the formulas.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tagfactory.compiler.manifest import Entity
from tagfactory.lakehouse.schemas import frame_schema

TOP_STRING_VALUES = 20
QUINTILES = [0.2, 0.4, 0.6, 0.8]


def audience_profile(spark: SparkSession, entity: Entity, profile: DataFrame, today: DataFrame,
                     sizes: dict[str, int], population: int, key: str) -> DataFrame:
    """The ``audience_profile`` rows of every audience's ``profile_tags`` (array tags are skipped)."""
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

