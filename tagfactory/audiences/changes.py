"""Day-over-day: the latest earlier snapshot of the audience tables and who entered or exited since."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from tagfactory.lakehouse.schemas import frame_schema
from tagfactory.lakehouse.store import TableStore


def previous(spark: SparkSession, tables: TableStore, uris: dict[str, str], snapshot_date: dt.date,
             key: str) -> tuple[dt.date | None, DataFrame | None, dict[str, int]]:
    """Latest earlier dt of the members table, its members, and the sizes in its stats."""
    if tables.version(uris["audience_stats"]) is None:
        return None, None, {}
    stats = tables.read(uris["audience_stats"]).where(F.col("dt") < F.lit(snapshot_date))
    latest = stats.agg(F.max("dt")).collect()[0][0]
    if latest is None:
        return None, None, {}
    sizes = {r["audience"]: int(r["size"]) for r in stats.where(F.col("dt") == F.lit(latest)).collect()}
    members: DataFrame
    if tables.version(uris["audience_members"]) is None:
        members = spark.createDataFrame([], frame_schema("audience_members", key=key))
    else:
        members = tables.read(uris["audience_members"]).where(F.col("dt") == F.lit(latest)).select("audience", key)
    return latest, members, sizes


def changes(today: DataFrame, previous_members: DataFrame | None, names: list[str], key: str) -> DataFrame:
    """(audience, key, change) rows: ``entered`` (member today, not before) or ``exited`` (the reverse).

    Only the audiences of ``names`` are compared; without a previous snapshot everybody entered.
    """
    if previous_members is None:
        return today.select("audience", key, F.lit("entered").alias("change"))
    prev = previous_members.where(F.col("audience").isin(names))
    return (today.withColumn("_t", F.lit(True))
            .join(prev.withColumn("_p", F.lit(True)), ["audience", key], "full_outer")
            .where(F.col("_t").isNull() | F.col("_p").isNull())
            .select("audience", key, F.when(F.col("_t"), "entered").otherwise("exited").alias("change")))
