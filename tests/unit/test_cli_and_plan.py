"""The no-JVM path: `tagfactory validate` / `compile` exit codes, outputs and the compiled manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagfactory.cli import main
from tagfactory.compiler.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]
DEFS = REPO / "tag_definitions"


def test_validate_repo_definitions_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEFS)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_validate_invalid_exits_1_and_prints_located_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "tests/fixtures/invalid/unknown_field.yaml")]) == 1
    out = capsys.readouterr().out
    assert "unknown_field.yaml:11:5: error[E101]: unknown field `windw`" in out
    assert "did you mean `window`?" in out
    assert "Traceback" not in out


def test_validate_missing_path_is_usage_error(tmp_path: Path) -> None:
    assert main(["validate", str(tmp_path / "nope")]) == 2


def test_usage_error_exit_code() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--format", "xml"])
    assert exc.value.code == 2


def test_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "tests/fixtures/invalid/bad_kind.yaml"), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert report["diagnostics"][0]["code"] == "E103"
    assert report["diagnostics"][0]["line"] == 8  # the `kind:` line


def test_compile_writes_manifest_and_sql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--definitions", str(DEFS), "--target", str(tmp_path)]) == 0
    manifest = read_manifest(tmp_path / "manifest.json")
    (entity,) = manifest.entities
    assert entity.name == "user" and entity.profile_table == "profile_user"
    sql_file = tmp_path / entity.sql_file
    assert sql_file.read_text(encoding="utf-8").strip() == entity.sql.strip()
    names = [t.name for t in entity.tags]
    assert [c.name for c in entity.columns] == ["user_id", *names, "dt"]
    for tag in entity.tags:
        assert (tmp_path / "compiled" / "user" / "tags" / f"{tag.name}.sql").is_file()
        assert tag.lifecycle != "draft"
    # one fused scan per aggregated source: every source appears in at most one agg_ CTE
    for source in {s.name for s in entity.sources}:
        assert entity.sql.count(f"agg_{source} AS (") <= 1


def test_compile_is_deterministic(tmp_path: Path) -> None:
    main(["compile", "--definitions", str(DEFS), "--target", str(tmp_path / "a")])
    main(["compile", "--definitions", str(DEFS), "--target", str(tmp_path / "b")])
    a = read_manifest(tmp_path / "a" / "manifest.json")
    b = read_manifest(tmp_path / "b" / "manifest.json")
    assert a.digest == b.digest
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()


def test_compile_invalid_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "target"
    assert main(["compile", "--definitions", str(REPO / "tests/fixtures/invalid/cycle.yaml"),
                 "--target", str(target)]) == 1
    assert not (target / "manifest.json").exists()
