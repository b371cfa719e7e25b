"""The wheel holds the whole package: build it, install it apart and import every module from it.

The build (tests/wheel.py) runs on a copy of the checkout, so it leaves no ``build/`` or
``*.egg-info`` behind. The import runs in a fresh interpreter whose only extra path is the install
folder and whose working directory is outside the repository, so the source tree cannot stand in
for a file the wheel lacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.unit.definitions import REPO
from tests.wheel import build_wheel

PACKAGE = REPO / "tagfactory"
#: Files under tagfactory/ that are documentation, not read by the code.
DOCS_ONLY = {"README.md"}


def _source_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _package_data() -> list[str]:
    """Non-Python files under tagfactory/ the code may read (paths relative to the repository)."""
    return sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
                  and p.name not in DOCS_ONLY)


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_wheel_holds_and_imports_every_module(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)

    modules = _source_modules()
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
    in_wheel = {f for f in files if f.startswith("tagfactory/")}
    expected = {str(Path(m.replace(".", "/")).with_suffix(".py")) for m in modules}
    expected = {f if (REPO / f).is_file() else f.removesuffix(".py") + "/__init__.py" for f in expected}
    assert expected - in_wheel == set(), "modules missing from the wheel"
    assert set(_package_data()) - in_wheel == set(), "package data missing from the wheel"

    site = tmp_path / "site"
    _run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet", "--target",
         str(site), str(wheel), cwd=tmp_path)
    probe = """
import importlib, json, sys
out = {}
for name in json.loads(sys.argv[1]):
    try:
        out[name] = importlib.import_module(name).__file__
    except Exception as exc:
        out[name] = "ERROR " + type(exc).__name__ + ": " + str(exc)[:300]
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = str(site)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    done = _run(sys.executable, "-c", probe, json.dumps(modules), cwd=run_dir, env=env)
    files_of = json.loads(done.stdout.strip().splitlines()[-1])
    errors = {m: f for m, f in files_of.items() if f is None or f.startswith("ERROR")}
    assert not errors, errors
    outside = {m: f for m, f in files_of.items() if not Path(f).resolve().is_relative_to(site.resolve())}
    assert not outside, f"imported from outside the installed wheel: {outside}"
    assert sorted(files_of) == modules
