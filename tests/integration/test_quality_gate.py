"""The quality gate on real Spark, Delta and Great Expectations, with planted defects.

A clean day D-1 is built once into a template warehouse. Every scenario copies the generated
sources and that warehouse, plants one defect into day D's data, and builds D through the real
build job. An ``error`` defect must block the publish: the job raises QualityGateError with a
plain message, the profile table stays at its previous version (readable by delta-rs), and the
staged files of a profile-level failure sit in the quarantine. ``warn`` findings publish.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tagfactory.compiler.manifest import Entity
from tests.integration.conftest import EDGE_DATE, REPO, compile_to

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

DAY = EDGE_DATE
PREVIOUS = EDGE_DATE - dt.timedelta(days=1)


@dataclass
class World:
    data: Path
    warehouse: Path
    settings: Any
    entity: Entity
    digest: str

    @property
    def profile(self) -> str:
        return str(self.warehouse / "profile_user")


def _settings(data: Path, warehouse: Path, target: Path) -> Any:
    from tagfactory.settings import load_settings

    return load_settings(overrides={"warehouse": str(warehouse), "sources_root": str(data), "target": str(target),
                                    "definitions": str(REPO / "tag_definitions")})


def _build(spark: SparkSession, world: World, date: dt.date) -> dict[str, Any]:
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import build_entity

    emitter = LineageEmitter.from_config(False, None, None)
    return build_entity(spark, world.settings, world.entity, date, emitter, world.digest,
                        tables=open_store(world.settings, spark), run_id=f"run-{date}")


@pytest.fixture(scope="module")
def template(spark: SparkSession, demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Demo sources plus a warehouse holding the clean snapshot of the previous day."""
    base = tmp_path_factory.mktemp("gate")
    manifest = compile_to(REPO / "tag_definitions", base / "target")
    world = World(demo_data, base / "warehouse", _settings(demo_data, base / "warehouse", base / "target"),
                  manifest.entities[0], manifest.digest)
    _build(spark, world, PREVIOUS)
    return world


@pytest.fixture
def world(template: World, tmp_path: Path) -> World:
    data, warehouse = tmp_path / "data", tmp_path / "warehouse"
    shutil.copytree(template.data, data)
    shutil.copytree(template.warehouse, warehouse)
    return World(data, warehouse, _settings(data, warehouse, tmp_path / "target"), template.entity, template.digest)


def _rewrite(folder: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    """Rewrite every Parquet file under ``folder`` through ``change``."""
    for file in sorted(folder.rglob("*.parquet")):
        table = pq.read_table(file, partitioning=None)
        pq.write_table(change(table), file)


def _set(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


def _assert_blocked(spark: SparkSession, world: World, *messages: str, quarantined: bool) -> str:
    from tagfactory.lakehouse import staging
    from tagfactory.quality.failures import QualityGateError

    before = DeltaTable(world.profile).version()
    with pytest.raises(QualityGateError) as info:
        _build(spark, world, DAY)
    text = str(info.value)
    for message in messages:
        assert message in text, text
    table = DeltaTable(world.profile)
    assert table.version() == before  # nothing committed
    dates = set(table.to_pyarrow_table(columns=["dt"]).column("dt").to_pylist())
    assert dates == {PREVIOUS}  # the previous snapshot is still current and readable
    assert (staging.list_quarantined(spark, world.profile) == [f"run-{DAY}"]) == quarantined
    return text


def test_clean_snapshot_publishes_and_results_are_recorded(spark: SparkSession, world: World) -> None:
    result = _build(spark, world, DAY)
    table = DeltaTable(world.profile)
    assert table.version() == result["version"]
    assert set(table.to_pyarrow_table(columns=["dt"]).column("dt").to_pylist()) == {PREVIOUS, DAY}
    results = DeltaTable(str(world.warehouse / "quality_results")).to_pyarrow_table().to_pylist()
    today = [r for r in results if r["dt"] == DAY and r["dataset"] == "profile_user"]
    names = {r["expectation"] for r in today}
    # generated, declared and previous-snapshot checks all ran, and all passed
    assert {"user_id.not_null", "user_id.unique", "value_tier.in_allowed_values", "orders_30d.range",
            "table.row_count_change", "value_tier.drift"} <= names
    assert all(r["success"] for r in today if r["severity"] == "error")
    assert {r["run_id"] for r in today} == {f"run-{DAY}"}
    sources = {r["dataset"] for r in results if r["dt"] == DAY}
    assert {"source:orders", "source:users", "source:events"} <= sources
    docs = world.warehouse / "_quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.is_file() and "profile_user" in docs.read_text(encoding="utf-8")


def test_null_source_key_blocks(spark: SparkSession, world: World) -> None:
    _rewrite(world.data / "orders" / f"dt={DAY}",
             lambda t: _set(t, "user_id", pa.array([None] * 3 + t.column("user_id").to_pylist()[3:], pa.string())))
    _assert_blocked(spark, world, "source checks failed", "`user_id`: expected no nulls, found 3",
                    quarantined=False)


def test_missing_source_partition_blocks(spark: SparkSession, world: World) -> None:
    shutil.rmtree(world.data / "orders" / f"dt={DAY}")
    _assert_blocked(spark, world, "source orders: the partition for the snapshot date is missing or has 0 rows",
                    quarantined=False)


def test_out_of_range_tag_value_blocks(spark: SparkSession, world: World) -> None:
    folder = world.data / "orders" / f"dt={DAY}"
    sample = pq.read_table(next(folder.rglob("*.parquet")), partitioning=None)
    row = sample.slice(0, 1).to_pylist()[0]
    many = [{**row, "order_id": f"bulk-{i}", "status": "completed"} for i in range(1001)]
    pq.write_table(pa.Table.from_pylist(many, schema=sample.schema), folder / "bulk.parquet")
    text = _assert_blocked(spark, world, "`orders_30d`: 1 values", "outside [0, 1000]", quarantined=True)
    assert "tagfactory publish --entity user" in text and "--override-gate" in text


def test_half_the_population_missing_blocks(spark: SparkSession, world: World) -> None:
    _rewrite(world.data / "users", lambda t: t.slice(0, t.num_rows // 2))
    _assert_blocked(spark, world, "table: ", "max change 30%", quarantined=True)


def test_drifted_distribution_blocks(spark: SparkSession, world: World) -> None:
    # a currency switch: every amount arrives in a currency worth 8 times less
    _rewrite(world.data / "orders", lambda t: _set(t, "amount", pc.multiply(t.column("amount"), 8.0)))
    text = _assert_blocked(spark, world, "`value_tier`: distribution drifted from the previous snapshot",
                           quarantined=True)
    assert "WARN  `gmv_365d`: distribution drifted" in text  # the warn-level drift is reported too


def test_warn_findings_publish(spark: SparkSession, world: World) -> None:
    # birthdays lost for most users: age coverage is a `warn` check (coverage_min 0.5)
    def drop_birthdays(t: pa.Table) -> pa.Table:
        n = t.num_rows
        keep = [v if i % 5 == 0 else None for i, v in enumerate(t.column("birthday").to_pylist())]
        return _set(t, "birthday", pa.array(keep, t.schema.field("birthday").type)) if n else t

    _rewrite(world.data / "users", drop_birthdays)
    _build(spark, world, DAY)
    assert DAY in set(DeltaTable(world.profile).to_pyarrow_table(columns=["dt"]).column("dt").to_pylist())
    rows = DeltaTable(str(world.warehouse / "quality_results")).to_pyarrow_table().to_pylist()
    age = [r for r in rows if r["dt"] == DAY and r["expectation"] == "age.coverage"]
    assert len(age) == 1 and age[0]["severity"] == "warn" and age[0]["success"] is False


def test_override_publishes_a_quarantined_run_and_is_recorded(spark: SparkSession, world: World) -> None:
    from tagfactory.lakehouse.store import open_store
    from tagfactory.pipeline.job import publish_staged

    _rewrite(world.data / "users", lambda t: t.slice(0, t.num_rows // 2))
    _assert_blocked(spark, world, "max change 30%", quarantined=True)
    tables = open_store(world.settings, spark)
    with pytest.raises(ValueError, match="at least 10 characters"):
        publish_staged(spark, world.settings, world.entity, DAY, None, world.digest, tables=tables,
                       override_reason="ok", actor="qa")
    result = publish_staged(spark, world.settings, world.entity, DAY, None, world.digest, tables=tables,
                            override_reason="half the users were archived on purpose (TICKET-42)", actor="qa")
    table = DeltaTable(world.profile)
    assert table.version() == result["version"]
    assert DAY in set(table.to_pyarrow_table(columns=["dt"]).column("dt").to_pylist())
    assert table.history(1)[0].get("gate_override") == "half the users were archived on purpose (TICKET-42)"
    rows = DeltaTable(str(world.warehouse / "quality_results")).to_pyarrow_table().to_pylist()
    override = [r for r in rows if r["expectation"] == "__override__"]
    assert len(override) == 1 and '"by": "qa"' in override[0]["details"] and "TICKET-42" in override[0]["details"]
    assert "row" in override[0]["observed_value"]  # the overridden failures are listed
