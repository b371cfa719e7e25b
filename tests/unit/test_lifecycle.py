"""Lifecycle rules: deprecated dependencies warn (and still build), drafts are not built."""

from __future__ import annotations

from pathlib import Path

from tagfactory.cli import main
from tagfactory.compiler.project import check_project
from tests.unit.definitions import definitions_with

TAGS = """\
tags:
  - name: old_spend
    display_name: 旧消费
    description: Deprecated spend tag.
    owner: test
    category: consumption/orders
    lifecycle: deprecated
    kind: aggregate
    type: double
    source: orders
    agg: sum
    column: amount
    window: 30d
  - name: big_spender
    display_name: 大额
    description: Uses the deprecated tag.
    owner: test
    category: consumption/value
    kind: derived
    type: boolean
    expr: old_spend > 1000
"""


def test_active_tag_on_deprecated_tag_warns_but_is_valid(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    extra = tmp_path / "lifecycle.yaml"
    extra.write_text(TAGS, encoding="utf-8")
    root = definitions_with(tmp_path, extra)
    project, diagnostics = check_project(root)
    assert project is not None
    assert [d.code for d in diagnostics] == ["W501"]
    assert diagnostics[0].line == 19  # the `kind:` line of big_spender
    assert "active tag `big_spender` depends on deprecated tag `old_spend`" in diagnostics[0].message
    assert set(project.layer) == {"old_spend", "big_spender"}  # deprecated tags are still built
    assert main(["validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert "warning[W501]" in out and "(1 warnings)" in out


def test_deprecated_user_of_deprecated_tag_is_silent(tmp_path: Path) -> None:
    extra = tmp_path / "lifecycle.yaml"
    extra.write_text(TAGS.replace("    kind: derived", "    lifecycle: deprecated\n    kind: derived"), encoding="utf-8")
    project, diagnostics = check_project(definitions_with(tmp_path, extra))
    assert project is not None and diagnostics == []
