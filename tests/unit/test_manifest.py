"""The manifest contract: typed, versioned, sealed by its digest, its JSON schema published in docs/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.manifest import (
    MANIFEST_FORMAT,
    DigestMismatchError,
    Manifest,
    ManifestError,
    check_run_digest,
    json_schema,
    read_manifest,
    write_manifest,
)
from tagfactory.compiler.project import load_project
from tagfactory.errors import TagFactoryError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    project, _ = load_project(REPO / "tag_definitions")
    return build_manifest(project, REPO / "tag_definitions")


def test_published_json_schema_is_current() -> None:
    published = json.loads((REPO / "docs" / "manifest.schema.json").read_text(encoding="utf-8"))
    assert published == json_schema(), "regenerate docs/manifest.schema.json: tagfactory manifest-schema"


def test_round_trip_keeps_every_field(manifest: Manifest, tmp_path: Path) -> None:
    path = write_manifest(manifest, tmp_path)
    again = read_manifest(path)
    assert again.model_dump() == manifest.model_dump() and again.digest == manifest.digest == manifest.computed_digest()
    # quality declarations keep their types (and defaults) through the file
    tag = next(t for t in again.entities[0].tags if t.quality.drift is not None)
    assert tag.quality.drift == manifest.entities[0].tag(tag.name).quality.drift


def test_another_format_is_refused(manifest: Manifest, tmp_path: Path) -> None:
    path = write_manifest(manifest, tmp_path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["format"] = MANIFEST_FORMAT - 1
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ManifestError, match="manifest format 1, this tagfactory reads 2"):
        read_manifest(path)


def test_an_unknown_field_is_refused(manifest: Manifest, tmp_path: Path) -> None:
    path = write_manifest(manifest, tmp_path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["entities"][0]["tags"][0]["surprise"] = 1
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"entities\.0\.tags\.0\.surprise"):
        read_manifest(path)


def test_missing_manifest_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TagFactoryError, match="run `tagfactory compile` first"):
        read_manifest(tmp_path / "manifest.json")


def test_unsealed_manifest_is_not_written(manifest: Manifest, tmp_path: Path) -> None:
    edited = manifest.model_copy(update={"definitions": "x", "entities": manifest.entities[:0]})
    with pytest.raises(ManifestError, match="not sealed"):
        write_manifest(edited, tmp_path)


def test_digest_covers_what_jobs_do(manifest: Manifest) -> None:
    entity = manifest.entities[0]
    changed = manifest.model_copy(update={"entities": [entity.model_copy(update={"sql": entity.sql + " "})]})
    assert changed.computed_digest() != manifest.digest
    relabelled = manifest.model_copy(update={"definitions": "/elsewhere"})
    assert relabelled.computed_digest() == manifest.digest  # where the YAML lived is not what jobs do


def test_a_run_from_another_manifest_is_refused() -> None:
    check_run_digest("a" * 64, "a" * 64, "run r")
    with pytest.raises(DigestMismatchError, match="staged from manifest bbbbbbbbbbbb"):
        check_run_digest("b" * 64, "a" * 64, "run r of profile_user")
    with pytest.raises(DigestMismatchError, match="unknown"):
        check_run_digest(None, "a" * 64, "run r")
