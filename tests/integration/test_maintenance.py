"""Table maintenance with both writers: compaction keeps the rows, vacuum keeps time travel inside
the retention and removes only files older than it.

Each table gets many small files over several versions (a date re-published twice, appends), then
is maintained with the default 7-day retention (every file was removed just now, so none may go and
every version must still read back) and then with retention 0 (the replaced files go, the current
rows stay). Rows are compared with what was written, read by delta-rs and by Delta Lake on Spark.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deltalake import DeltaTable

from tagfactory.lakehouse.store import store_for
from tagfactory.pipeline.maintenance import maintain, warehouse_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark]
D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
SCHEMA = "user_id long, a long, dt date"


def _rows(path: Path, version: int | None = None) -> list[dict[str, Any]]:
    return sorted(DeltaTable(str(path), version=version).to_pyarrow_table().to_pylist(),
                  key=lambda r: (r["dt"], r["user_id"]))


def _spark_rows(spark: SparkSession, path: Path) -> list[dict[str, Any]]:
    return sorted((r.asDict() for r in spark.read.format("delta").load(str(path)).collect()),
                  key=lambda r: (r["dt"], r["user_id"]))


def _small_files(spark: SparkSession, path: Path, writer: str) -> dict[int, list[dict[str, Any]]]:
    """Write versions 0..3 in 4-file pieces; returns the rows of every version."""
    uri = str(path)
    tables = store_for(writer, spark)
    versions = {}
    for round_, date in enumerate((D1, D1, D2)):
        frame = spark.createDataFrame([(i, i * 10 + round_, date) for i in range(40)], SCHEMA).repartition(4)
        tables.publish(frame, uri)
        versions[DeltaTable(uri).version()] = _rows(path)
    frame = spark.createDataFrame([(100 + i, 0, D2) for i in range(8)], SCHEMA).repartition(4)
    tables.publish(frame, uri, mode="append")
    versions[DeltaTable(uri).version()] = _rows(path)
    return versions


@pytest.mark.parametrize("writer", ["deltars", "native"])
def test_compaction_and_vacuum_keep_rows_and_time_travel_within_the_retention(
        spark: SparkSession, tmp_path: Path, writer: str) -> None:
    path = tmp_path / "t"
    versions = _small_files(spark, path, writer)
    current = versions[max(versions)]
    files_before = len(DeltaTable(str(path)).file_uris())
    on_disk_before = len(list(path.rglob("*.parquet")))

    (result,) = maintain(store_for(writer, spark), [str(path), str(tmp_path / "missing")], retention_days=7)
    assert result.files_before == files_before > 2
    assert result.files_after == len(DeltaTable(str(path)).file_uris()) == 2  # one file per dt
    assert result.vacuumed == 0  # every removed file is younger than 7 days
    assert _rows(path) == current == _spark_rows(spark, path)
    for version, rows in versions.items():  # time travel inside the retention still works
        assert _rows(path, version) == rows
    assert len(list(path.rglob("*.parquet"))) == on_disk_before + 2

    (result,) = maintain(store_for(writer, spark), [str(path)], retention_days=0)
    assert result.vacuumed == on_disk_before  # all pre-compaction files are unreferenced now
    assert len(list(path.rglob("*.parquet"))) == 2
    assert _rows(path) == current == _spark_rows(spark, path)
    with pytest.raises(Exception):  # noqa: B017 - delta-rs or pyarrow: the old version's files are gone
        _rows(path, 0)


def test_the_manifest_names_every_table_the_jobs_write(tmp_path: Path) -> None:
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.project import load_project
    from tagfactory.settings import load_settings
    from tests.integration.conftest import REPO

    project, _ = load_project(REPO / "tag_definitions")
    manifest = build_manifest(project, REPO / "tag_definitions")
    settings = load_settings(overrides={"warehouse": str(tmp_path)})
    names = {uri.rsplit("/", 1)[-1] for uri in warehouse_tables(manifest, settings)}
    assert names == {"profile_user", "tag_stats_user", "quality_results", "audience_members_user",
                     "audience_changes_user", "audience_stats_user", "audience_profile_user",
                     "scene_assignments_user", "scene_stats_user", "export_receipts", "export_consumption",
                     "effect_exposures_user",
                     "effect_stats_user", "effect_results_user", "effect_health_user"}
