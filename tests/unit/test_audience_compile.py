"""Audience and scene compilation without Spark: manifest entries, list files, SQL restrictions, impact."""

from __future__ import annotations

import shutil
from pathlib import Path

from tagfactory.audiences.lists import read_normalized
from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.diff import diff_projects
from tagfactory.compiler.manifest import write_manifest
from tagfactory.compiler.project import check_project, load_project
from tests.unit.definitions import REPO


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions", root)
    return root


def test_manifest_holds_every_audience_with_references_resolved(tmp_path: Path) -> None:
    project, _ = load_project(REPO / "tag_definitions")
    manifest = build_manifest(project, REPO / "tag_definitions")
    entity = manifest.entities[0]
    audiences = {a.name: a for a in entity.audiences}
    assert {a.kind for a in audiences.values()} == {"rule", "list", "sql"}
    # references first: an audience never comes before one it includes
    order = [a.name for a in entity.audiences]
    for a in entity.audiences:
        assert all(order.index(r) < order.index(a.name) for r in a.refs)
    winback = str(audiences["winback_push"].condition)
    assert "`lifecycle_stage`" in winback  # churn_risk_browsers inlined
    assert "ARRAY_CONTAINS(`_ext`, 'phone_verified_vips')" in winback  # a list audience stays a membership
    assert str(audiences["recent_signups_without_order"].condition).count(":snapshot_date") == 2
    assert [s.name for s in entity.scenes] == ["home_popup", "push_campaign"]
    assert entity.scenes[1].salt == "push_campaign"  # default salt: the scene name
    write_manifest(manifest, tmp_path / "target")
    write_manifest(manifest, tmp_path / "target")  # writing twice is fine (nothing is consumed)
    uploaded = audiences["phone_verified_vips"].uploaded
    assert uploaded is not None
    ids = read_normalized(tmp_path / "target" / uploaded.file)
    assert len(ids) == uploaded.ids == len(set(ids))
    assert "u0000097" in ids and "n/a" not in ids  # trimmed, malformed row dropped
    assert not (tmp_path / "target" / "manifest.json").read_text().count("u0000097")  # ids stay out of it


def test_sql_audience_over_a_source_reads_it_point_in_time(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "audiences" / "extra.yaml").write_text(
        "audiences:\n  - name: big_orders\n    display_name: Big orders\n    description: d\n    owner: o\n"
        "    sql: SELECT user_id FROM orders WHERE amount > 1000 AND order_ts >= date_sub(snapshot_date, 6)\n",
        encoding="utf-8")
    project, _ = load_project(root)
    entry = next(a for a in build_manifest(project, root).entities[0].audiences if a.name == "big_orders")
    assert entry.sources == ["orders"] and entry.sql is not None
    assert "`order_ts` < CAST(DATE_ADD(:snapshot_date, 1) AS TIMESTAMP)" in entry.sql
    assert "`dt` <= :snapshot_date" in entry.sql and ":snapshot_date, 6 * -1" in entry.sql


def test_forbidden_function_in_sql_audience_is_located(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "audiences" / "extra.yaml").write_text(
        "audiences:\n  - name: sneaky\n    display_name: S\n    description: d\n    owner: o\n"
        "    sql: SELECT reflect('java.lang.Runtime', 'exit', 1) AS user_id FROM profile\n", encoding="utf-8")
    project, diagnostics = check_project(root)
    assert project is None
    assert any(d.code == "E404" and d.file.endswith("extra.yaml") and d.line == 6 for d in diagnostics)


def test_changing_a_tag_marks_audiences_and_scenes_downstream(tmp_path: Path) -> None:
    base, _ = load_project(REPO / "tag_definitions")
    root = _copy(tmp_path)
    consumption = root / "tags" / "consumption.yaml"
    text = consumption.read_text(encoding="utf-8")
    start = text.index("- name: orders_7d")
    window = text.index("window: 7d", start)
    consumption.write_text(text[:window] + "window: 8d" + text[window + len("window: 7d"):], encoding="utf-8")
    head, _ = load_project(root)
    diff = diff_projects(base, head)
    assert diff.audiences["churn_risk_browsers"][0] == "affected"
    assert "`orders_7d`" in diff.audiences["churn_risk_browsers"][1]
    assert diff.audiences["winback_push"][0] == "affected"  # through include: churn_risk_browsers
    assert "high_value_customers" not in diff.audiences
    assert set(diff.scenes) == {"home_popup", "push_campaign"}


def test_description_only_change_of_an_audience_changes_nothing(tmp_path: Path) -> None:
    base, _ = load_project(REPO / "tag_definitions")
    root = _copy(tmp_path)
    path = root / "audiences" / "marketing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Never targeted by campaigns", "Never targeted"),
                    encoding="utf-8")
    head, _ = load_project(root)
    diff = diff_projects(base, head)
    assert diff.audiences == {} and diff.scenes == []
