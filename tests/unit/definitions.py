"""Helper for compiler tests: a definitions folder made of the real sources plus one file."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def definitions_with(tmp_path: Path, extra: Path) -> Path:
    """``tmp_path/tag_definitions`` holding the repository's sources and a copy of ``extra``."""
    root = tmp_path / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions" / "sources", root / "sources")
    shutil.copy(extra, root / extra.name)
    return root
