"""`tagfactory plan` names the exports a change breaks or affects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tagfactory.compiler.diff import diff_projects
from tagfactory.compiler.project import load_project
from tagfactory.compiler.report import render_markdown
from tagfactory.compiler.resolve import Project
from tests.unit.definitions import REPO


@pytest.fixture(scope="module")
def base() -> Project:
    return load_project(REPO / "tag_definitions")[0]


def _head(tmp_path: Path, file: str, old: str, new: str) -> Project:
    root = tmp_path / "defs"
    shutil.copytree(REPO / "tag_definitions", root)
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return load_project(root)[0]


def test_an_export_column_removed_or_retreated_is_breaking_and_names_the_consumer(base: Project, tmp_path: Path) -> None:
    head = _head(tmp_path, "exports/demo.yaml", "      - {name: member_level, from: tag.member_level}\n", "")
    diff = diff_projects(base, head)
    assert diff.exports["crm_high_value_daily"][0] == "modified"
    assert ("export crm_high_value_daily",
            "column `member_level` no longer delivered to crm-platform (crm-ops@example.com)") in diff.breaking
    assert "crm_high_value_daily" in render_markdown(diff)


def test_a_retyped_tag_an_export_delivers_is_breaking_naming_the_export(base: Project, tmp_path: Path) -> None:
    head = _head(tmp_path, "tags/basic.yaml", "    type: enum\n    values: [none, silver, gold, platinum]\n"
                 "    expr: \"coalesce(member_level, 'none')\"", "    type: string\n    expr: \"coalesce(member_level, 'none')\"")
    diff = diff_projects(base, head)
    change = next(c for c in diff.tags if c.name == "member_level")
    assert "type changed from `enum` to `string`" in change.breaking
    assert "delivered by export `crm_high_value_daily` as column `member_level`" in change.breaking


def test_a_metadata_change_of_an_export_is_not_breaking(base: Project, tmp_path: Path) -> None:
    head = _head(tmp_path, "exports/demo.yaml", "purpose: Daily CRM journeys", "purpose: CRM journeys")
    diff = diff_projects(base, head)
    assert diff.exports == {"crm_high_value_daily": ("modified", "definition changed")}
    assert diff.export_breaking == []


def test_removing_an_active_export_is_breaking(base: Project, tmp_path: Path) -> None:
    root = tmp_path / "defs"
    shutil.copytree(REPO / "tag_definitions", root)
    shipped = yaml.safe_load((root / "exports" / "demo.yaml").read_text())["exports"]
    (root / "exports" / "demo.yaml").unlink()
    diff = diff_projects(base, load_project(root)[0])
    names = {x["name"] for x in shipped}
    assert {"crm_high_value_daily", "popup_assignments", "analyst_audiences", "sales_vip_workbook"} <= names
    assert {n for n, (c, _) in diff.exports.items() if c == "removed"} == names
    assert len(diff.export_breaking) == len(names)
