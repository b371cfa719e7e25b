"""Who is in which audience on a date: the list and SQL memberships and the one compiled pass.

List and SQL audiences are evaluated first (:func:`external`) and joined to the profile
snapshot as one per-key array, ``_ext`` (:func:`keyed_input`); the entity's compiled one-pass
query then evaluates every audience's condition over that input (:func:`membership`, run under
:func:`one_pass_codegen`). See docs/audiences.md#how-the-one-pass-runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from tagfactory.audiences.errors import AudienceError
from tagfactory.audiences.lists import read_normalized
from tagfactory.compiler.audience_pass import INPUT_VIEW
from tagfactory.compiler.manifest import Audience, Entity, UploadedList
from tagfactory.lakehouse import delta
from tagfactory.lakehouse.store import TableStore
from tagfactory.pipeline.sources import register_sources
from tagfactory.settings import Settings

EXT = "_ext"
# spark.sql.codegen.maxFields under one_pass_codegen: fewer than a snapshot's columns, more than the
# decode steps' (key, word, value, names, audience)
ONE_PASS_MAX_FIELDS = 8


def external(spark: SparkSession, settings: Settings, tables: TableStore, entity: Entity,
             audiences: Sequence[Audience], snapshot_date: dt.date, manifest_dir: Path
             ) -> tuple[DataFrame | None, DataFrame | None]:
    """(key, audience) rows of every list and SQL audience (keys as strings), and of the lists alone."""
    key = entity.key
    lists: list[DataFrame] = []
    queries: list[DataFrame] = []
    schema = StructType([StructField(key, StringType()), StructField("audience", StringType())])
    sources = {s.name: s for s in entity.sources}
    needed = [sources[n] for a in audiences if a.kind == "sql" for n in a.sources or [] if n in sources]
    if needed:
        register_sources(spark, list({s.name: s for s in needed}.values()), settings, tables=tables)
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


def keyed_input(profile: DataFrame, key: str, ext: DataFrame | None) -> DataFrame:
    """The one pass's input: the snapshot with the key as a string and the ``_ext`` array column
    (the list and SQL audiences of each key; null when there are none)."""
    keyed = profile.withColumn(key, F.col(key).cast("string"))
    if ext is not None:
        grouped = ext.groupBy(key).agg(F.collect_set("audience").alias(EXT))
        return keyed.join(grouped, key, "left")
    return keyed.withColumn(EXT, F.lit(None).cast("array<string>"))


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
    See docs/audiences.md#design-notes for what these settings were measured against.
    """
    with delta.session_conf(spark, "spark.sql.codegen.maxFields", str(ONE_PASS_MAX_FIELDS)), \
            delta.session_conf(spark, "spark.sql.codegen.hugeMethodLimit", "8000"):
        yield
