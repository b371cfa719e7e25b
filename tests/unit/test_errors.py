"""One error root: every tagfactory exception is a TagFactoryError; the CLI and the jobs print one
and exit 1, and let anything else (a bug) propagate with its traceback."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import tagfactory
from tagfactory import cli, errors
from tagfactory.errors import TagFactoryError

REPO = Path(__file__).resolve().parents[2]


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(tagfactory.__path__, "tagfactory."))


def test_every_exception_class_derives_from_the_root() -> None:
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            if cls_name.startswith("_"):  # private: caught inside its module (yamlload._BadValue)
                continue
            found.append(cls)
            assert issubclass(cls, TagFactoryError), f"{name}.{cls_name} does not derive from TagFactoryError"
    names = {c.__name__ for c in found}
    assert {"QualityGateError", "BuildError", "SourceError", "AudienceError", "ListFileError", "StagingError",
            "DeltaIOError", "DeltaPublishError", "DefinitionError", "SqlColumnError", "GitError", "PolicyError",
            "ManifestDigestError", "DigestMismatchError", "JarsMissingError"} <= names


def test_private_exceptions_do_not_escape_their_module() -> None:
    source = (REPO / "tagfactory" / "compiler" / "yamlload.py").read_text(encoding="utf-8")
    assert "except _BadValue" in source


def test_errors_module_imports_nothing() -> None:
    tree = ast.parse((REPO / "tagfactory" / "errors.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_builtin_bases_are_kept_where_callers_catch_them() -> None:
    from tagfactory.audiences.lists import ListFileError
    from tagfactory.quality.failures import QualityGateError

    assert issubclass(ListFileError, ValueError)
    assert issubclass(QualityGateError, RuntimeError) and issubclass(errors.ConfigError, ValueError)


def test_cli_prints_a_tagfactory_error_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert cli.main(["compile", "--config", str(missing), "--target", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"tagfactory compile: error: config file {missing} does not exist\n"


def test_cli_reports_a_missing_manifest_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(args: object) -> int:
        raise errors.ManifestError(f"no manifest at {tmp_path}/manifest.json: run `tagfactory compile` first")

    monkeypatch.setattr(cli, "_maintain", fails)
    assert cli.main(["maintain"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"tagfactory maintain: error: no manifest at {tmp_path}/manifest.json: run "
                                "`tagfactory compile` first"]


@pytest.mark.parametrize("bug", [ValueError("a bug"), RuntimeError("a bug"), KeyError("a bug")])
def test_cli_lets_other_exceptions_propagate(bug: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(args: object) -> int:
        raise bug

    monkeypatch.setattr(cli, "_show", fails)
    with pytest.raises(type(bug)):
        cli.main(["show"])


def test_cli_keeps_the_traceback_of_a_bug(tmp_path: Path) -> None:
    code = ("import tagfactory.cli as cli\n"
            "def boom(args):\n    raise ValueError('a real bug')\n"
            "cli._show = boom\nraise SystemExit(cli.main(['show']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "ValueError: a real bug" in proc.stderr


def test_cli_interrupted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_show", interrupted)
    assert cli.main(["show"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize("job", ["build_profile", "build_audiences", "maintain_tables"])
def test_jobs_print_a_tagfactory_error_as_one_line(job: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(f"job_{job}", REPO / "jobs" / f"{job}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = tmp_path / "no.yaml"
    args = ["--manifest", str(tmp_path / "manifest.json"), "--config", str(missing)]
    assert module.main(args if job == "maintain_tables" else [*args, "--date", "2026-11-24"]) == 1
    assert capsys.readouterr().err == f"{job}.py: error: config file {missing} does not exist\n"
