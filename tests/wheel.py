"""Build the project's wheel for tests (tests/unit/test_packaging.py, the standalone cluster test).

The build runs on a copy of the files setuptools reads (``setup.cfg``, ``pyproject.toml``, the
README and ``tagfactory/``), so it leaves no ``build/`` or ``*.egg-info`` in the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_wheel(workdir: Path) -> Path:
    """``pip wheel`` of a copy of the checkout under ``workdir``; returns the one ``.whl`` built."""
    source = workdir / "src"
    source.mkdir(parents=True)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "tagfactory", source / "tagfactory", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = workdir / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(wheels)]
    done = subprocess.run(cmd, cwd=source, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    (wheel,) = wheels.glob("*.whl")
    return wheel
