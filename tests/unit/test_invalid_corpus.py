"""Every file of the invalid-definitions corpus must fail with its specific, located message.

Each ``tests/fixtures/invalid/<case>.yaml`` is checked together with the repository's real
source declarations; ``<case>.expected`` holds the diagnostic lines that must appear (hints
are not compared, so they can improve without touching the corpus).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tagfactory.compiler.project import check_project
from tests.unit.definitions import REPO, definitions_with

CORPUS = REPO / "tests" / "fixtures" / "invalid"
CASES = sorted(p.stem for p in CORPUS.glob("*.yaml"))


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES)
def test_invalid_case_reports_expected_error(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = definitions_with(tmp_path, CORPUS / f"{case}.yaml")
    monkeypatch.chdir(tmp_path)
    project, diagnostics = check_project(root)
    assert project is None, f"{case} was accepted"
    got = [d.format().splitlines()[0] for d in diagnostics]
    expected = (CORPUS / f"{case}.expected").read_text(encoding="utf-8").strip().splitlines()
    for line in expected:
        assert line in got, f"{case}: expected\n  {line}\ngot\n  " + "\n  ".join(got)
    for d in diagnostics:
        assert "Traceback" not in d.message
        assert d.file.endswith(f"{case}.yaml"), f"{case}: error blamed on another file: {d.format()}"
