"""One selection per export and date: read, suppress, treat PII, fingerprint, stage (docs/exports.md).

The rows of an export for snapshot date D are read from the published tables of D, each pinned
at the Delta version of its newest commit of D (recorded in the receipt and the drop manifest),
joined to the profile (tag columns, tag suppression) and the entity's dimension source (contact
columns), suppressed, PII-treated (hashing in Spark, see :mod:`tagfactory.exports.hashing`) and
staged once as Parquet. Every destination ships that staged copy.

The selection plan (reads, joins, suppression, hashing) runs **once**: one Spark job writes the
delivered rows to a hidden temporary folder (``dt=<D>/_tmp.content.<uuid>``) while an observation
on the same job counts the rows per suppression reason and sums the fingerprint; the folder is
then renamed to ``dt=<D>/content=<content id>`` (or dropped, when that content is already staged).
A crash before the rename leaves only the hidden folder, which no destination reads and the next
selection of the export and date removes.

The **content id** is the SHA-256 of the compiled export (its digest) and an order-independent
fingerprint of the delivered rows (count and two 64-bit hash sums): a re-run of D that changes
nothing gets the same id and is a no-op at every destination, even when the audience job
re-committed identical rows of D under a new table version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
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
TMP_PREFIX = "_tmp."  # hidden (Hadoop and Spark readers skip names starting with `_`), removed by the next run
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
        rows, reasons = _suppress(rows, read, entity, export)
        treated = rows.select(*_treated(entity, export), REASON)
        if export.what.kind in ("members", "tag_slice"):
            treated = treated.dropDuplicates([c.name for c in export.columns] + [REASON])
        date_uri = settings.table_uri(f"{STAGING}/{export.name}/dt={snapshot_date.isoformat()}")
        temp, counts, fingerprint = _stage(spark, treated, reasons, date_uri)
        content_id = _content_id(export, fingerprint)
        uri = staging_uri(settings, export.name, snapshot_date, content_id)
        _move(spark, temp, uri)
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


def _suppress(rows: DataFrame, read: Reader, entity: Entity, export: Export) -> tuple[DataFrame, list[str]]:
    """``rows`` with the first suppression reason that applies to each (null: delivered), and the reasons."""
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
    return rows.withColumn(REASON, expr), list(dict.fromkeys(r for _, r in reasons))


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


def _stage(spark: SparkSession, treated: DataFrame, reasons: list[str],
           date_uri: str) -> tuple[str, dict[str | None, int], tuple[int, int, int]]:
    """Write the delivered rows of ``treated`` to a new hidden folder of ``date_uri`` in one Spark job.

    The same job observes the rows per suppression reason (None: delivered) and the fingerprint
    of the delivered rows: count and two sums of 64-bit hashes over the delivered columns (the
    definition of the content id; it must not change, or every re-run would deliver again).
    Earlier hidden folders (a crashed run) are removed first.

    Returns:
        The hidden folder, the counts by reason and the fingerprint.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    from tagfactory.exports.hadoopfs import DropFs

    fs = DropFs(spark, date_uri)
    for entry in fs.list(date_uri):
        if entry.name.startswith(TMP_PREFIX):
            fs.delete(entry.uri)
    temp = f"{date_uri}/{TMP_PREFIX}content.{uuid.uuid4().hex}"
    cols = [F.col(f"`{c}`") for c in treated.columns if c != REASON]
    kept = F.col(REASON).isNull()
    metrics = [F.count_if(kept).alias("n"),
               F.sum(F.when(kept, F.xxhash64(*cols).cast("decimal(38,0)"))).alias("h1"),
               F.sum(F.when(kept, F.xxhash64(F.lit("tagfactory"), *cols).cast("decimal(38,0)"))).alias("h2")]
    metrics += [F.count_if(F.col(REASON) == F.lit(r)).alias(f"r{i}") for i, r in enumerate(reasons)]
    observation = Observation()
    delivered = treated.observe(observation, *metrics).where(kept).drop(REASON)
    try:
        delivered.write.parquet(temp)
        got = observation.get
    except Exception as exc:  # py4j: name the export's staging folder
        fs.delete(temp)
        raise ExportError(f"staging the selection at {temp} failed: {str(exc).splitlines()[0][:300]}") from None
    n = int(got["n"])
    written = sum(fs.parquet_rows(e.uri) for e in fs.list(temp) if e.name.endswith(".parquet") and not e.is_dir)
    if written != n:  # the observation and the files must describe the same rows
        fs.delete(temp)
        raise ExportError(f"staging the selection at {temp}: {written:,} rows written, {n:,} observed")
    counts: dict[str | None, int] = {r: int(got[f"r{i}"]) for i, r in enumerate(reasons) if got[f"r{i}"]}
    if n:
        counts[None] = n
    fingerprint = (n, int(got["h1"]), int(got["h2"])) if n else (0, 0, 0)
    return temp, counts, fingerprint


def _content_id(export: Export, fingerprint: tuple[int, int, int]) -> str:
    body = json.dumps({"export": export.digest, "rows": list(fingerprint)}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def _move(spark: SparkSession, temp: str, uri: str) -> None:
    """Put the hidden staged folder ``temp`` in place as ``uri``; an existing complete copy is kept."""
    from tagfactory.exports.hadoopfs import DropFs

    fs = DropFs(spark, uri)
    if fs.exists(f"{uri}/_SUCCESS"):  # the same content staged before: the new copy is not needed
        fs.delete(temp)
        return
    fs.delete(uri)  # an incomplete copy, written in place by an earlier version
    fs.rename(temp, uri)
