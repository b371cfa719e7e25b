"""The ``columnLineage`` facet builder (tagfactory.lineage.columns), validated against the
OpenLineage facet JSON schema vendored in tests/fixtures/openlineage (see its README)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openlineage.client.serde import Serde
from referencing import Registry, Resource

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.project import load_project
from tagfactory.lineage import FACET_NAME, column_lineage_facet, dataset_for_uri
from tagfactory.lineage.events import dataset_facets
from tests.unit.definitions import REPO, definitions_with

SCHEMAS = REPO / "tests" / "fixtures" / "openlineage"


def _validator() -> jsonschema.protocols.Validator:
    resources = []
    for name in ("OpenLineage.json", "ColumnLineageDatasetFacet.json"):
        schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    facet = json.loads((SCHEMAS / "ColumnLineageDatasetFacet.json").read_text(encoding="utf-8"))
    registry = Registry().with_resources(resources)
    cls = jsonschema.validators.validator_for(facet)
    return cls({"$ref": facet["$id"] + "#/$defs/ColumnLineageDatasetFacet"}, registry=registry)


def _source_datasets(node: str) -> tuple[str, str] | None:
    kind, _, name = node.partition(":")
    return ("file", f"/lake/raw/{name}") if kind == "source" else None


ENTRIES: list[dict[str, Any]] = [
    {"node": "tag:gmv_30d", "column": "gmv_30d", "sources": [
        {"node": "source:orders", "column": "amount", "type": "DIRECT", "subtype": "AGGREGATION", "masking": False},
        {"node": "source:orders", "column": "status", "type": "INDIRECT", "subtype": "FILTER", "masking": False},
    ]},
    {"node": "export:crm", "column": "email_hash", "sources": [
        {"node": "source:users", "column": "email", "type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True},
    ], "direct": [
        {"node": "tag:not_an_input", "column": "x", "type": "DIRECT", "subtype": "IDENTITY", "masking": False},
    ]},
]


def test_facet_shape() -> None:
    facet = Serde.to_dict(column_lineage_facet(ENTRIES, _source_datasets))
    assert facet["fields"]["gmv_30d"]["inputFields"] == [
        {"namespace": "file", "name": "/lake/raw/orders", "field": "amount", "transformations": [
            {"type": "DIRECT", "subtype": "AGGREGATION", "description": "aggregated", "masking": False}]},
        {"namespace": "file", "name": "/lake/raw/orders", "field": "status", "transformations": [
            {"type": "INDIRECT", "subtype": "FILTER", "description": "filters the rows", "masking": False}]},
    ]
    email = facet["fields"]["email_hash"]["inputFields"][0]
    assert (email["name"], email["field"]) == ("/lake/raw/users", "email")
    assert email["transformations"][0]["masking"] is True
    # `direct`: the inputs the resolver does not name are left out
    direct = Serde.to_dict(column_lineage_facet(ENTRIES, _source_datasets, use="direct"))
    assert direct["fields"]["email_hash"]["inputFields"] == []


def test_facet_validates_against_the_openlineage_schema() -> None:
    _validator().validate(Serde.to_dict(column_lineage_facet(ENTRIES, _source_datasets)))


def test_a_broken_facet_does_not_validate() -> None:
    broken = Serde.to_dict(column_lineage_facet(ENTRIES, _source_datasets))
    del broken["fields"]["gmv_30d"]["inputFields"][0]["field"]
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(broken)


def test_the_shipped_definitions_facets_validate(tmp_path: Path) -> None:
    """Every entity's profile and every export, from the compiled shipped definitions."""
    root = definitions_with(tmp_path, REPO / "tag_definitions" / "exports" / "demo.yaml")
    for sub in ("tags", "audiences", "lists"):
        shutil.copytree(REPO / "tag_definitions" / sub, root / sub)
    project, _ = load_project(root)
    manifest = build_manifest(project, root)
    validator = _validator()
    profile = [c for c in manifest.column_lineage if c.node.startswith("tag:")]
    facet = column_lineage_facet(profile, _source_datasets)
    validator.validate(Serde.to_dict(facet))
    assert set(Serde.to_dict(facet)["fields"]) == {t.name for t in manifest.entity("user").tags}
    for export in manifest.exports:
        columns = [c for c in manifest.column_lineage if c.node == f"export:{export.name}"]
        validator.validate(Serde.to_dict(column_lineage_facet(columns, _source_datasets)))
    # it rides on a dataset like any other facet
    ref = dataset_for_uri("/lake/warehouse/profile_user", facets={FACET_NAME: facet})
    assert FACET_NAME in dataset_facets(ref)
