"""The diagnostic codes: one enum, and the docs' tables are generated from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tagfactory.compiler.codes import Code, Severity, main, markdown_table, regenerate
from tagfactory.compiler.diagnostics import CODES, Diagnostic

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "docs" / "tag-language.md", REPO / "docs" / "audiences.md", REPO / "docs" / "exports.md",
        REPO / "docs" / "effects.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_code_tables_match_the_enum(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "<!-- codes:begin" in text
    assert regenerate(text) == text, (
        f"{doc.relative_to(REPO)} is stale: run python -m tagfactory.compiler.codes --write "
        "docs/tag-language.md docs/audiences.md docs/exports.md docs/effects.md")


def test_the_full_table_lists_every_code() -> None:
    text = (REPO / "docs" / "tag-language.md").read_text(encoding="utf-8")
    assert markdown_table() in text
    assert all(f"| {code} | {code.severity} |" in text for code in Code)


def test_every_code_is_used_and_every_used_code_is_a_member() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tagfactory").rglob("*.py")
                        if p.name != "codes.py")
    used = set(re.findall(r"\bCode\.([EW]\d{3})\b", sources))
    assert used == {c.name for c in Code}, sorted(used ^ {c.name for c in Code})
    assert not re.findall(r"\"[EW]\d{3}\"", sources), "write Code.E101, not \"E101\""


def test_members_are_strings_with_severity_and_meaning() -> None:
    for code in Code:
        assert code == code.value == code.name and f"{code}" == code.value
        assert code.severity is (Severity.WARNING if code.startswith("W") else Severity.ERROR)
        assert code.meaning and "\n" not in code.meaning
    assert CODES == {c.value: c.meaning for c in Code}
    diag = Diagnostic("f.yaml", 1, 2, Code.E101, "unknown field `x`")
    assert json.loads(json.dumps(diag.to_dict()))["code"] == "E101"
    assert diag.format() == "f.yaml:1:2: error[E101]: unknown field `x`"
    with pytest.raises(ValueError):
        Diagnostic("f.yaml", 1, 2, "E999", "not a code")  # type: ignore[arg-type]


def test_cli_prints_and_writes_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--markdown", "E7", "W7"]) == 0
    out = capsys.readouterr().out
    assert out == markdown_table(["E7", "W7"]) and "| W708 | warning |" in out and "E101" not in out
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- codes:begin E0 -->\nold\n<!-- codes:end -->\nafter\n", encoding="utf-8")
    assert main(["--write", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == (
        "before\n<!-- codes:begin E0 -->\n" + markdown_table(["E0"]) + "<!-- codes:end -->\nafter\n")
