"""One selection per export and date: read, suppress, treat PII, fingerprint, stage (docs/exports.md).

The rows of an export for snapshot date D are read from the published tables of D, each pinned
at the Delta version of its newest commit of D (recorded in the receipt and the drop manifest),
joined to the profile (tag columns, tag suppression) and the entity's dimension source (contact
columns), suppressed, PII-treated (hashing in Spark, see :mod:`tagfactory.exports.hashing`) and
staged once as Parquet. Every destination ships that staged copy.

The **content id** is the SHA-256 of the compiled export (its digest) and an order-independent
fingerprint of the delivered rows (count and two 64-bit hash sums): a re-run of D that changes
nothing gets the same id and is a no-op at every destination, even when the audience job
re-committed identical rows of D under a new table version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING

from tagfactory.compiler.manifest import Entity, Export, Manifest
from tagfactory.errors import ExportError
from tagfactory.exports.contracts import ExportedColumn, Selection
from tagfactory.progress import step

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import Column, DataFrame, SparkSession

    from tagfactory.lakehouse.store import TableStore
    from tagfactory.settings import Settings

    Reader = Callable[[str], DataFrame]  # a table name -> its rows of D at the pinned version

REASON = "_suppressed_by"
STAGING = "_exports"
_ROWS_TABLE = {"members": "audience_members", "changes": "audience_changes", "scenes": "scene_assignments",
               "tag_slice": "audience_members"}


def pinned_version(tables: TableStore, uri: str, snapshot_date: dt.date) -> int:
    """Version of the newest commit of ``uri`` that published ``snapshot_date``.

    Raises:
        ExportError: no commit of the table published that date.
    """
    wanted = snapshot_date.isoformat()
    for info in tables.history(uri):  # newest first; either writer's commit metadata is merged in
        if info.get("snapshot_date") == wanted and info.get("version") is not None:
            return int(info["version"])
    raise ExportError(f"{uri}: no published snapshot of {wanted}; run the build and the audiences for that date "
                      "first (tagfactory build / tagfactory audiences)")


def staging_uri(settings: Settings, export: str, snapshot_date: dt.date, content_id: str) -> str:
    """Where the selection of one export, date and content is staged."""
    return settings.table_uri(f"{STAGING}/{export}/dt={snapshot_date.isoformat()}/content={content_id}")


def select(spark: SparkSession, tables: TableStore, settings: Settings, manifest: Manifest, export: Export,
           snapshot_date: dt.date, *, lineage_run_id: str | None = None) -> Selection:
    """Select, suppress, treat and stage the rows of ``export`` for ``snapshot_date``."""
    from pyspark.sql import functions as F

    entity = manifest.entity(export.entity)
    versions: dict[str, int] = {}
    frames: dict[str, DataFrame] = {}

    def read(table: str) -> DataFrame:
        """The rows of D of ``table`` at its pinned version (pinned and opened once per table)."""
        if table not in frames:
            uri = settings.table_uri(table)
            versions[table] = pinned_version(tables, uri, snapshot_date)
            frames[table] = tables.read(uri, version=versions[table]).where(F.col("dt") == F.lit(snapshot_date))
        return frames[table]

    with step(f"selecting export {export.name} for {snapshot_date}") as s:
        rows = _rows(read, entity, export)
        rows = _join_profile(rows, read, entity, export)
        rows = _join_dimension(spark, rows, settings, tables, entity, export)
        rows = _suppress(rows, read, entity, export)
        treated = rows.select(*_treated(entity, export), REASON)
        if export.what.kind in ("members", "tag_slice"):
            treated = treated.dropDuplicates([c.name for c in export.columns] + [REASON])
        counts, fingerprint = _count(treated)
        content_id = _content_id(export, fingerprint)
        uri = staging_uri(settings, export.name, snapshot_date, content_id)
        delivered = treated.where(F.col(REASON).isNull()).drop(REASON)
        _stage(spark, delivered, uri)
        suppressed = {k: v for k, v in counts.items() if k is not None}
        selected = sum(counts.values())
        s.detail = (f"{selected:,} rows, {sum(suppressed.values()):,} suppressed, content {content_id[:12]}")
    return Selection(
        export=export.name, entity=export.entity, snapshot_date=snapshot_date, content_id=content_id,
        staged_uri=uri, columns=tuple(ExportedColumn(c.name, c.type, c.treatment, c.description)
                                      for c in export.columns),
        source_versions=versions, manifest_digest=manifest.digest, rows_selected=selected,
        rows_suppressed={str(k): v for k, v in suppressed.items()}, hash_profiles=tuple(export.hash_profiles),
        lineage_run_id=lineage_run_id)


def _rows(read: Reader, entity: Entity, export: Export) -> DataFrame:
    from pyspark.sql import functions as F

    what = export.what
    df = read(entity.audience_tables[_ROWS_TABLE[what.kind]])
    if what.kind == "scenes":
        return df.where(F.col("scene").isin(*(what.scenes or [])))
    df = df.where(F.col("audience").isin(*(what.audiences or [])))
    if what.kind == "changes":
        df = df.where(F.col("change").isin(*what.changes))
    return df


def _join_profile(rows: DataFrame, read: Reader, entity: Entity, export: Export) -> DataFrame:
    from pyspark.sql import functions as F

    if not export.tags:
        return rows
    profile = read(entity.profile_table)
    wanted = [F.col(entity.key).cast("string").alias(entity.key)] + [F.col(t).alias(f"tag.{t}") for t in export.tags]
    return rows.join(profile.select(*wanted), on=entity.key, how="left")


def _join_dimension(spark: SparkSession, rows: DataFrame, settings: Settings, tables: TableStore,
                    entity: Entity, export: Export) -> DataFrame:
    from pyspark.sql import functions as F

    from tagfactory.pipeline.sources import read_source

    refs = list(dict.fromkeys(c.ref for c in export.columns if c.origin == "source"))
    if not refs:
        return rows
    source = next(s for s in entity.sources if s.name == entity.population_source)
    dim = read_source(spark, source, settings, tables=tables)
    wanted = [F.col(entity.key).cast("string").alias(entity.key)] + [F.col(r.split(".", 1)[1]).alias(r) for r in refs]
    return rows.join(dim.select(*wanted).dropDuplicates([entity.key]), on=entity.key, how="left")


def _suppress(rows: DataFrame, read: Reader, entity: Entity, export: Export) -> DataFrame:
    """``rows`` with the first suppression reason that applies to each (null: delivered)."""
    from pyspark.sql import functions as F

    reasons: list[tuple[Column, str]] = []
    if export.suppression.audiences:
        members = read(entity.audience_tables["audience_members"])
        for i, audience in enumerate(export.suppression.audiences):
            flag = f"_suppress_{i}"
            keys = members.where(F.col("audience") == audience).select(entity.key).distinct() \
                .withColumn(flag, F.lit(True))
            rows = rows.join(keys, on=entity.key, how="left")
            reasons.append((F.col(flag).isNotNull(), f"audience:{audience}"))
    for cond in export.suppression.tags:
        reasons.append((_condition(F.col(f"`tag.{cond.tag}`"), cond.op, cond.value), f"tag:{cond.tag} {cond.op}"
                        + ("" if cond.value is None else f" {json.dumps(cond.value)}")))
    expr = F.lit(None).cast("string")
    for test, reason in reversed(reasons):
        expr = F.when(test, F.lit(reason)).otherwise(expr)
    return rows.withColumn(REASON, expr)


def _condition(col: Column, op: str, value: object) -> Column:
    from pyspark.sql import functions as F

    if op == "=":
        return F.coalesce(col == F.lit(value), F.lit(False))
    if op == "!=":
        return F.coalesce(col != F.lit(value), F.lit(False))
    if op == "in":
        return F.coalesce(col.isin(*value), F.lit(False))  # type: ignore[misc]
    if op == "not_in":
        return F.coalesce(~col.isin(*value), F.lit(False))  # type: ignore[misc]
    if op == "is_null":
        return col.isNull()
    if op == "is_not_null":
        return col.isNotNull()
    if op == "is_true":
        return F.coalesce(col, F.lit(False))
    return F.coalesce(~col, F.lit(False))  # is_false


def _treated(entity: Entity, export: Export) -> list[Column]:
    """The delivered columns: read, PII-treated, named as the export says."""
    from pyspark.sql import functions as F

    from tagfactory.exports.hashing import treat

    out: list[Column] = []
    for c in export.columns:
        name = entity.key if c.ref == "key" else c.ref if c.origin == "builtin" else \
            f"tag.{c.ref}" if c.origin == "tag" else c.ref
        src = F.col(f"`{name}`")
        value = treat(src, c.treatment, c.normalize or "other") if c.treatment and c.treatment != "keep" else src
        out.append(value.alias(c.name))
    return out


def _count(treated: DataFrame) -> tuple[dict[str | None, int], tuple[int, int, int]]:
    """Rows per suppression reason (None: delivered) and the fingerprint of the delivered rows."""
    from pyspark.sql import functions as F

    cols = [F.col(f"`{c}`") for c in treated.columns if c != REASON]
    h1 = F.xxhash64(*cols)
    h2 = F.xxhash64(F.lit("tagfactory"), *cols)
    agg = treated.groupBy(REASON).agg(F.count(F.lit(1)).alias("n"), F.sum(h1.cast("decimal(38,0)")).alias("h1"),
                                      F.sum(h2.cast("decimal(38,0)")).alias("h2")).collect()
    counts = {r[REASON]: int(r["n"]) for r in agg}
    kept = next((r for r in agg if r[REASON] is None), None)
    fingerprint = (0, 0, 0) if kept is None else (int(kept["n"]), int(kept["h1"]), int(kept["h2"]))
    return counts, fingerprint


def _content_id(export: Export, fingerprint: tuple[int, int, int]) -> str:
    body = json.dumps({"export": export.digest, "rows": list(fingerprint)}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _stage(spark: SparkSession, delivered: DataFrame, uri: str) -> None:
    """Write the staged copy once: an existing complete copy (Spark's ``_SUCCESS``) is reused."""
    from tagfactory.exports.hadoopfs import DropFs

    if DropFs(spark, uri).exists(f"{uri}/_SUCCESS"):
        return
    try:
        delivered.write.mode("overwrite").parquet(uri)
    except Exception as exc:  # py4j: name the export's staging folder
        raise ExportError(f"staging the selection at {uri} failed: {str(exc).splitlines()[0][:300]}") from None
