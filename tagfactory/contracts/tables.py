"""The table registry: every warehouse table's name, columns, partitioning, producer and owner.

One place for what the jobs write (docs/audiences.md, docs/quality.md describe the contents):

* per entity ``e``: ``profile_<e>`` (one row per key and date; its tag columns come from the
  definitions), ``tag_stats_<e>``, the six audience and scene tables and the four effect-analysis
  tables (their specs: :mod:`tagfactory.contracts.effect_tables`);
* project-wide: ``quality_results``, ``export_receipts`` and ``export_consumption`` (the
  service registry's log of observed consumption, appended with delta-rs; not partitioned).

Column types are Spark SQL types (``bigint``, ``array<string>`` ...). ``nullable=False`` records a
data rule the audit relies on; the Delta tables themselves store every column as nullable (see
:mod:`tagfactory.lakehouse.delta`), so the stored schema is :meth:`TableSpec.storage_columns`.

Only pydantic and the standard library are imported here (the compiler lists these specs in its
artifact); :mod:`tagfactory.lakehouse.schemas` renders them as Spark DDL, StructType and Arrow.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["profile", "tag_stats", "audience_members", "audience_changes", "audience_stats",
               "audience_profile", "scene_assignments", "scene_stats", "quality_results", "export_receipts",
               "export_consumption", "effect_exposures", "effect_stats", "effect_results", "effect_health"]
Producer = Literal["build_profile", "publish_profile", "materialize_audiences", "quality_gate", "export",
                   "analyze_effects", "export_registry"]

AUDIENCE_KINDS: tuple[Kind, ...] = ("audience_members", "audience_stats", "audience_changes", "audience_profile",
                                    "scene_assignments", "scene_stats")
#: the effect-analysis tables (tagfactory/contracts/effect_tables.py), written by jobs/analyze_effects.py
EFFECT_KINDS: tuple[Kind, ...] = ("effect_exposures", "effect_stats", "effect_results", "effect_health")
ENTITY_KINDS: tuple[Kind, ...] = ("profile", "tag_stats", *AUDIENCE_KINDS, *EFFECT_KINDS)
RESULTS_TABLE = "quality_results"
RECEIPTS_TABLE = "export_receipts"
CONSUMPTION_TABLE = "export_consumption"
OWNER = "data-platform"
_TYPE = re.compile(r"^(string|bigint|int|double|float|boolean|date|timestamp|array<[a-z<>]+>)$")


class Column(BaseModel):
    """One column of a table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str = Field(description="Spark SQL type, lower case: string, bigint, double, date, array<string> ...")
    nullable: bool = Field(default=True, description="False: the job never writes null here (an audited rule)")
    description: str = ""

    @model_validator(mode="after")
    def _known_type(self) -> Column:
        if not _TYPE.match(self.type):
            raise ValueError(f"column {self.name!r}: unsupported type {self.type!r}")
        return self


class TableSpec(BaseModel):
    """What one warehouse table is: its name, columns in order, partitioning, who writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Kind
    description: str
    columns: list[Column]
    partition_by: list[str] = Field(default_factory=lambda: ["dt"])
    produced_by: Producer = Field(description="the job step that writes the table")
    maintained: bool = Field(default=True, description="compacted and vacuumed by the maintain_tables step")
    owner: str = OWNER
    columns_from_definitions: bool = Field(
        default=False, description="True: the listed columns are the fixed ones; the tag definitions add the rest "
                           "(before the partition columns), so the table schema evolves with them")

    @model_validator(mode="after")
    def _consistent(self) -> TableSpec:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names {names}")
        missing = [p for p in self.partition_by if p not in names]
        if missing:
            raise ValueError(f"table {self.name}: partition columns {missing} are not columns")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def data_columns(self) -> list[Column]:
        """The columns without the partition columns (what a job's DataFrame holds when staged into
        one known partition)."""
        return [c for c in self.columns if c.name not in self.partition_by]

    def storage_columns(self) -> list[Column]:
        """The columns as the Delta table stores them: all nullable."""
        return [c.model_copy(update={"nullable": True}) for c in self.columns]

    def with_columns(self, extra: list[Column]) -> TableSpec:
        """This spec with ``extra`` columns before the partition columns (a profile's tag columns)."""
        data = [c for c in self.columns if c.name not in self.partition_by]
        partitions = [c for c in self.columns if c.name in self.partition_by]
        return self.model_copy(update={"columns": [*data, *extra, *partitions]})


def _c(name: str, type_: str, description: str = "", *, nullable: bool = True) -> Column:
    return Column(name=name, type=type_, nullable=nullable, description=description)


column = _c  # the same helper for tagfactory/contracts/effect_tables.py


_DT = _c("dt", "date", "snapshot date (partition)", nullable=False)


def table_name(kind: Kind, entity: str | None = None) -> str:
    """Name of a table: ``<kind>_<entity>`` for entity tables (``profile_user``), ``quality_results``."""
    if kind == "quality_results":
        return RESULTS_TABLE
    if kind == "export_receipts":
        return RECEIPTS_TABLE
    if kind == "export_consumption":
        return CONSUMPTION_TABLE
    if entity is None:
        raise ValueError(f"the {kind} table belongs to an entity; pass its name")
    return f"{kind}_{entity}"


def table_spec(kind: Kind, entity: str | None = None, *, key: str = "user_id", key_type: str = "string") -> TableSpec:
    """The spec of one table; ``key``/``key_type`` (Spark SQL type) are the entity's key column.

    The audience and scene tables hold the key as a string whatever its type in the profile.
    """
    name = table_name(kind, entity)
    if kind in EFFECT_KINDS:
        # effect_tables builds on this module's models: imported here, not at the top
        from tagfactory.contracts.effect_tables import effect_table_spec

        return effect_table_spec(kind, name, key=key)
    key_col = _c(key, "string", f"the entity key ({key}) as a string", nullable=False)
    spec: dict[str, object]
    if kind == "profile":
        spec = {"description": f"One row per {entity} and snapshot date: every built tag as a column.",
                "produced_by": "build_profile", "columns_from_definitions": True,
                "columns": [_c(key, key_type, "the entity key", nullable=False), _DT]}
    elif kind == "tag_stats":
        spec = {"description": f"Per-tag statistics of each {entity} snapshot: coverage, nulls, ranges, top values.",
                "produced_by": "publish_profile", "columns": [
                    _c("tag", "string", "tag name", nullable=False),
                    _c("value_type", "string", "tag type", nullable=False),
                    _c("category", "string", "tag category"),
                    _c("rows", "bigint", "rows in the snapshot", nullable=False),
                    _c("non_null", "bigint", "rows with a value", nullable=False),
                    _c("null_count", "bigint", "rows without a value", nullable=False),
                    _c("coverage", "double", "non_null / rows", nullable=False),
                    _c("approx_distinct", "bigint", "approximate distinct values (HLL++, 2%)"),
                    _c("min_value", "string", "smallest value, as a string"),
                    _c("max_value", "string", "largest value, as a string"),
                    _c("mean", "double", "mean of numeric and boolean tags, mean length of arrays"),
                    _c("top_values", "string", "JSON [[value, count], ...] of categorical tags"),
                    _c("histogram", "string", "JSON decile bins of drift-checked numeric tags"),
                    _DT]}
    elif kind == "audience_members":
        spec = {"description": f"Members of every audience of {entity} per snapshot date.",
                "produced_by": "materialize_audiences",
                "columns": [_c("audience", "string", "audience name", nullable=False), key_col, _DT]}
    elif kind == "audience_changes":
        spec = {"description": "Keys that entered or exited each audience since the previous snapshot.",
                "produced_by": "materialize_audiences",
                "columns": [_c("audience", "string", "audience name", nullable=False), key_col,
                            _c("change", "string", "entered | exited", nullable=False), _DT]}
    elif kind == "audience_stats":
        spec = {"description": "Size of each audience per snapshot date, and its change since the previous one.",
                "produced_by": "materialize_audiences", "columns": [
                    _c("audience", "string", "audience name", nullable=False),
                    _c("kind", "string", "rule | list | sql", nullable=False),
                    _c("size", "bigint", "members", nullable=False),
                    _c("previous_dt", "date", "the previous snapshot date compared with"),
                    _c("previous_size", "bigint", "members at previous_dt"),
                    _c("added", "bigint", "keys that entered"),
                    _c("removed", "bigint", "keys that exited"),
                    _c("change", "double", "|size - previous_size| / previous_size"),
                    _c("list_unknown", "bigint", "list audiences: identifiers not in the profile"),
                    _DT]}
    elif kind == "audience_profile":
        spec = {"description": "Audience profiles: share of each tag value in the audience vs the population (TGI).",
                "produced_by": "materialize_audiences", "columns": [
                    _c("audience", "string", "audience name", nullable=False),
                    _c("tag", "string", "profiled tag", nullable=False),
                    _c("value", "string", "value label (enum value, quintile, top string)"),
                    _c("audience_users", "bigint", "members with this value"),
                    _c("share_in_audience", "double", "audience_users / audience size"),
                    _c("population_users", "bigint", "keys of the snapshot with this value"),
                    _c("share_in_population", "double", "population_users / population"),
                    _c("tgi", "double", "share_in_audience / share_in_population * 100"),
                    _DT]}
    elif kind == "scene_assignments":
        spec = {"description": "Branch, experiment group and variant of every key held by a scene.",
                "produced_by": "materialize_audiences", "columns": [
                    _c("scene", "string", "scene name", nullable=False), key_col,
                    _c("branch", "string", "the scene branch the key falls into", nullable=False),
                    _c("group", "string", "treatment | control | holdout"),
                    _c("variant", "string", "experiment variant"),
                    _c("payload", "string", "the branch's payload (JSON)"), _DT]}
    elif kind == "scene_stats":
        spec = {"description": "Keys per scene, branch, group and variant per snapshot date.",
                "produced_by": "materialize_audiences", "columns": [
                    _c("scene", "string", "scene name", nullable=False),
                    _c("branch", "string", "scene branch"), _c("group", "string", "experiment group"),
                    _c("variant", "string", "experiment variant"), _c("users", "bigint", "keys assigned"), _DT]}
    elif kind == "quality_results":
        spec = {"description": "One row per expectation of every audit (and per gate override), appended run by run.",
                "produced_by": "quality_gate", "columns": [
                    _c("run_id", "string", "the audited run"), _c("dataset", "string", "audited table or source"),
                    _c("suite", "string", "expectation suite"), _c("expectation", "string", "expectation name"),
                    _c("expectation_type", "string", "Great Expectations type"),
                    _c("column", "string", "checked column"), _c("severity", "string", "error | warn"),
                    _c("success", "boolean", "passed"), _c("observed_value", "string", "JSON"),
                    _c("unexpected_count", "bigint"), _c("unexpected_percent", "double"),
                    _c("element_count", "bigint"), _c("details", "string", "JSON"),
                    _c("recorded_at", "timestamp", "when the row was written (UTC)"),
                    _c("dt", "date", "snapshot date audited (partition)")]}
    elif kind == "export_receipts":
        spec = {"description": "One row per export, destination and delivery attempt: what was selected, "
                               "suppressed and delivered, where, with checksums (appended).",
                "produced_by": "export", "columns": [
                    _c("export", "string", "export name", nullable=False),
                    _c("destination", "string", "destination name", nullable=False),
                    _c("kind", "string", "files | hive | kafka | excel", nullable=False),
                    _c("content_id", "string", "digest of the source table versions and the compiled export",
                       nullable=False),
                    _c("supersedes", "string", "content id of the earlier delivery of this date it replaces"),
                    _c("status", "string", "delivered | unchanged | failed", nullable=False),
                    _c("rows_selected", "bigint", "rows the selection read", nullable=False),
                    _c("rows_suppressed", "bigint", "rows removed by suppression", nullable=False),
                    _c("suppressed_by", "string", "JSON {reason: rows}"),
                    _c("rows_expected", "bigint", "rows_selected - rows_suppressed", nullable=False),
                    _c("rows_delivered", "bigint", "rows the destination holds, read back", nullable=False),
                    _c("files", "bigint", "files delivered"), _c("bytes", "bigint", "bytes delivered"),
                    _c("checksums", "string", "JSON {file: sha256}"),
                    _c("location", "string", "where the delivery is (folder, table, topic)"),
                    _c("hash_profiles", "string", "hashing profiles applied (comma separated)"),
                    _c("source_versions", "string", "JSON {table: Delta version} read by the selection"),
                    _c("manifest_digest", "string", "digest of the compiled definitions"),
                    _c("run_id", "string", "the export run"),
                    _c("error", "string", "why a delivery failed"),
                    _c("started_at", "timestamp", "delivery start (UTC)"),
                    _c("finished_at", "timestamp", "delivery end (UTC)"),
                    _c("dt", "date", "snapshot date exported (partition)", nullable=False)]}
    elif kind == "export_consumption":
        spec = {"description": "One row per observed consumption of an export: an acknowledged drop or workbook, "
                               "or a Kafka consumer group caught up on its topic (appended, not partitioned).",
                "produced_by": "export_registry", "partition_by": [], "columns": [
                    _c("export", "string", "export name", nullable=False),
                    _c("destination", "string", "destination name", nullable=False),
                    _c("kind", "string", "files | excel | kafka", nullable=False),
                    _c("how", "string", "ack | kafka", nullable=False),
                    _c("consumer", "string", "who consumed (the ack's consumer, the Kafka group)", nullable=False),
                    _c("consumed_at", "timestamp", "the ack's time, or when a caught-up group was observed (UTC)",
                       nullable=False),
                    _c("dt", "date", "snapshot date acknowledged (none for a topic)"),
                    _c("rows", "bigint", "rows loaded (ack) or messages consumed since the last observation"),
                    _c("detail", "string", "JSON: committed and end offsets and lag (Kafka), the ack's facts"),
                    _c("recorded_at", "timestamp", "when the row was written (UTC)", nullable=False)]}
    else:  # pragma: no cover - Kind is closed
        raise ValueError(f"unknown table kind {kind!r}")
    return TableSpec(name=name, kind=kind, **spec)  # type: ignore[arg-type]


def entity_tables(entity: str, *, key: str = "user_id", key_type: str = "string") -> list[TableSpec]:
    """The tables of one entity: profile, tag statistics, the six audience and scene tables, the four
    effect-analysis tables."""
    return [table_spec(kind, entity, key=key, key_type=key_type) for kind in ENTITY_KINDS]


def project_tables() -> list[TableSpec]:
    """Project-wide tables (not per entity)."""
    return [table_spec("quality_results"), table_spec("export_receipts"), table_spec("export_consumption")]
