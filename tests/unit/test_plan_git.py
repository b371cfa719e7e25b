"""`tagfactory plan` on a real temporary git repository.

The base commit holds the repository's source declarations and a small set of tags; each test
changes the working tree (or commits on a branch) and checks what the plan reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tagfactory.cli import main
from tests.unit.definitions import REPO

TAGS = """\
tags:
  - name: orders_30d
    display_name: 近30天订单数
    description: Completed orders in the last 30 days.
    owner: growth
    category: consumption/orders
    kind: aggregate
    type: integer
    source: orders
    agg: count
    window: 30d
    filter: "status = 'completed'"

  - name: gmv_365d
    display_name: 近一年消费金额
    description: Completed spend in the last 365 days.
    owner: growth
    category: consumption/value
    kind: aggregate
    type: double
    source: orders
    agg: sum
    column: amount
    window: 365d
    filter: "status = 'completed'"

  - name: value_tier
    display_name: 价值分层
    description: Tier by spend.
    owner: growth
    category: consumption/value
    kind: rule
    type: enum
    values: [vip, normal, none]
    rules:
      - when: "gmv_365d >= 1000"
        then: vip
      - when: "gmv_365d > 0"
        then: normal
    else: none

  - name: is_big_spender
    display_name: 大额用户
    description: Spent at least 5000.
    owner: growth
    category: consumption/value
    kind: derived
    type: boolean
    expr: "gmv_365d >= 5000"

  - name: home_city
    display_name: 城市
    description: City of residence.
    owner: crm
    category: basic/geo
    kind: attribute
    type: string
    expr: city

  - name: legacy_flag
    display_name: 旧标记
    description: Unused legacy flag.
    owner: crm
    category: basic/account
    kind: attribute
    type: boolean
    expr: is_test_account
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose `main` holds a valid definitions folder; cwd is its root."""
    root = tmp_path / "repo"
    defs = root / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions" / "sources", defs / "sources")
    (defs / "tags").mkdir()
    (defs / "tags" / "tags.yaml").write_text(TAGS, encoding="utf-8")
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "test")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    monkeypatch.chdir(root)
    return root


def edit(repo: Path, old: str, new: str) -> None:
    path = repo / "tag_definitions" / "tags" / "tags.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def plan_json(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    code = main(["plan", "tag_definitions", "--format", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_name(report: dict) -> dict[str, dict]:
    return {t["name"]: t for t in report["tags"]}


def test_description_only_change_marks_no_query_changed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "description: City of residence.", "description: City where the user lives (from the CRM).")
    code, report = plan_json(capsys, "--base", "main")
    assert code == 0
    tags = by_name(report)
    assert list(tags) == ["home_city"]
    assert tags["home_city"]["change"] == "modified"
    assert tags["home_city"]["fields"] == ["description"]
    assert tags["home_city"]["sql_changed"] is False
    assert tags["home_city"]["sql_diff"] == ""
    assert tags["home_city"]["downstream"] == []
    assert report["summary"]["sql_changed"] == 0
    assert report["profile_sql_changed"] == {"profile_user": False}
    assert report["summary"]["breaking"] == 0


def test_add_modify_remove_rename(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "filter: \"status = 'completed'\"\n\n  - name: gmv_365d",
         "filter: \"status IN ('completed', 'refunded')\"\n\n  - name: gmv_365d")
    edit(repo, "  - name: gmv_365d", "  - name: spend_365d")
    edit(repo, '"gmv_365d >= 1000"', '"spend_365d >= 1000"')
    edit(repo, '"gmv_365d > 0"', '"spend_365d > 0"')
    edit(repo, '"gmv_365d >= 5000"', '"spend_365d >= 5000"')
    edit(repo, "values: [vip, normal, none]", "values: [vip, normal]")
    edit(repo, "    else: none\n", "    else: normal\n")
    edit(repo, """
  - name: legacy_flag
    display_name: 旧标记
    description: Unused legacy flag.
    owner: crm
    category: basic/account
    kind: attribute
    type: boolean
    expr: is_test_account
""", """
  - name: orders_7d
    display_name: 近7天订单数
    description: Completed orders in the last 7 days.
    owner: growth
    category: consumption/orders
    kind: aggregate
    type: integer
    source: orders
    agg: count
    window: 7d
    filter: "status = 'completed'"
""")
    code, report = plan_json(capsys, "--base", "main")
    assert code == 0, report["diagnostics"]
    tags = by_name(report)
    assert tags["orders_7d"]["change"] == "added" and tags["orders_7d"]["sql_changed"]
    assert tags["legacy_flag"]["change"] == "removed"
    assert any("deprecate" in b for b in tags["legacy_flag"]["breaking"])
    assert tags["legacy_flag"]["location"].startswith("main:")

    assert tags["orders_30d"]["change"] == "modified"
    assert tags["orders_30d"]["fields"] == ["filter"]
    assert tags["orders_30d"]["sql_changed"]
    assert "-    COUNT(CASE WHEN `status` = 'completed' THEN 1 END) AS `orders_30d`" in tags["orders_30d"]["sql_diff"]
    assert "+    COUNT(CASE WHEN `status` IN ('completed', 'refunded') THEN 1 END) AS `orders_30d`" in tags["orders_30d"]["sql_diff"]

    spend = tags["spend_365d"]
    assert spend["change"] == "renamed" and spend["renamed_from"] == "gmv_365d"
    assert spend["sql_changed"] is False  # same computation under a new name
    assert any("renamed from `gmv_365d`" in b for b in spend["breaking"])
    assert spend["downstream"] == ["value_tier", "is_big_spender"]

    # only the reference was renamed: values are the same
    assert tags["is_big_spender"]["sql_changed"] is False and tags["is_big_spender"]["fields"] == ["expr"]
    tier = tags["value_tier"]
    assert tier["sql_changed"] and set(tier["fields"]) == {"values", "rules", "else"}
    assert "enum values removed: `none`" in tier["breaking"]
    assert "home_city" not in tags
    assert report["summary"] == {"added": 1, "removed": 1, "renamed": 1, "modified": 3, "sql_changed": 4,
                                 "breaking": 3, "affected_downstream": 0, "unchanged": 1}
    assert report["profile_sql_changed"] == {"profile_user": True}

    assert main(["plan", "tag_definitions", "--base", "main", "--fail-on-breaking", "--format", "json"]) == 1
    capsys.readouterr()


def test_downstream_of_a_changed_aggregate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "    column: amount\n    window: 365d", "    column: amount\n    window: 180d")
    code, report = plan_json(capsys, "--base", "main")
    assert code == 0
    tags = by_name(report)
    assert list(tags) == ["gmv_365d"] and tags["gmv_365d"]["fields"] == ["window"]
    assert tags["gmv_365d"]["downstream"] == ["value_tier", "is_big_spender"]
    assert report["affected"] == ["value_tier", "is_big_spender"]
    assert report["summary"]["breaking"] == 0


def test_removing_a_tag_still_used_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "  - name: gmv_365d", "  - name: spend_365d")
    code = main(["plan", "tag_definitions", "--base", "main"])
    out = capsys.readouterr().out
    assert code == 1
    assert "error[E503]: tag `value_tier` still uses `gmv_365d`, but this change renames `gmv_365d` to `spend_365d`" in out
    assert "error[E503]: tag `is_big_spender` still uses `gmv_365d`" in out
    assert "Traceback" not in out


def test_markdown_for_a_pull_request(repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    edit(repo, "window: 30d", "window: 28d")
    out_file = tmp_path / "plan.md"
    code = main(["plan", "tag_definitions", "--base", "main", "--format", "markdown", "--output", str(out_file)])
    md = capsys.readouterr().out
    assert code == 0
    assert md == out_file.read_text(encoding="utf-8")
    assert md.startswith("<!-- tagfactory-plan -->\n## Tag plan: `main (")
    assert "| `orders_30d` | modified | window | **changed** | — |" in md
    assert "```diff" in md and "<details><summary><code>orders_30d</code>" in md


def test_default_base_is_the_merge_base_with_main(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "checkout", "-qb", "feature")
    edit(repo, "window: 30d", "window: 28d")
    git(repo, "commit", "-qam", "shorter window")
    git(repo, "checkout", "-q", "main")
    edit(repo, "description: City of residence.", "description: Changed on main after the branch.")
    git(repo, "commit", "-qam", "main moves on")
    git(repo, "checkout", "-q", "feature")
    code, report = plan_json(capsys)
    assert code == 0
    assert report["base"].startswith("merge-base (")
    assert [t["name"] for t in report["tags"]] == ["orders_30d"]  # main's later change is not part of this branch


def test_unknown_ref_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "tag_definitions", "--base", "no-such-branch"]) == 2
    err = capsys.readouterr().err
    assert "tagfactory plan: error: git" in err and "Traceback" not in err


def test_base_without_definitions_counts_everything_as_added(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "README").write_text("x", encoding="utf-8")
    git(repo, "checkout", "-q", "--orphan", "empty")
    git(repo, "rm", "-rqf", "--cached", ".")
    git(repo, "add", "README")
    git(repo, "commit", "-qm", "empty")
    git(repo, "checkout", "-qf", "main")
    code = main(["plan", "tag_definitions", "--base", "empty", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["summary"]["added"] == 6
