"""Suites generated from the compiled manifest are valid Great Expectations suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.manifest import Entity
from tagfactory.compiler.project import load_project
from tagfactory.compiler.quality import DriftSpec, TagQuality
from tagfactory.quality.gx_bridge import build_suite
from tagfactory.quality.psi import PSI_TYPE
from tagfactory.quality.suites import Reference, profile_specs, source_specs, tag_specs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def entity() -> Entity:
    project, _ = load_project(REPO / "tag_definitions")
    return build_manifest(project, REPO / "tag_definitions").entities[0]


def test_profile_suite_builds_and_covers_generated_checks(entity: Entity) -> None:
    specs = profile_specs(entity)
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    assert {"user_id.not_null", "user_id.unique", "table.not_empty"} <= set(names)
    enums = [t.name for t in entity.tags if t.type == "enum"]
    booleans = [t.name for t in entity.tags if t.type == "boolean"]
    assert {f"{t}.in_allowed_values" for t in enums} <= set(names)
    assert {f"{t}.boolean" for t in booleans} <= set(names)
    suite = build_suite("profile_user", specs)  # GX validates every expectation's kwargs
    assert len(suite.expectations) == len(specs)


def test_previous_snapshot_checks(entity: Entity) -> None:
    quality = TagQuality(max_coverage_drop=0.1, drift=DriftSpec(psi_max=0.2, severity="error"))
    tag = entity.tags[0].model_copy(update={"name": "x", "type": "integer", "values": None, "quality": quality})
    ref = Reference("2026-11-23", 1000, coverage={"x": 0.9}, distributions={"x": {"b0": 0.5, "b1": 0.5}},
                    edges={"x": [0.0, 10.0]})
    by_name = {s.name: s for s in tag_specs(tag, ref)}
    assert by_name["x.coverage_drop"].kwargs == {"column": "x", "mostly": 0.8}
    drift = by_name["x.drift"]
    assert drift.type == PSI_TYPE and drift.severity == "error" and drift.kwargs["threshold"] == 0.2
    assert tag_specs(tag, None) == []  # nothing to compare with on the first snapshot

    specs = {s.name: s for s in profile_specs(entity, ref)}
    change = specs["table.row_count_change"]
    assert change.kwargs == {"min_value": 700, "max_value": 1300}
    build_suite("profile_user", list(specs.values()))


def test_source_suites(entity: Entity) -> None:
    for source in entity.sources:
        specs = source_specs(source)
        names = {s.name for s in specs}
        assert f"{source.name}.{source.entity_key}.not_null" in names
        assert (f"{source.name}.fresh_partition" in names) == bool(source.partition_column)
        build_suite(f"sources.{source.name}", specs)
