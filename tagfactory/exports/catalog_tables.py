"""The lakehouse's own Delta tables, registered in the Hive metastore for analysts (docs/exports.md).

Every table of the registry (the manifest's ``tables`` and each entity's ``tables``: profile, tag
statistics, audiences, scenes, quality results, export receipts) becomes
``<database>.<table>``, an external Delta table at its warehouse location
(``CREATE TABLE IF NOT EXISTS … USING DELTA LOCATION '…'``). The metastore holds only the name and
the location: Delta's log stays the truth for schema and versions, so a new tag column or a new
snapshot needs no metastore change, and ``SELECT … FROM tagfactory.profile_user`` through the Spark
Thrift server reads the newest version (``VERSION AS OF`` works too).

Idempotent: a table registered at its location is left alone, one registered elsewhere (the
warehouse moved) is dropped and registered again (dropping an external table deletes no data), and
a table not written yet (no ``_delta_log``) is skipped until a later run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from tagfactory.errors import ExportError
from tagfactory.lakehouse.paths import HadoopFs, TableLocation

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tagfactory.compiler.manifest import Manifest
    from tagfactory.contracts.tables import TableSpec
    from tagfactory.settings import Settings

Outcome = Literal["registered", "unchanged", "relocated", "missing"]


def lakehouse_tables(manifest: Manifest) -> list[TableSpec]:
    """Every table the manifest's jobs write, entity tables first, each name once."""
    seen: dict[str, TableSpec] = {}
    for spec in [t for e in manifest.entities for t in e.tables] + list(manifest.tables):
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def register_lakehouse_tables(spark: SparkSession, manifest: Manifest, settings: Settings,
                              database: str = "tagfactory") -> dict[str, Outcome]:
    """Register the lakehouse's Delta tables as ``database.<table>``; returns what happened to each.

    ``spark`` must be on the Hive metastore with Delta Lake's catalog (the Thrift server reads the
    registrations with the same jars).

    Raises:
        ExportError: no Hive catalog, or the metastore refused a statement.
    """
    if spark.conf.get("spark.sql.catalogImplementation", "in-memory") != "hive":
        raise ExportError("registering the lakehouse tables needs a Spark session on the Hive metastore: "
                          "set `hive.metastore_uri` in the settings")
    external: Any = spark._jsparkSession.sessionState().catalog().externalCatalog()  # type: ignore[attr-defined]
    _sql(spark, f"CREATE DATABASE IF NOT EXISTS `{database}` COMMENT "
                "'the lakehouse tables of tagfactory (Delta: schema and versions are in each Delta log)'")
    outcomes: dict[str, Outcome] = {}
    fs: HadoopFs | None = None
    for spec in lakehouse_tables(manifest):
        location = TableLocation.parse(settings.table_uri(spec.name)).spark_uri
        fs = fs or HadoopFs(spark, location)
        if not fs.exists(f"{location}/_delta_log"):
            outcomes[spec.name] = "missing"
            continue
        name = f"`{database}`.`{spec.name}`"
        outcome: Outcome = "registered"
        if external.tableExists(database, spec.name):
            current = external.getTable(database, spec.name).location()
            if fs.qualify(str(current.toString())) == fs.qualify(location):
                outcomes[spec.name] = "unchanged"
                continue
            _sql(spark, f"DROP TABLE IF EXISTS {name}")
            outcome = "relocated"
        _sql(spark, f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{_escape(location)}'")
        outcomes[spec.name] = outcome
    return outcomes


def _sql(spark: SparkSession, statement: str) -> None:
    try:
        spark.sql(statement)
    except Exception as exc:  # py4j / AnalysisException: one readable line
        text = str(exc).strip().splitlines()
        raise ExportError(f"metastore: {statement[:200]} failed: {(text[0] if text else repr(exc))[:300]}") from None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
