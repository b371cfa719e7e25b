"""Both Delta writers end to end, and each one's tables read by the other's reader.

* ``writer: native`` (Delta Lake 4.4 on Spark, jars from ``.jars/spark``) runs the same
  write-audit-publish build and the audiences; its rows equal the delta-rs build's, row for row.
* Every table the delta-rs writer produced (profile, tag stats, quality results, the six audience
  tables) is read by Delta Lake on Spark (``format("delta")``, ``VERSION AS OF``,
  ``DESCRIBE HISTORY``) with the same rows delta-rs reads; every table the native writer produced
  is read by delta-rs with the same rows Spark reads.
* A table written by one writer and then overwritten / appended by the other stays valid for both.

Protocol versions and table features are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from deltalake import DeltaTable

from tagfactory.lakehouse import delta
from tagfactory.lakehouse.store import open_store, store_for
from tests.integration.conftest import DATES, Built

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.slow]
LATE = DATES[0]
Row = dict[str, Any]


def _tables(warehouse: Path) -> list[Path]:
    return sorted(p.parent for p in warehouse.glob("*/_delta_log"))


def _canonical(rows: list[Row]) -> list[tuple[Any, ...]]:
    def value(v: Any) -> Any:
        if isinstance(v, dt.datetime):  # delta-rs gives UTC-aware, Spark naive UTC (session zone UTC)
            return v.replace(tzinfo=None)
        if isinstance(v, list):
            return tuple(value(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, value(x)) for k, x in v.items()))
        return v
    return sorted((tuple(sorted((k, value(v)) for k, v in r.items())) for r in rows), key=repr)


def _delta_rs_rows(path: Path, version: int | None = None) -> list[tuple[Any, ...]]:
    return _canonical(DeltaTable(str(path), version=version).to_pyarrow_table().to_pylist())


def _spark_delta_rows(spark: SparkSession, path: Path, version: int | None = None) -> list[tuple[Any, ...]]:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return _canonical([r.asDict(recursive=True) for r in reader.load(str(path)).collect()])


def _protocol(spark: SparkSession, path: Path) -> str:
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    assert detail is not None
    rs = DeltaTable(str(path)).protocol()
    return (f"{path.name}: Spark reader/writer {detail['minReaderVersion']}/{detail['minWriterVersion']} "
            f"features {sorted(detail['tableFeatures'] or [])}; delta-rs sees "
            f"{rs.min_reader_version}/{rs.min_writer_version} {rs.writer_features or []}")


@pytest.fixture(scope="module")
def native_world(spark: SparkSession, built: Built, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The repository's definitions built and materialized with ``writer: native`` (the later test date)."""
    from tagfactory.audiences.materialize import materialize
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import build_entity

    base = tmp_path_factory.mktemp("native")
    settings = built.settings.model_copy(deep=True, update={"writer": "native", "warehouse": str(base / "warehouse")})
    settings.quality.data_docs = False
    emitter = LineageEmitter.from_config(False, None, None)
    results = {}
    tables = open_store(settings, spark)
    results[LATE] = build_entity(spark, settings, built.entity, LATE, emitter, built.digest, tables=tables,
                                 run_id=f"native-{LATE}")
    materialize(spark, settings, tables, built.entity, LATE, f"native-aud-{LATE}", built.target, built.digest)
    return {"warehouse": base / "warehouse", "settings": settings, "results": results}


def test_native_build_publishes_the_same_rows_as_the_delta_rs_build(spark: SparkSession, built: Built,
                                                                   native_world: dict[str, Any]) -> None:
    table = built.entity.profile_table
    native_path, deltars_path = native_world["warehouse"] / table, built.warehouse / table
    native_rows = DeltaTable(str(native_path)).to_pyarrow_table().to_pylist()
    expected = DeltaTable(str(deltars_path)).to_pyarrow_table(filters=[("dt", "=", LATE)]).to_pylist()
    assert len(native_rows) == len(expected) > 0
    assert _canonical(native_rows) == _canonical(expected)
    history = delta.table_history(str(native_path))
    # the native WRITE carries the run id and snapshot date in Delta's userMetadata
    first = [h for h in history if h.get("operation") == "WRITE"][-1]
    assert (first["run_id"], first["snapshot_date"]) == (f"native-{LATE}", LATE.isoformat())
    assert first["version"] == 0


def test_native_audit_ran_and_left_no_staged_files(native_world: dict[str, Any], built: Built) -> None:
    from tagfactory.quality.store import RESULTS_TABLE

    warehouse = native_world["warehouse"]
    results = DeltaTable(str(warehouse / RESULTS_TABLE)).to_pyarrow_table().to_pylist()
    audited = {r["dataset"] for r in results}
    assert built.entity.profile_table in audited and "audience_members_user" in audited
    assert LATE in {r["dt"] for r in results}
    leftovers = [p for p in warehouse.glob("*/_staging/*/*") if p.name != "_audit.json" and p.name != "_staged.json"]
    assert leftovers == []


def test_native_rerun_is_idempotent(spark: SparkSession, built: Built, native_world: dict[str, Any]) -> None:
    from tagfactory.lakehouse.store import open_store
    from tagfactory.lineage import LineageEmitter
    from tagfactory.pipeline.job import build_entity

    path = native_world["warehouse"] / built.entity.profile_table
    before = _delta_rs_rows(path)
    version = DeltaTable(str(path)).version()
    result = build_entity(spark, native_world["settings"], built.entity, LATE,
                          LineageEmitter.from_config(False, None, None), built.digest,
                          tables=open_store(native_world["settings"], spark), run_id=f"native-rerun-{LATE}")
    assert result["version"] == version + 1
    assert _delta_rs_rows(path) == before  # the date was replaced by the same rows, not appended


def test_every_delta_rs_table_is_read_by_delta_on_spark(spark: SparkSession, built: Built,
                                                        native_world: dict[str, Any]) -> None:
    # the audience tables come from the same deltars code path; materialize them into a copy
    from tagfactory.audiences.materialize import materialize

    settings = native_world["settings"].model_copy(deep=True, update={
        "writer": "deltars", "warehouse": str(native_world["warehouse"].parent / "deltars")})
    shutil.copytree(built.warehouse, settings.warehouse)
    materialize(spark, settings, open_store(settings, spark), built.entity, LATE, "deltars-aud", built.target,
                built.digest)
    tables = _tables(Path(settings.warehouse))
    names = {t.name for t in tables}
    assert {"profile_user", "tag_stats_user", "quality_results", "audience_members_user", "audience_changes_user",
            "audience_stats_user", "audience_profile_user", "scene_assignments_user", "scene_stats_user"} <= names
    for path in tables:
        print(_protocol(spark, path))
        assert _spark_delta_rows(spark, path) == _delta_rs_rows(path), path.name
        assert _spark_delta_rows(spark, path, version=0) == _delta_rs_rows(path, version=0), path.name
        history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
        assert len(history) == len(DeltaTable(str(path)).history()), path.name


def test_every_native_table_is_read_by_delta_rs(spark: SparkSession, native_world: dict[str, Any]) -> None:
    tables = _tables(native_world["warehouse"])
    assert {"profile_user", "tag_stats_user", "quality_results", "audience_members_user",
            "scene_assignments_user"} <= {t.name for t in tables}
    for path in tables:
        print(_protocol(spark, path))
        assert _delta_rs_rows(path) == _spark_delta_rows(spark, path), path.name
        assert _delta_rs_rows(path, version=0) == _spark_delta_rows(spark, path, version=0), path.name


@pytest.mark.parametrize("first, second", [("deltars", "native"), ("native", "deltars")])
def test_a_table_written_by_one_writer_stays_valid_after_the_other(spark: SparkSession, tmp_path: Path,
                                                                   first: str, second: str) -> None:
    d1, d2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    uri = str(tmp_path / "t")
    schema = "user_id long, a long, dt date"
    one, other = store_for(first, spark), store_for(second, spark)
    one.publish(spark.createDataFrame([(1, 10, d1), (2, 20, d1)], schema), uri)
    one.publish(spark.createDataFrame([(3, 30, d2)], schema), uri)
    # the other writer replaces d1 (with a new column) and appends to d2
    other.publish(spark.createDataFrame([(1, 11, "x", d1)], "user_id long, a long, b string, dt date"), uri)
    other.publish(spark.createDataFrame([(4, 40, d2)], schema), uri, mode="append")
    expected = _canonical([{"user_id": 1, "a": 11, "b": "x", "dt": d1}, {"user_id": 3, "a": 30, "b": None, "dt": d2},
                           {"user_id": 4, "a": 40, "b": None, "dt": d2}])
    assert _delta_rs_rows(tmp_path / "t") == expected
    assert _spark_delta_rows(spark, tmp_path / "t") == expected
    assert _spark_delta_rows(spark, tmp_path / "t", version=1) == _delta_rs_rows(tmp_path / "t", version=1)
    assert len(DeltaTable(uri).history()) == len(spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").collect()) >= 4
    print(f"{first} then {second}: {_protocol(spark, tmp_path / 't')}")


def _registry_spec(built: Built, table: str) -> Any:
    """The spec of a warehouse table as the manifest lists it (the registry's, the profile with its tags)."""
    specs = {s.name: s for s in [*built.entity.tables, *built.manifest.tables]}
    return specs[table]


def test_tables_the_jobs_write_have_exactly_the_registry_schema(built: Built, native_world: dict[str, Any]) -> None:
    """Every table of both builds (profile, tag stats, quality results, the six audience tables of the
    native world) stores exactly the columns, types, order and partitioning of the table registry."""
    import json

    from pyspark.sql.types import StructType

    from tagfactory.lakehouse.schemas import struct_type

    def fields(schema: StructType) -> list[tuple[str, str, bool]]:
        return [(f.name, f.dataType.simpleString(), f.nullable) for f in schema.fields]

    seen = set()
    for path in _tables(native_world["warehouse"]) + _tables(built.warehouse):
        spec = _registry_spec(built, path.name)
        table = DeltaTable(str(path))
        stored = StructType.fromJson(json.loads(table.schema().to_json()))
        assert fields(stored) == fields(struct_type(spec, storage=True)), path
        assert list(table.metadata().partition_columns) == spec.partition_by, path
        seen.add(path.name)
    assert len(seen) == 9
