"""Delta I/O against the real things: local Spark writes, delta-rs commits and reads back.

Every table is checked with two independent readers: delta-rs (``DeltaTable.to_pyarrow_table``)
and Spark (``read_table``); the stats test reads the Parquet files with pyarrow as the oracle.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tagfactory.lakehouse.delta import (
    DeltaPublishError,
    commit,
    discard,
    merge_schemas,
    publish_partition,
    read_staged,
    read_table,
    stage,
    table_history,
    table_version,
)
from tagfactory.lakehouse.paths import TableLocation

D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)
PROFILE = "user_id long, a long, b string, dt date"

Row = dict[str, Any]


def _frame(spark: Any, rows: list[tuple[Any, ...]], schema: str = PROFILE) -> Any:
    return spark.createDataFrame(rows, schema)


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r["dt"], r["user_id"]))


def _as_rows(rows: list[tuple[Any, ...]], schema: str = PROFILE) -> list[Row]:
    names = [part.split()[0] for part in schema.split(",")]
    return _sorted([dict(zip(names, row, strict=True)) for row in rows])


def _spark_rows(spark: Any, uri: str, **kw: Any) -> list[Row]:
    return _sorted([r.asDict() for r in read_table(spark, uri, **kw).collect()])


def _delta_rows(path: Path) -> list[Row]:
    return _sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist())


@pytest.mark.spark
def test_first_publish_creates_a_table_both_readers_see(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile"
    rows = [(1, 10, "x", D1), (2, None, "y", D1), (3, 30, None, D2)]

    result = publish_partition(spark, _frame(spark, rows), str(path))

    assert (result.version, result.rows) == (0, 3)
    assert result.files >= 2 and result.bytes > 0 and result.seconds > 0
    table = DeltaTable(str(path))
    assert (table.protocol().min_reader_version, table.protocol().min_writer_version) == (1, 2)
    assert table.metadata().partition_columns == ["dt"]
    arrow_schema = table.to_pyarrow_table().schema
    assert [(f.name, str(f.type)) for f in arrow_schema] == [
        ("user_id", "int64"),
        ("a", "int64"),
        ("b", "string"),
        ("dt", "date32[day]"),
    ]
    assert _delta_rows(path) == _as_rows(rows)

    df = read_table(spark, str(path))
    assert df.dtypes == [("user_id", "bigint"), ("a", "bigint"), ("b", "string"), ("dt", "date")]
    assert _spark_rows(spark, str(path)) == _as_rows(rows)
    assert list((path / "_staging").iterdir()) == []


@pytest.mark.spark
def test_republishing_a_date_replaces_only_that_date(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile"
    publish_partition(
        spark, _frame(spark, [(1, 1, "x", D1), (2, 2, "y", D1), (3, 3, "z", D2)]), str(path)
    )
    new_d1 = [(7, 70, "new", D1)]
    meta = {"job_name": "user_profile", "snapshot_date": "2024-01-01"}

    first = publish_partition(spark, _frame(spark, new_d1), str(path), commit_metadata=meta)
    again = publish_partition(
        spark, _frame(spark, new_d1), str(path), commit_metadata=meta, run_id="rerun-1"
    )

    assert (first.version, again.version, table_version(str(path))) == (1, 2, 2)
    expected = _as_rows([*new_d1, (3, 3, "z", D2)])
    assert _delta_rows(path) == expected
    assert _spark_rows(spark, str(path)) == expected
    history = table_history(str(path))
    assert [h["version"] for h in history] == [2, 1, 0]
    assert history[0]["run_id"] == "rerun-1"
    assert {k: history[0][k] for k in meta} == meta
    assert history[0]["operationParameters"]["mode"] == "Overwrite"


@pytest.mark.spark
def test_several_dates_are_replaced_in_one_commit(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile"
    publish_partition(
        spark, _frame(spark, [(1, 1, "a", D1), (2, 2, "b", D2), (3, 3, "c", D3)]), str(path)
    )

    result = publish_partition(
        spark, _frame(spark, [(10, 1, "A", D1), (30, 3, "C", D3)]), str(path)
    )

    assert result.version == 1
    expected = _as_rows([(10, 1, "A", D1), (2, 2, "b", D2), (30, 3, "C", D3)])
    assert _delta_rows(path) == expected
    assert _spark_rows(spark, str(path)) == expected


@pytest.mark.spark
def test_time_travel_reads_the_old_version(spark: Any, tmp_path: Path) -> None:
    uri = str(tmp_path / "profile")
    old = [(1, 1, "old", D1)]
    publish_partition(spark, _frame(spark, old), uri)
    publish_partition(spark, _frame(spark, [(2, 2, "new", D1)]), uri)

    assert _spark_rows(spark, uri, version=0) == _as_rows(old)
    assert _spark_rows(spark, uri)[0]["b"] == "new"


@pytest.mark.spark
def test_a_table_without_files_reads_as_an_empty_frame(spark: Any, tmp_path: Path) -> None:
    uri = str(tmp_path / "empty")
    schema = pa.schema([("user_id", pa.int64()), ("dt", pa.date32())])
    DeltaTable.create(uri, schema, partition_by=["dt"])

    df = read_table(spark, uri)

    assert df.dtypes == [("user_id", "bigint"), ("dt", "date")]
    assert df.count() == 0


@pytest.mark.spark
def test_schema_evolution_adds_new_columns_and_keeps_dropped_ones(
    spark: Any, tmp_path: Path
) -> None:
    path = tmp_path / "profile"
    uri = path.as_uri()  # file:// spelling goes through the same code path
    publish_partition(spark, _frame(spark, [(1, 1, "x", D1)]), uri)

    with_c = "user_id long, a long, b string, c double, dt date"
    publish_partition(spark, _frame(spark, [(2, 2, "y", 2.5, D2)], with_c), uri)
    without_b = "user_id long, a long, c double, dt date"
    last = publish_partition(spark, _frame(spark, [(3, 3, 3.5, D3)], without_b), uri)

    assert last.version == 2
    table = DeltaTable(str(path))
    assert [f.name for f in table.schema().fields] == ["user_id", "a", "b", "dt", "c"]
    expected = [
        {"user_id": 1, "a": 1, "b": "x", "dt": D1, "c": None},
        {"user_id": 2, "a": 2, "b": "y", "dt": D2, "c": 2.5},
        {"user_id": 3, "a": 3, "b": None, "dt": D3, "c": 3.5},
    ]
    assert _delta_rows(path) == expected
    assert _spark_rows(spark, uri) == expected
    assert read_table(spark, uri).columns == ["user_id", "a", "b", "dt", "c"]

    changed_type = "user_id long, a string, dt date"
    with pytest.raises(DeltaPublishError, match=r"Column 'a' .* cast it in the query"):
        publish_partition(spark, _frame(spark, [(4, "4", D3)], changed_type), uri)
    assert table_version(uri) == 2


@pytest.mark.spark
def test_append_mode_with_a_new_column(spark: Any, tmp_path: Path) -> None:
    uri = str(tmp_path / "events")
    publish_partition(spark, _frame(spark, [(1, 1, "x", D1)]), uri)
    with_z = "user_id long, a long, b string, z string, dt date"

    result = publish_partition(
        spark, _frame(spark, [(2, 2, "y", "zz", D1)], with_z), uri, mode="append"
    )

    assert result.version == 2  # delta-rs needs a separate add-columns commit first
    assert _spark_rows(spark, uri) == [
        {"user_id": 1, "a": 1, "b": "x", "dt": D1, "z": None},
        {"user_id": 2, "a": 2, "b": "y", "dt": D1, "z": "zz"},
    ]


@pytest.mark.spark
def test_staged_data_is_invisible_until_commit(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile"
    uri = str(path)
    first = stage(spark, _frame(spark, [(1, 1, "x", D1)]), uri)
    assert table_version(uri) is None and not DeltaTable.is_deltatable(uri)
    assert commit(first) == 0

    d2 = [(2, 2, "y", D2), (3, None, None, D2)]
    staged = stage(spark, _frame(spark, d2), uri, run_id="audit-me")

    assert staged.rows == 2 and staged.staging_uri.endswith("/_staging/audit-me")
    assert {tuple(f.partition_values.items()) for f in staged.files} == {(("dt", "2024-01-02"),)}
    assert table_version(uri) == 0
    assert _delta_rows(path) == _as_rows([(1, 1, "x", D1)])
    assert _spark_rows(spark, uri) == _as_rows([(1, 1, "x", D1)])
    assert _sorted([r.asDict() for r in read_staged(staged).collect()]) == _as_rows(d2)

    discard(staged)
    assert not (path / "_staging" / "audit-me").exists()
    assert table_version(uri) == 0 and not (path / "dt=2024-01-02").exists()

    again = stage(spark, _frame(spark, d2), uri)
    assert commit(again, commit_metadata={"job_name": "audited"}) == 1
    assert _delta_rows(path) == _as_rows([(1, 1, "x", D1), *d2])


@pytest.mark.spark
def test_a_failed_commit_publishes_nothing_and_can_be_retried(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "profile"
    staged = stage(spark, _frame(spark, [(1, 1, "x", D1)]), str(path))
    (path / "_delta_log").write_text("not a folder")  # delta-rs cannot write its log

    with pytest.raises(DeltaPublishError, match="Nothing was published .* retry commit"):
        commit(staged)

    assert all(Path(f.path.removeprefix("file:")).exists() for f in staged.files)
    assert list(path.glob("dt=*/*.parquet")) == []
    (path / "_delta_log").unlink()
    assert commit(staged) == 0
    assert _delta_rows(path) == _as_rows([(1, 1, "x", D1)])


@pytest.mark.spark
def test_user_errors_are_explained(spark: Any, tmp_path: Path) -> None:
    uri = str(tmp_path / "profile")
    no_dt = spark.createDataFrame([(1,)], "user_id long")
    with pytest.raises(DeltaPublishError, match=r"Partition column\(s\) \['dt'\] are not in"):
        stage(spark, no_dt, uri)
    with pytest.raises(DeltaPublishError, match="not a plain folder name"):
        stage(spark, _frame(spark, []), uri, run_id="../escape")
    with pytest.raises(DeltaPublishError, match="staged no rows"):
        commit(stage(spark, _frame(spark, []), uri))
    assert table_version(uri) is None


@pytest.mark.spark
def test_one_known_partition_is_staged_like_a_partitioned_write(spark: Any, tmp_path: Path) -> None:
    rows = [(1, 1, "x", D2), (2, None, None, D2)]
    routed = stage(spark, _frame(spark, rows), str(tmp_path / "routed"))
    direct = stage(spark, _frame(spark, rows).drop("dt"), str(tmp_path / "direct"),
                   partition_values={"dt": D2})

    assert direct.schema == routed.schema and direct.rows == routed.rows == 2
    assert {tuple(f.partition_values.items()) for f in direct.files} == {(("dt", "2024-01-02"),)}
    assert _sorted([r.asDict() for r in read_staged(direct).collect()]) == _as_rows(rows)
    commit(routed)
    commit(direct)
    assert _delta_rows(tmp_path / "direct") == _delta_rows(tmp_path / "routed") == _as_rows(rows)
    assert _spark_rows(spark, str(tmp_path / "direct")) == _as_rows(rows)

    # a value Spark escapes in folder names reads back unchanged; an empty day stages no file
    odd = stage(spark, spark.createDataFrame([(1,)], "user_id long"), str(tmp_path / "odd"),
                partition_by=["k"], partition_values={"k": "a/b=c d%"})
    assert [f.partition_values for f in odd.files] == [{"k": "a/b=c d%"}]
    commit(odd)
    assert DeltaTable(str(tmp_path / "odd")).to_pyarrow_table().to_pylist() == [{"user_id": 1, "k": "a/b=c d%"}]
    empty = stage(spark, _frame(spark, []).drop("dt"), str(tmp_path / "direct"), partition_values={"dt": D2})
    assert empty.files == [] and empty.rows == 0
    commit(empty, empty_partition={"dt": "2024-01-02"})
    assert _delta_rows(tmp_path / "direct") == []

    with pytest.raises(DeltaPublishError, match=r"\['dt'\] are both in the DataFrame"):
        stage(spark, _frame(spark, rows), str(tmp_path / "x"), partition_values={"dt": D2})
    with pytest.raises(DeltaPublishError, match="must give exactly the partition columns"):
        stage(spark, _frame(spark, rows).drop("dt"), str(tmp_path / "x"), partition_values={"day": D2})


@pytest.mark.spark
def test_log_stats_match_the_parquet_files(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "scores"
    long_text = "L" * 40
    ts = datetime(2024, 1, 1, 12, 30, tzinfo=UTC)
    schema = "user_id long, score double, label string, seen timestamp, dt date"
    rows = [
        (1, 0.5, "b", ts, D1),
        (2, None, long_text, None, D1),
        (3, -1.5, None, ts, D2),
        (4, 2.0, "a", ts, D2),
    ]
    publish_partition(spark, _frame(spark, rows, schema).coalesce(1), str(path))

    adds = [
        json.loads(line)["add"]
        for line in (path / "_delta_log" / f"{0:020}.json").read_text().splitlines()
        if '"add"' in line
    ]
    assert sum(json.loads(a["stats"])["numRecords"] for a in adds) == len(rows)
    for add in adds:
        stats = json.loads(add["stats"])
        data = pq.read_table(path / add["path"])
        assert stats["numRecords"] == data.num_rows
        assert stats["nullCount"] == {c: data[c].null_count for c in data.column_names}
        for column in ("user_id", "score"):
            values = [v for v in data[column].to_pylist() if v is not None]
            assert stats["minValues"][column] == min(values)
            assert stats["maxValues"][column] == max(values)
        labels = sorted(v for v in data["label"].to_pylist() if v is not None)
        assert stats["minValues"]["label"] == labels[0][:32]
        assert stats["maxValues"].get("label") == (labels[-1] if len(labels[-1]) <= 32 else None)
        assert "seen" not in stats["minValues"]  # timestamps: null counts only
    assert DeltaTable(str(path)).get_add_actions(flatten=True).num_rows == len(adds)

    expected = _as_rows(rows, schema)
    assert _spark_rows(spark, str(path)) == [
        {**r, "seen": None if r["seen"] is None else r["seen"].replace(tzinfo=None)}
        for r in expected
    ]
    seen = DeltaTable(str(path)).to_pyarrow_table()["seen"]
    assert seen.type == pa.timestamp("us", tz="UTC")
    assert sorted(v for v in seen.to_pylist() if v is not None) == [ts, ts, ts]


def test_merge_schemas_appends_new_columns_and_keeps_missing_ones() -> None:
    def struct(*fields: tuple[str, str]) -> dict[str, Any]:
        return {
            "type": "struct",
            "fields": [{"name": n, "type": t, "nullable": True, "metadata": {}} for n, t in fields],
        }

    table = struct(("user_id", "long"), ("b", "string"), ("dt", "date"))
    merged, added = merge_schemas(
        table, struct(("user_id", "long"), ("c", "double"), ("dt", "date")), "t"
    )

    assert [f["name"] for f in merged["fields"]] == ["user_id", "b", "dt", "c"]
    assert [f["name"] for f in added] == ["c"]
    with pytest.raises(DeltaPublishError, match="letter case"):
        merge_schemas(table, struct(("User_Id", "long")), "t")


@pytest.mark.parametrize(
    ("given", "spark_uri", "delta_uri"),
    [
        ("/data/t/", "file:///data/t", "/data/t"),
        ("file:///data/t", "file:///data/t", "/data/t"),
        ("s3a://bucket/t", "s3a://bucket/t", "s3://bucket/t"),
        ("hdfs://nn:8020/t", "hdfs://nn:8020/t", "hdfs://nn:8020/t"),
    ],
)
def test_table_location_spells_uris_for_spark_and_delta_rs(
    given: str, spark_uri: str, delta_uri: str
) -> None:
    location = TableLocation.parse(given)
    assert (location.spark_uri, location.delta_uri) == (spark_uri, delta_uri)
    assert location.spark_file_uri(f"{delta_uri}/dt=2024-01-01/f.parquet") == (
        f"{spark_uri}/dt=2024-01-01/f.parquet"
    )
