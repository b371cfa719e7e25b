"""Staged runs survive across processes: manifest, verdict, quarantine, publish from quarantine, retention."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from deltalake import DeltaTable

from tagfactory.lakehouse import delta, staging

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def _frame(spark: SparkSession, day: dt.date, n: int = 50):  # type: ignore[no-untyped-def]
    return spark.createDataFrame([(f"u{i}", i * 1.5, day) for i in range(n)], "user_id string, v double, dt date")


def test_manifest_round_trip_and_publish_from_quarantine(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "profile")
    day = dt.date(2026, 11, 24)
    staged = delta.stage(spark, _frame(spark, day), uri, partition_by=["dt"], run_id="run-1")
    staging.save_manifest(staged)

    loaded = staging.load_staged(spark, uri, "run-1")  # as another task would
    assert loaded.rows == staged.rows == 50
    assert [f.num_records for f in loaded.files] == [f.num_records for f in staged.files]
    assert loaded.schema == staged.schema
    assert delta.read_staged(loaded).count() == 50
    assert staging.read_verdict(loaded) is None
    staging.write_verdict(loaded, {"passed": False, "failures": ["x"]})
    assert staging.read_verdict(loaded) == {"passed": False, "failures": ["x"]}

    moved = staging.quarantine(loaded)
    assert not os.path.exists(tmp_path / "profile" / "_staging" / "run-1")
    assert staging.list_quarantined(spark, uri) == ["run-1"]
    with pytest.raises(staging.StagingError, match="no staged run `run-1`"):
        staging.load_staged(spark, uri, "run-1")
    again = staging.load_staged(spark, uri, "run-1", quarantined=True)
    assert again.staging_uri == moved.staging_uri
    assert staging.read_verdict(again) == {"passed": False, "failures": ["x"]}
    assert delta.read_staged(again).count() == 50

    version = delta.commit(again)  # an override publishes the quarantined files
    table = DeltaTable(uri)
    assert version == 0 and table.to_pyarrow_table().num_rows == 50


def test_purge_quarantine_keeps_recent_runs(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "profile")
    for run in ("old", "new"):
        staged = delta.stage(spark, _frame(spark, dt.date(2026, 11, 24), 5), uri, partition_by=["dt"], run_id=run)
        staging.save_manifest(staged)
        staging.quarantine(staged)
    old = tmp_path / "profile" / "_quarantine" / "old"
    past = time.time() - 10 * 86400
    os.utime(old, (past, past))
    removed = staging.purge_quarantine(spark, uri, retention_days=7)
    assert [r.rstrip("/").rsplit("/", 1)[-1] for r in removed] == ["old"]
    assert staging.list_quarantined(spark, uri) == ["new"]


def test_the_manifest_digest_travels_with_the_run(spark: SparkSession, tmp_path: Path) -> None:
    uri = str(tmp_path / "profile")
    staged = delta.stage(spark, _frame(spark, dt.date(2026, 11, 24), 5), uri, partition_by=["dt"], run_id="run-d")
    assert staged.manifest_digest is None
    saved = staging.save_manifest(staged, manifest_digest="abc123")
    assert saved.manifest_digest == staging.staged_digest(saved) == "abc123"
    assert saved.files == staged.files
    loaded = staging.load_staged(spark, uri, "run-d")  # another task reads it from the staging record
    assert loaded.manifest_digest == "abc123"
    assert staging.quarantine(loaded).manifest_digest == "abc123"
    assert staging.load_staged(spark, uri, "run-d", quarantined=True).manifest_digest == "abc123"
