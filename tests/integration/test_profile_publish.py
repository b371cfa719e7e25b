"""The profile table as a Delta table: re-runs, schema evolution, time travel, failed builds."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from tagfactory.compiler.manifest import Entity
from tagfactory.lakehouse.delta import read_table
from tests.integration.conftest import DATES, EDGE_DATE, REPO, Built, build, compile_to

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NEW_TAG = """
tags:
  - name: big_orders_30d
    display_name: 近30天大额订单数
    description: Completed orders over 500 CNY in the last 30 days.
    owner: test
    category: consumption/orders
    type: integer
    kind: aggregate
    source: orders
    agg: count
    window: 30d
    filter: "status = 'completed' AND amount > 500"
"""

DUPLICATING_SQL_TAG = """
tags:
  - name: broken_sql_tag
    display_name: 坏标签
    description: Returns one row per order instead of one per user.
    owner: test
    category: risk/test
    type: double
    kind: sql
    sql: SELECT user_id, amount AS value FROM orders
"""


def _table(built: Built) -> DeltaTable:
    return DeltaTable(str(built.warehouse / built.entity.profile_table))


def _rows(table: DeltaTable, date: object) -> int:
    return table.to_pyarrow_table(filters=[("dt", "=", date)]).num_rows


def test_both_dates_published_and_readable_by_spark(spark: SparkSession, built: Built) -> None:
    uri = str(built.warehouse / built.entity.profile_table)
    frame = read_table(spark, uri)
    counts = {r["dt"]: r["count"] for r in frame.groupBy("dt").count().collect()}
    table = _table(built)
    assert set(counts) == set(DATES)
    for date in DATES:
        assert counts[date] == _rows(table, date)
    assert table.protocol().min_reader_version == 1
    assert [f.name for f in table.schema().fields] == [c.name for c in built.entity.columns]


def test_stats_table_has_one_row_per_tag_and_date(built: Built) -> None:
    stats = DeltaTable(str(built.warehouse / built.entity.stats_table)).to_pandas()
    assert len(stats) == len(DATES) * len(built.entity.tags)
    one = stats[(stats["tag"] == "orders_30d") & (stats["dt"] == EDGE_DATE)].iloc[0]
    profile = _table(built).to_pandas(filters=[("dt", "=", EDGE_DATE)])
    assert one["rows"] == len(profile)
    assert one["non_null"] == profile["orders_30d"].notna().sum()
    assert one["max_value"] == str(profile["orders_30d"].max())
    assert stats["coverage"].between(0, 1).all()


def test_rerun_replaces_exactly_that_date(spark: SparkSession, built: Built) -> None:
    table = _table(built)
    before_version = table.version()
    other = _table(built).to_pandas(filters=[("dt", "=", DATES[1])])
    rows = _rows(table, EDGE_DATE)
    build(spark, built, built.entity, EDGE_DATE)
    table = _table(built)
    assert table.version() == before_version + 1
    assert _rows(table, EDGE_DATE) == rows  # replaced, not appended
    after_other = table.to_pandas(filters=[("dt", "=", DATES[1])])
    assert after_other.sort_values("user_id").reset_index(drop=True).equals(
        other.sort_values("user_id").reset_index(drop=True))
    history = table.history()
    assert history[0]["snapshot_date"] == EDGE_DATE.isoformat()


def test_time_travel_reads_an_earlier_version(spark: SparkSession, built: Built) -> None:
    uri = str(built.warehouse / built.entity.profile_table)
    first = read_table(spark, uri, version=0)
    assert {r["dt"] for r in first.select("dt").distinct().collect()} == {DATES[0]}
    assert DeltaTable(uri, version=0).to_pyarrow_table().num_rows == first.count()


def _complete_day(built: Built, entity: Entity, start: dt.date) -> dt.date:
    """The latest day <= start for which every partitioned source has data (the gate checks it)."""
    day = start
    parts = [s for s in entity.sources if s.partition_column]
    while not all(any((built.data / s.path / f"{s.partition_column}={day}").glob("*.parquet")) for s in parts):
        day -= dt.timedelta(days=1)
    return day


def test_adding_a_tag_evolves_the_schema(spark: SparkSession, built: Built, tmp_path: Path) -> None:
    definitions = tmp_path / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions", definitions)
    (definitions / "tags" / "new_tag.yaml").write_text(NEW_TAG, encoding="utf-8")
    entity = compile_to(definitions, tmp_path / "target").entities[0]
    new_date = _complete_day(built, entity, DATES[1] - dt.timedelta(days=1))
    build(spark, built, entity, new_date)
    table = _table(built)
    assert "big_orders_30d" in [f.name for f in table.schema().fields]
    new_rows = table.to_pandas(filters=[("dt", "=", new_date)])
    old_rows = table.to_pandas(filters=[("dt", "=", DATES[1])])
    assert new_rows["big_orders_30d"].notna().all()
    assert old_rows["big_orders_30d"].isna().all()  # older snapshots did not have the tag
    spark_new = read_table(spark, str(built.warehouse / entity.profile_table)).where(f"dt = '{new_date}'")
    assert spark_new.where("big_orders_30d IS NULL").count() == 0


@pytest.mark.parametrize("gate", [True, False], ids=["quality-gate", "gate-disabled"])
def test_failed_build_publishes_nothing(spark: SparkSession, built: Built, tmp_path: Path, gate: bool) -> None:
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import BuildError, build_entity
    from tagfactory.quality.failures import QualityGateError

    definitions = tmp_path / "tag_definitions"
    shutil.copytree(REPO / "tag_definitions", definitions)
    (definitions / "tags" / "broken.yaml").write_text(DUPLICATING_SQL_TAG, encoding="utf-8")
    manifest = compile_to(definitions, tmp_path / "target")
    entity = manifest.entities[0]
    before = _table(built)
    version, rows = before.version(), _rows(before, EDGE_DATE)
    settings = built.settings.model_copy(deep=True)
    settings.quality.enabled = gate
    # with the gate the audit finds the repeated keys; without it the publish step's own check does
    expected = (QualityGateError, "`user_id`: expected unique values") if gate else (BuildError, "duplicate `user_id`")
    with pytest.raises(expected[0], match=expected[1]):
        build_entity(spark, settings, entity, EDGE_DATE, LineageEmitter.from_config(False, None, None),
                     manifest.digest, tables=open_store(settings, spark))
    after = _table(built)
    assert after.version() == version
    assert _rows(after, EDGE_DATE) == rows
    staging = built.warehouse / built.entity.profile_table / "_staging"
    assert not staging.exists() or not any(staging.iterdir())


def _as_string(value: object) -> str:
    """A value as Spark's ``CAST(x AS STRING)`` renders it (booleans lower case, dates ISO)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def test_every_tag_statistic_equals_pandas(built: Built) -> None:
    """Every statistic of every tag of one snapshot, recomputed with pandas from the published profile."""
    stats = DeltaTable(str(built.warehouse / built.entity.stats_table)).to_pandas()
    stats = stats[stats["dt"] == EDGE_DATE].set_index("tag")
    profile = _table(built).to_pandas(filters=[("dt", "=", EDGE_DATE)])
    assert len(stats) == len(built.entity.tags)
    for tag in built.entity.tags:
        one, column = stats.loc[tag.name], profile[tag.name]
        values = column.dropna()
        assert (one["rows"], one["non_null"], one["null_count"]) == (
            len(profile), len(values), len(profile) - len(values)), tag.name
        assert one["coverage"] == pytest.approx(len(values) / len(profile)), tag.name
        if tag.type == "array<string>":
            assert one["mean"] == pytest.approx(values.map(len).mean()), tag.name
            continue
        exact = values.map(_as_string).nunique()
        assert abs(one["approx_distinct"] - exact) <= max(2, 0.05 * exact), (tag.name, exact)
        if tag.type in ("integer", "double", "boolean") and len(values):
            assert one["mean"] == pytest.approx(values.astype(float).mean(), rel=1e-9), tag.name
        if tag.type in ("integer", "double") and len(values):
            assert (float(one["min_value"]), float(one["max_value"])) == (values.min(), values.max()), tag.name
        elif tag.type in ("date", "enum", "string", "boolean") and len(values):
            rendered = values.map(_as_string)
            assert (one["min_value"], one["max_value"]) == (rendered.min(), rendered.max()), tag.name
        if tag.type in ("enum", "string", "boolean"):
            counts = values.map(_as_string).value_counts()
            expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            assert json.loads(one["top_values"]) == [[v, int(n)] for v, n in expected], tag.name
