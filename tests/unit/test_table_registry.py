"""The table registry (tagfactory.contracts.tables): unique names, sane partitioning, DDL Spark parses."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlglot
from sqlglot import exp

from tagfactory.contracts.tables import (
    ENTITY_KINDS,
    Column,
    TableSpec,
    entity_tables,
    project_tables,
    table_spec,
)
from tagfactory.lakehouse.schemas import arrow_schema, create_table_ddl, ddl, struct_type

ENTITIES = ("user", "store")


def _all() -> list[TableSpec]:
    return [s for e in ENTITIES for s in entity_tables(e, key=f"{e}_id")] + project_tables()


def test_every_table_has_a_unique_name_and_its_partition_columns_among_its_columns() -> None:
    specs = _all()
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    assert len(entity_tables("user")) == len(ENTITY_KINDS) == 12
    for spec in specs:
        assert set(spec.partition_by) <= set(spec.column_names), spec.name
        assert spec.partition_by or spec.name == "export_consumption", spec.name  # the one appended log
        assert len(set(spec.column_names)) == len(spec.column_names), spec.name
        assert spec.description and spec.owner and spec.produced_by
    assert [s.name for s in entity_tables("user")] == [
        "profile_user", "tag_stats_user", "audience_members_user", "audience_stats_user", "audience_changes_user",
        "audience_profile_user", "scene_assignments_user", "scene_stats_user", "effect_exposures_user",
        "effect_stats_user", "effect_results_user", "effect_health_user"]
    assert {s.produced_by for s in entity_tables("user")[-4:]} == {"analyze_effects"}
    assert all(s.partition_by == ["dt"] and s.maintained for s in entity_tables("user")[-4:])
    assert [s.name for s in project_tables()] == ["quality_results", "export_receipts", "export_consumption"]
    assert [s.name for s in specs if s.columns_from_definitions] == ["profile_user", "profile_store"]


@pytest.mark.parametrize("spec", _all(), ids=lambda s: s.name)
def test_rendered_ddl_parses_as_spark_with_the_spec_columns(spec: TableSpec) -> None:
    tree = sqlglot.parse_one(create_table_ddl(spec), read="spark")
    assert isinstance(tree, exp.Create)
    schema = tree.this
    assert isinstance(schema, exp.Schema)
    columns = [c for c in schema.expressions if isinstance(c, exp.ColumnDef)]
    assert [c.name for c in columns] == spec.column_names
    assert [c.args["kind"].sql(dialect="spark").lower() for c in columns] == [c.type for c in spec.columns]
    partitioned = tree.find(exp.PartitionedByProperty)
    assert ([c.name for c in partitioned.this.expressions] if partitioned else []) == spec.partition_by
    assert ddl(spec).count(",") == len(spec.columns) - 1


@pytest.mark.parametrize("spec", _all(), ids=lambda s: s.name)
def test_struct_type_and_arrow_schema_follow_the_spec(spec: TableSpec) -> None:
    struct = struct_type(spec)
    assert struct.fieldNames() == spec.column_names
    assert [f.nullable for f in struct.fields] == [c.nullable for c in spec.columns]
    assert all(f.nullable for f in struct_type(spec, storage=True).fields)
    assert struct_type(spec, data_only=True).fieldNames() == [n for n in spec.column_names
                                                              if n not in spec.partition_by]
    arrow = arrow_schema(spec)
    assert arrow.names == spec.column_names and all(f.nullable for f in arrow)


def test_profile_spec_takes_the_tag_columns_before_the_partition() -> None:
    spec = table_spec("profile", "user", key="user_id", key_type="bigint")
    full = spec.with_columns([Column(name="orders_30d", type="bigint"), Column(name="tags", type="array<string>")])
    assert full.column_names == ["user_id", "orders_30d", "tags", "dt"]
    assert "`tags` array<string>" in ddl(full)


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="partition columns"):
        TableSpec(name="t", kind="scene_stats", description="d", produced_by="materialize_audiences",
                  columns=[Column(name="a", type="string")], partition_by=["dt"])
    with pytest.raises(ValueError, match="unsupported type"):
        Column(name="a", type="varchar(3)")
    with pytest.raises(ValueError, match="entity"):
        table_spec("profile")


def test_contracts_import_only_pydantic_and_the_standard_library() -> None:
    code = ("import sys; import tagfactory.contracts; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'deltalake', 'pyarrow', 'sqlglot')"
            " or m.startswith('tagfactory.') and not m.startswith('tagfactory.contracts')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
