"""Concepts the compiler writes once: the definition sections, the Spark types, the cycle search,
the point-in-time cut."""

from __future__ import annotations

import dataclasses

from tagfactory.compiler.graph import find_cycles
from tagfactory.compiler.models import (
    COLUMN_TYPES,
    SECTION,
    SECTIONS,
    TOP_LEVEL_KEYS,
    DefinitionFile,
    SourceSpec,
)
from tagfactory.compiler.parse import ParsedDefinitions
from tagfactory.compiler.pointintime import point_in_time
from tagfactory.compiler.sqlbuild import to_sql
from tagfactory.compiler.types import NUMERIC_TYPES, SPARK_TYPES


def test_every_section_is_a_top_level_key_a_file_field_and_a_parsed_list() -> None:
    keys = [s.key for s in SECTIONS]
    assert keys == ["entities", "sources", "tags", "audiences", "scenes", "exports", "goals"]
    assert TOP_LEVEL_KEYS == tuple(keys) and list(SECTION) == keys
    assert list(DefinitionFile.model_fields) == keys
    parsed_fields = {f.name for f in dataclasses.fields(ParsedDefinitions)}
    assert set(keys) <= parsed_fields, "each section needs its typed list in ParsedDefinitions"
    parsed = ParsedDefinitions()
    for key in keys:
        assert parsed.section(key) is getattr(parsed, key)
    assert [s.singular for s in SECTIONS] == ["entity", "source", "tag", "audience", "scene", "export", "goal"]


def test_every_column_type_has_one_spark_type() -> None:
    assert set(SPARK_TYPES) == set(COLUMN_TYPES)
    assert set(NUMERIC_TYPES) <= set(COLUMN_TYPES)


def test_cycle_search_reports_each_cycle_once_from_its_smallest_name() -> None:
    graph = {"c": ["a"], "a": ["b"], "b": ["c", "d"], "d": [], "e": ["e"], "f": ["d", "missing"]}
    search = find_cycles(graph)
    assert search.cycles == [["a", "b", "c"], ["e"]]
    assert search.in_cycle == {"a", "b", "c", "e"}
    assert search.order == ["c", "d", "b", "a", "e", "f"]  # depth-first post-order: references first
    assert find_cycles({}).cycles == []


def test_point_in_time_cut_follows_the_time_column_type() -> None:
    def source(time_type: str) -> SourceSpec:
        return SourceSpec(name="orders", kind="fact", entity="user", entity_key="user_id", time_column="t",
                          partition_column="dt", path="x", columns={"user_id": "string", "t": time_type, "dt": "date"})

    assert to_sql(point_in_time(source("timestamp")), pretty=False) == (
        "SELECT * FROM `orders` WHERE `t` < CAST(DATE_ADD(:snapshot_date, 1) AS TIMESTAMP) AND `dt` <= :snapshot_date")
    assert to_sql(point_in_time(source("date")), pretty=False) == (
        "SELECT * FROM `orders` WHERE `t` < DATE_ADD(:snapshot_date, 1) AND `dt` <= :snapshot_date")
