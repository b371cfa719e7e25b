"""Golden tests: definitions -> compiled Spark SQL, one case per tag kind.

``tests/fixtures/golden/<case>.yaml`` (tags, compiled with the repository's source
declarations) must compile to exactly ``<case>.sql``. After an intended compiler change, review
the diff and regenerate with ``UPDATE_GOLDEN=1 pytest tests/unit/test_golden_compile.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from tagfactory.compiler.compile import compile_project
from tagfactory.compiler.project import load_project
from tests.unit.definitions import REPO, definitions_with

GOLDEN = REPO / "tests" / "fixtures" / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))


def _compile(case: str, tmp_path: Path) -> str:
    project, _ = load_project(definitions_with(tmp_path, GOLDEN / f"{case}.yaml"))
    return compile_project(project)["user"].sql + "\n"


@pytest.mark.parametrize("case", CASES)
def test_golden_sql(case: str, tmp_path: Path) -> None:
    sql = _compile(case, tmp_path)
    expected_file = GOLDEN / f"{case}.sql"
    if os.environ.get("UPDATE_GOLDEN") or not expected_file.exists():
        expected_file.write_text(sql, encoding="utf-8")
    assert sql == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES)
def test_golden_sql_is_valid_spark_sql(case: str) -> None:
    """The pinned SQL parses back in the Spark dialect (guards hand edits of the .sql files)."""
    sqlglot.parse_one((GOLDEN / f"{case}.sql").read_text(encoding="utf-8"), read="spark")


def test_every_kind_and_aggregation_is_covered() -> None:
    text = "".join((GOLDEN / f"{c}.yaml").read_text(encoding="utf-8") for c in CASES)
    for kind in ("attribute", "aggregate", "rule", "derived", "sql"):
        assert f"kind: {kind}" in text
    for agg in ("count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "mode",
                "distinct_values", "days_since_last"):
        assert f"agg: {agg}\n" in text
