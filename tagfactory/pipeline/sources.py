"""Register the manifest's declared sources as Spark temp views, read with their declared schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession

from tagfactory import errors
from tagfactory.compiler.manifest import Source
from tagfactory.settings import Settings

if TYPE_CHECKING:
    from tagfactory.lakehouse.store import TableStore


class SourceError(errors.SourceError, RuntimeError):
    """A declared source cannot be read."""


def source_ddl(source: Source) -> str:
    """Spark DDL schema string of a declared source (columns quoted)."""
    return ", ".join(f"`{c.name}` {c.spark_type}" for c in source.columns)


def read_source(spark: SparkSession, source: Source, settings: Settings, *, tables: TableStore) -> DataFrame:
    """Read one declared source with its declared schema.

    Parquet sources are read with partition discovery (``dt=YYYY-MM-DD`` folders) and the
    declared types; Delta sources through the table's current version, read by the job's store
    (``tables``).
    """
    uri = settings.source_uri(source.path)
    if source.format == "delta":
        return tables.read(uri)
    try:
        return spark.read.schema(source_ddl(source)).option("basePath", uri).parquet(uri)
    except Exception as exc:  # py4j / analysis errors: give the user the source and path
        first = str(exc).strip().splitlines()[0][:300]
        raise SourceError(f"source `{source.name}`: cannot read {source.format} data at {uri}: {first}. "
                          "Check `sources_root` in the settings and the source's `path`.") from None


def register_sources(spark: SparkSession, sources: Sequence[Source], settings: Settings, *,
                     tables: TableStore) -> dict[str, str]:
    """Create one temp view per source (named as declared); return {name: uri}.

    ``tables`` is the job's store (it reads the Delta sources).
    """
    uris: dict[str, str] = {}
    for source in sources:
        read_source(spark, source, settings, tables=tables).createOrReplaceTempView(source.name)
        uris[source.name] = settings.source_uri(source.path)
    return uris
