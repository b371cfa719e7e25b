"""Schemas: registry specs (:mod:`tagfactory.contracts.tables`) rendered for the runtime, and the
conversions between Spark, Arrow and Delta schemas the writers use.

* :func:`ddl` -- the column list (``` `a` bigint, `b` string ```), what ``createDataFrame`` takes;
  :func:`create_table_ddl` -- a ``CREATE TABLE ... USING delta PARTITIONED BY`` statement;
* :func:`struct_type` -- a ``pyspark`` StructType (no JVM needed);
* :func:`arrow_schema` -- a pyarrow schema, as staging produces it (all fields nullable).

``pyspark`` is imported only inside the functions that return Spark objects.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tagfactory.contracts.tables import Column, Kind, TableSpec, table_spec

if TYPE_CHECKING:
    from deltalake import Schema as DeltaSchema
    from pyspark.sql.types import DataType, StructType

_ARRAY = re.compile(r"^array<(.+)>$")


def quoted(name: str) -> str:
    """A Spark SQL identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


def _columns(spec: TableSpec, data_only: bool, storage: bool) -> list[Column]:
    columns = spec.data_columns() if data_only else spec.columns
    return [c.model_copy(update={"nullable": True}) for c in columns] if storage else list(columns)


def ddl(spec: TableSpec, *, data_only: bool = False) -> str:
    """Spark DDL column list of ``spec`` (``data_only``: without the partition columns).

    NOT NULL is not rendered: it is an audited rule, not a storage constraint.
    """
    return ", ".join(f"{quoted(c.name)} {c.type}" for c in _columns(spec, data_only, storage=True))


def create_table_ddl(spec: TableSpec) -> str:
    """``CREATE TABLE`` statement of ``spec`` as a Delta table (documentation, catalogs, tests)."""
    parts = f" PARTITIONED BY ({', '.join(quoted(p) for p in spec.partition_by)})" if spec.partition_by else ""
    comment = spec.description.replace("\\", "\\\\").replace("'", "\\'")
    return f"CREATE TABLE {quoted(spec.name)} ({ddl(spec)}) USING delta{parts} COMMENT '{comment}'"


def spark_type(text: str) -> DataType:
    """The pyspark type of a registry type string (``bigint``, ``array<string>`` ...)."""
    from pyspark.sql import types as T

    simple: dict[str, DataType] = {
        "string": T.StringType(), "bigint": T.LongType(), "int": T.IntegerType(), "double": T.DoubleType(),
        "float": T.FloatType(), "boolean": T.BooleanType(), "date": T.DateType(), "timestamp": T.TimestampType()}
    if text in simple:
        return simple[text]
    array = _ARRAY.match(text)
    if array:
        return T.ArrayType(spark_type(array.group(1)), True)
    raise ValueError(f"unsupported registry type {text!r}")


def struct_type(spec: TableSpec, *, data_only: bool = False, storage: bool = False) -> StructType:
    """``spec`` as a pyspark StructType.

    Args:
        spec: The table.
        data_only: Leave out the partition columns (a job staging one known partition).
        storage: Every field nullable, as the Delta table stores it; otherwise the spec's
            nullability (what ``createDataFrame`` then verifies).
    """
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(c.name, spark_type(c.type), c.nullable)
                       for c in _columns(spec, data_only, storage)])


def frame_schema(kind: Kind, *, key: str = "user_id", storage: bool = True) -> StructType:
    """StructType of the DataFrame a job stages into one partition of a ``kind`` table (no partition
    columns; ``key`` is the entity key column). ``storage=False`` keeps the spec's NOT NULL fields,
    which ``createDataFrame`` then verifies."""
    return struct_type(table_spec(kind, "_", key=key), data_only=True, storage=storage)


def arrow_schema(spec: TableSpec, *, data_only: bool = False) -> pa.Schema:
    """``spec`` as a pyarrow schema, exactly as :func:`tagfactory.lakehouse.stage.stage` records it."""
    return arrow_from_spark(struct_type(spec, data_only=data_only, storage=True))


# ---------------------------------------------------------------------------- schema conversions


def arrow_from_spark(spark_schema: StructType) -> pa.Schema:
    """Arrow schema of a Spark schema (timestamps in UTC), every field nullable."""
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(spark_schema, timezone="UTC")
    return pa.schema([f.with_nullable(True) for f in arrow])


def spark_from_delta(delta_schema: DeltaSchema) -> StructType:
    """Spark schema of a Delta schema; exact, since Delta's schema JSON is Spark's StructType JSON."""
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(delta_schema.to_json()))


def delta_json(schema: Any) -> dict[str, Any]:
    """Delta schema JSON (``{"type": "struct", "fields": [...]}``) of an Arrow schema."""
    from deltalake import Schema as DeltaSchema

    return dict(json.loads(DeltaSchema.from_arrow(schema).to_json()))
