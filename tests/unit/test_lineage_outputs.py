"""The jobs' outputs carry the compiler's column lineage, and the export select step, table
maintenance and the gate overrides emit their runs (issue 18), all valid OpenLineage.

Built through the helpers the jobs call (pipeline/lineage_refs.py, exports/lineage.py,
pipeline/maintenance.py) with fakes where Spark would run, checked with tests/lineage_schema.py
(the event and every facet against the vendored schemas, ColumnLineageDatasetFacet included).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tagfactory.compiler.manifest import Manifest
from tagfactory.exports.contracts import Delivery, ExportedColumn, Selection
from tagfactory.exports.lineage import select_with_lineage, ship_with_lineage
from tagfactory.lineage import FACET_NAME, LineageEmitter, dataset_for_uri
from tagfactory.pipeline import lineage_refs as refs
from tagfactory.pipeline.maintenance import MaintenanceResult, maintain_with_lineage
from tagfactory.pipeline.runtime import job_lineage
from tests.lineage_schema import validate_events_file

REPO = Path(__file__).resolve().parents[2]
DATE = dt.date(2026, 11, 24)
PARENT = "default/tag_factory_daily.exports/01890f3e-0000-7000-8000-000000000001"
ROOT = "default/tag_factory_daily/01890f3e-0000-7000-8000-000000000000"


@pytest.fixture(scope="module")
def manifest(lineage_manifest: Manifest) -> Manifest:
    return lineage_manifest


@pytest.fixture
def settings(lineage_settings: Any) -> Any:
    return lineage_settings


def _emitter(path: Path) -> LineageEmitter:
    return job_lineage(LineageEmitter.from_config(True, None, path), "4.2.0", PARENT, ROOT)


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _selection(manifest: Manifest, export_name: str) -> Selection:
    export = manifest.export(export_name)
    entity = manifest.entity(export.entity)
    return Selection(export.name, entity.name, DATE, "c0ffee", "/tmp/x/content=c0ffee",
                     tuple(ExportedColumn(c.name, c.type) for c in export.columns),
                     {entity.profile_table: 3, entity.audience_tables["audience_members"]: 1},
                     manifest.digest, 5, {})


def test_the_profile_output_carries_each_tags_source_columns(tmp_path: Path, settings: Any,
                                                            manifest: Manifest) -> None:
    entity = manifest.entities[0]
    profile = refs.profile_with_columns(refs.entity_dataset(settings, entity, entity.profile_table), settings,
                                        entity, manifest.column_lineage)
    path = tmp_path / "events.jsonl"
    uris = {s.name: settings.source_uri(s.path) for s in entity.sources}
    with _emitter(path).run(f"build_profile.{entity.name}", refs.source_datasets(entity, uris), [profile]) as run:
        run.set_outputs([profile.with_stats(row_count=10)])
    assert validate_events_file(path) == []
    complete = _events(path)[-1]
    fields = complete["outputs"][0]["facets"][FACET_NAME]["fields"]
    assert set(fields) == {t.name for t in entity.tags}
    sources = {(s.namespace, s.name) for s in refs.source_datasets(entity, uris)}
    for name, field in fields.items():
        assert {(i["namespace"], i["name"]) for i in field["inputFields"]} <= sources, name
    assert all(fields[t.name]["inputFields"] for t in entity.tags if t.sources), "a tag without inputs"


def test_audience_outputs_carry_their_inputs(tmp_path: Path, settings: Any, manifest: Manifest) -> None:
    entity = manifest.entities[0]
    outputs = refs.audience_outputs_with_columns(
        {k: refs.entity_dataset(settings, entity, n) for k, n in entity.audience_tables.items()}, settings, entity,
        manifest.column_lineage)
    members, scenes = outputs["audience_members"], outputs["scene_assignments"]
    assert FACET_NAME in members.facets and FACET_NAME in scenes.facets
    assert all(FACET_NAME not in o.facets for k, o in outputs.items() if k not in ("audience_members",
                                                                                   "scene_assignments"))
    path = tmp_path / "events.jsonl"
    with _emitter(path).run(f"materialize_audiences.{entity.name}", [], list(outputs.values())):
        pass
    assert validate_events_file(path) == []
    facets = {o["name"].rsplit("/", 1)[-1]: o["facets"] for o in _events(path)[-1]["outputs"]}
    scene_fields = facets[entity.audience_tables["scene_assignments"]][FACET_NAME]["fields"]
    assert {"branch", "group", "variant", "payload", entity.key} <= set(scene_fields)
    member_inputs = facets[entity.audience_tables["audience_members"]][FACET_NAME]["fields"][entity.key]
    profile = dataset_for_uri(settings.table_uri(entity.profile_table))
    assert any(i["name"] == profile.name for i in member_inputs["inputFields"])  # rule audiences read tags


def test_effect_outputs_carry_their_inputs(tmp_path: Path, settings: Any, manifest: Manifest) -> None:
    from tagfactory.contracts.tables import EFFECT_KINDS, table_name

    entity = manifest.entities[0]
    outputs = refs.effect_outputs_with_columns(
        {k: refs.entity_dataset(settings, entity, table_name(k, entity.name)) for k in EFFECT_KINDS}, settings,
        entity, manifest.column_lineage)
    path = tmp_path / "events.jsonl"
    with _emitter(path).run(f"analyze_effects.{entity.name}", [], list(outputs.values())):
        pass
    assert validate_events_file(path) == []
    facets = {o["name"].rsplit("/", 1)[-1]: o["facets"] for o in _events(path)[-1]["outputs"]}
    stats = facets[f"effect_stats_{entity.name}"][FACET_NAME]["fields"]
    # the job's inputs only: the scene assignments, the goals' sources, the profile
    uris = {s.name: settings.source_uri(s.path) for s in entity.sources}
    read = {(r.namespace, r.name) for r in [*refs.source_datasets(entity, uris),
                                             dataset_for_uri(settings.table_uri(entity.profile_table)),
                                             dataset_for_uri(settings.table_uri(
                                                 entity.audience_tables["scene_assignments"]))]}
    for kind in EFFECT_KINDS:
        for name, field in facets[table_name(kind, entity.name)][FACET_NAME]["fields"].items():
            assert {(i["namespace"], i["name"]) for i in field["inputFields"]} <= read, (kind, name)
    orders = dataset_for_uri(uris["orders"])
    amount = [i for i in stats["sum_num"]["inputFields"] if (i["name"], i["field"]) == (orders.name, "amount")]
    assert [t["subtype"] for t in amount[0]["transformations"]] == ["AGGREGATION"]
    exposures = facets[f"effect_exposures_{entity.name}"][FACET_NAME]["fields"]
    assert {"scene", entity.key, "first_date", "branch", "group", "variant", "days_assigned"} <= set(exposures)


def test_every_export_destination_carries_column_lineage_with_masking(tmp_path: Path, settings: Any,
                                                                     manifest: Manifest) -> None:
    path = tmp_path / "events.jsonl"
    emitter = _emitter(path)
    for export in manifest.exports:
        selection = _selection(manifest, export.name)
        for dest in export.destinations:
            def ship(sel: Selection, kind: str = dest.kind, name: str = dest.name) -> Delivery:
                now = dt.datetime.now(dt.UTC)
                return Delivery(name, kind, "somewhere", "delivered", 5, now, now)  # type: ignore[arg-type]
            ship_with_lineage(emitter, settings, export, selection, dest, "r1", ship, manifest)
    assert validate_events_file(path) == []
    completes = [e for e in _events(path) if e["eventType"] == "COMPLETE"]
    assert len(completes) == sum(len(x.destinations) for x in manifest.exports)
    masked: dict[str, bool] = {}
    for event in completes:
        export = manifest.export(event["job"]["name"].split(".")[1])
        fields = event["outputs"][0]["facets"][FACET_NAME]["fields"]
        assert set(fields) == {c.name for c in export.columns}, export.name
        for column in export.columns:
            treated = bool(column.treatment) and column.treatment != "keep"
            value = [t for i in fields[column.name]["inputFields"] for t in i["transformations"]
                     if t["type"] == "DIRECT"]
            if column.origin in ("tag", "source"):
                masked[f"{export.name}.{column.name}"] = treated
                assert value and all(t["masking"] == treated for t in value), (export.name, column.name)
    assert any(masked.values()) and not all(masked.values())


def test_the_select_step_emits_start_and_complete(tmp_path: Path, settings: Any, manifest: Manifest) -> None:
    path = tmp_path / "events.jsonl"
    export = manifest.exports[0]
    selection = _selection(manifest, export.name)
    got = select_with_lineage(_emitter(path), settings, manifest, export, DATE, lambda: selection)
    assert got is selection

    def broken() -> Selection:
        raise RuntimeError("the profile of that date is not published")

    with pytest.raises(RuntimeError):
        select_with_lineage(_emitter(path), settings, manifest, export, DATE, broken)
    assert validate_events_file(path) == []
    events = _events(path)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        (f"export.{export.name}.select", kind) for kind in ("START", "COMPLETE", "START", "FAIL")]
    complete = events[1]
    assert complete["run"]["facets"]["parent"]["root"]["job"]["name"] == "tag_factory_daily"
    assert complete["run"]["facets"]["tagfactory_staging"]["location"] == selection.staged_uri
    versions = {i["name"].rsplit("/", 1)[-1]: i["facets"]["version"]["datasetVersion"] for i in complete["inputs"]}
    assert versions == {k: str(v) for k, v in selection.source_versions.items()}
    [output] = complete["outputs"]
    assert output["name"].endswith(f"/_exports/{export.name}")  # one dataset across days: no date, no content
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == selection.rows_expected
    assert set(output["facets"][FACET_NAME]["fields"]) == {c.name for c in export.columns}


def test_table_maintenance_emits_one_run(tmp_path: Path, settings: Any, manifest: Manifest,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tagfactory.pipeline import maintenance

    entity = manifest.entities[0]
    uris = maintenance.warehouse_tables(manifest, settings)
    profile_uri = settings.table_uri(entity.profile_table)
    monkeypatch.setattr(maintenance, "maintain", lambda tables, uris, **kw: [
        MaintenanceResult(profile_uri, 12, 2, 10, 8, 0.1, version_before=7)])
    path = tmp_path / "events.jsonl"
    maintain_with_lineage(_emitter(path), settings, manifest, None, uris, retention_days=7)  # type: ignore[arg-type]
    assert validate_events_file(path) == []
    start, complete = _events(path)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["job"]["name"] == "maintain_tables" and len(start["inputs"]) == len(uris)
    assert complete["run"]["facets"]["parent"]["job"]["name"] == "tag_factory_daily.exports"
    [read], [written] = complete["inputs"], complete["outputs"]
    assert read["name"] == written["name"] == dataset_for_uri(profile_uri).name
    assert (read["facets"]["version"]["datasetVersion"], written["facets"]["version"]["datasetVersion"]) == ("7", "8")
    assert "schema" in written["facets"]


def test_maintenance_without_spark_names_its_engine(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    emitter = job_lineage(LineageEmitter.from_config(True, None, path), "1.2.0", engine="delta-rs",
                          integration="TAGFACTORY")
    with emitter.run("maintain_tables", []):
        pass
    assert validate_events_file(path) == []
    event = _events(path)[0]
    assert event["run"]["facets"]["processing_engine"]["name"] == "delta-rs"
    assert event["job"]["facets"]["jobType"]["integration"] == "TAGFACTORY"
