"""The malicious-definitions corpus: one file per attack class of issue 13, each variant refused.

``tests/fixtures/malicious/<case>.yaml`` is checked like the invalid corpus (with the real source
declarations, see ``test_invalid_corpus.py``); ``<case>.expected`` lists the located messages
that must appear. Files a case needs beside its YAML (symlinks, a zip bomb, a file outside the
definitions folder) are made by :data:`SETUP`, because a repository should not hold them.
Every case must also finish quickly: validate of any input takes seconds.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tagfactory.compiler.project import check_project
from tests.unit.definitions import REPO, definitions_with

CORPUS = REPO / "tests" / "fixtures" / "malicious"
CASES = sorted(p.stem for p in CORPUS.glob("*.yaml"))


def _outside_files(root: Path) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("user_id\nSECRET-LINE\n", encoding="utf-8")
    (root.parent / "secret.csv").write_text("user_id\nSECRET-LINE\n", encoding="utf-8")
    lists = root / "lists"
    lists.mkdir()
    (lists / "inside.csv").write_text("user_id\nu1\n", encoding="utf-8")
    (lists / "link.csv").symlink_to(outside / "secret.csv")


def _zip_bomb(root: Path) -> None:
    lists = root / "lists"
    lists.mkdir()
    with zipfile.ZipFile(lists / "bomb.xlsx", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        chunk = b" " * (1 << 20)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            for _ in range(130):  # 130 MB of blanks: ~130 KB compressed
                part.write(chunk)


def _loop(root: Path) -> None:
    lists = root / "lists"
    lists.mkdir()
    (lists / "loop.csv").symlink_to("loop.csv")


SETUP: dict[str, Callable[[Path], None]] = {
    "c5_outside_files": _outside_files,
    "c6_unbounded": _zip_bomb,
    "c7_crashes": _loop,
}


def test_one_case_per_attack_class() -> None:
    assert [c[:2] for c in CASES] == [f"c{i}" for i in range(1, 10)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES)
def test_malicious_case_is_refused(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = definitions_with(tmp_path, CORPUS / f"{case}.yaml")
    if case in SETUP:
        SETUP[case](root)
    monkeypatch.chdir(tmp_path)
    project, diagnostics = check_project(root)  # a hang fails by the timeout mark
    assert project is None, f"{case} was accepted"
    got = [d.format().splitlines()[0] for d in diagnostics]
    expected = (CORPUS / f"{case}.expected").read_text(encoding="utf-8").strip().splitlines()
    for line in expected:
        assert line in got, f"{case}: expected\n  {line}\ngot\n  " + "\n  ".join(got)
    for d in diagnostics:
        text = d.format()
        assert "Traceback" not in text
        assert "SECRET-LINE" not in text, f"{case}: a line of a file outside the definitions was echoed"
        assert "\n::" not in text and "\r" not in text, f"{case}: raw text could start a workflow command"
        assert d.line > 0, f"{case}: not located: {text}"


def test_github_annotations_cannot_be_forged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from tagfactory.cli import main

    root = definitions_with(tmp_path, CORPUS / "c9_ci_output.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(root), "--format", "github"]) == 1
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if line.strip()]
    assert lines and all(line.startswith(("::error file=", "::warning file=", "invalid:")) for line in lines), lines
    assert not any("::add-mask::" in line.split("::", 2)[1] for line in lines if line.startswith("::"))
