"""Register the plan's declared sources as Spark temp views, read with their declared schemas."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession

from tagfactory.settings import Settings


class SourceError(RuntimeError):
    """A declared source cannot be read."""


def source_ddl(source: dict[str, Any]) -> str:
    """Spark DDL schema string of a declared source (columns quoted)."""
    return ", ".join(f"`{c['name']}` {c['spark_type']}" for c in source["columns"])


def read_source(spark: SparkSession, source: dict[str, Any], settings: Settings) -> DataFrame:
    """Read one declared source with its declared schema.

    Parquet sources are read with partition discovery (``dt=YYYY-MM-DD`` folders) and the
    declared types; Delta sources through the table's current version.
    """
    uri = settings.source_uri(source["path"])
    if source["format"] == "delta":
        from tagfactory.lakehouse.store import open_store

        return open_store(settings, spark).read(uri)
    try:
        return spark.read.schema(source_ddl(source)).option("basePath", uri).parquet(uri)
    except Exception as exc:  # py4j / analysis errors: give the user the source and path
        first = str(exc).strip().splitlines()[0][:300]
        raise SourceError(f"source `{source['name']}`: cannot read {source['format']} data at {uri}: {first}. "
                          "Check `sources_root` in the settings and the source's `path`.") from None


def register_sources(spark: SparkSession, sources: list[dict[str, Any]], settings: Settings) -> dict[str, str]:
    """Create one temp view per source (named as declared); return {name: uri}."""
    uris: dict[str, str] = {}
    for source in sources:
        read_source(spark, source, settings).createOrReplaceTempView(source["name"])
        uris[source["name"]] = settings.source_uri(source["path"])
    return uris
