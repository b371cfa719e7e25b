"""Fixtures shared by the lineage event tests (test_lineage_events.py, test_lineage_outputs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tagfactory.compiler.assemble import build_manifest
from tagfactory.compiler.manifest import Manifest
from tagfactory.compiler.project import load_project
from tagfactory.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lineage_manifest() -> Manifest:
    """The shipped definitions' manifest."""
    project, _ = load_project(REPO / "tag_definitions")
    return build_manifest(project, REPO / "tag_definitions")


@pytest.fixture
def lineage_settings(tmp_path: Path) -> Any:
    """Settings with a temporary warehouse and loopback metastore and broker addresses (nothing is started)."""
    return load_settings(None, {"warehouse": str(tmp_path / "warehouse"),
                                "hive": {"metastore_uri": "thrift://127.0.0.1:9083"},
                                "kafka": {"bootstrap_servers": "127.0.0.1:9092"}})
