"""Unit tests for tagfactory.lineage: event mapping, the emitter and dataset naming (no Spark)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.client import OpenLineageClient
from openlineage.client.event_v2 import RunState
from openlineage.client.transport import Transport

from tagfactory.lineage import (
    DatasetRef,
    LineageEmitter,
    ParentRun,
    RunSpec,
    as_run_id,
    build_run_event,
    configured_by_environment,
    dataset_for_uri,
    fields_from_schema,
)

ORDERS = DatasetRef(
    "file", "/lake/raw/orders", fields=[("user_id", "bigint"), ("amount", "double")]
)
PROFILES = DatasetRef(
    "file",
    "/lake/warehouse/profiles",
    fields=[("user_id", "bigint"), ("n_orders_7d", "bigint"), ("dt", "string")],
    storage_layer="delta",
    file_format="parquet",
)


@pytest.fixture(autouse=True)
def _isolated_openlineage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's OpenLineage settings (env, ./openlineage.yml, ~/.openlineage) out."""
    import os

    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines lineage file, parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def schema_names(dataset: dict[str, Any]) -> list[str]:
    return [f["name"] for f in dataset["facets"]["schema"]["fields"]]


# --- the emitter -------------------------------------------------------------------------------


def test_start_and_complete_share_run_id_and_carry_datasets(tmp_path: Path) -> None:
    log_file = tmp_path / "not" / "yet" / "lineage.jsonl"  # parent folders are created
    emitter = LineageEmitter.from_config(default_file=log_file)

    with emitter.run(
        "profile_build.daily", [ORDERS], [PROFILES], parameters={"snapshot_date": date(2026, 1, 31)}
    ) as run:
        run.set_outputs([PROFILES.with_stats(row_count=1234, size_bytes=5678, version=7)])

    start, complete = read_events(log_file)
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"] == run.run_id
    uuid.UUID(run.run_id)
    for event in (start, complete):
        assert event["job"] == event["job"] | {
            "namespace": "tagfactory",
            "name": "profile_build.daily",
        }
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
            ("file", "/lake/raw/orders")
        ]
        assert schema_names(event["inputs"][0]) == ["user_id", "amount"]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
            ("file", "/lake/warehouse/profiles")
        ]
        assert schema_names(event["outputs"][0]) == ["user_id", "n_orders_7d", "dt"]
        assert event["outputs"][0]["facets"]["storage"]["storageLayer"] == "delta"
        assert event["run"]["facets"]["executionParameters"]["parameters"] == [
            {"key": "snapshot_date", "value": "2026-01-31"}
        ]
    # Row counts are only known at the end: they appear in COMPLETE, not in START.
    assert "outputStatistics" not in start["outputs"][0]["outputFacets"]
    stats = complete["outputs"][0]["outputFacets"]["outputStatistics"]
    assert (stats["rowCount"], stats["size"]) == (1234, 5678)
    assert complete["outputs"][0]["facets"]["version"]["datasetVersion"] == "7"
    assert start["eventTime"] <= complete["eventTime"]


def test_events_append_to_the_same_file(tmp_path: Path) -> None:
    log_file = tmp_path / "lineage.jsonl"
    emitter = LineageEmitter.from_config(default_file=log_file)
    for job in ("profile_build.daily", "quality.profiles"):
        with emitter.run(job, [ORDERS], [PROFILES]):
            pass
    assert [e["eventType"] for e in read_events(log_file)] == ["START", "COMPLETE"] * 2


def test_exception_emits_fail_with_error_message_and_is_reraised(tmp_path: Path) -> None:
    log_file = tmp_path / "lineage.jsonl"
    emitter = LineageEmitter.from_config(default_file=log_file)

    with pytest.raises(ValueError, match="snapshot 2026-02-30 is not a date"):
        with emitter.run("profile_build.daily", [ORDERS], [PROFILES]):
            raise ValueError("snapshot 2026-02-30 is not a date")

    start, fail = read_events(log_file)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert start["run"]["runId"] == fail["run"]["runId"]
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"] == "ValueError: snapshot 2026-02-30 is not a date"
    assert error["programmingLanguage"] == "python"
    assert "Traceback" in error["stackTrace"] and "ValueError" in error["stackTrace"]
    assert "errorMessage" not in start["run"]["facets"]


def test_sys_exit_zero_completes_and_keyboard_interrupt_aborts(tmp_path: Path) -> None:
    log_file = tmp_path / "lineage.jsonl"
    emitter = LineageEmitter.from_config(default_file=log_file)
    with pytest.raises(SystemExit):
        with emitter.run("a", [ORDERS]):
            raise SystemExit(0)
    with pytest.raises(SystemExit):
        with emitter.run("b", [ORDERS]):
            raise SystemExit(3)
    with pytest.raises(KeyboardInterrupt):
        with emitter.run("c", [ORDERS]):
            raise KeyboardInterrupt
    assert [(e["job"]["name"], e["eventType"]) for e in read_events(log_file)] == [
        ("a", "START"),
        ("a", "COMPLETE"),
        ("b", "START"),
        ("b", "FAIL"),
        ("c", "START"),
        ("c", "ABORT"),
    ]


def test_disabled_emitter_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_file = tmp_path / "lineage.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")  # even with env configuration
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(log_file))
    emitter = LineageEmitter.from_config(enabled=False, default_file=log_file)
    assert not emitter.enabled

    with emitter.run("profile_build.daily", [ORDERS], [PROFILES]) as run:
        run.set_outputs([PROFILES.with_stats(row_count=1)])
    uuid.UUID(run.run_id)  # jobs can still pass a run id on
    with pytest.raises(RuntimeError, match="job error"):  # errors still propagate
        with emitter.run("profile_build.daily", [ORDERS]):
            raise RuntimeError("job error")

    assert emitter.close() is True
    assert list(tmp_path.glob("lineage*")) == []


def test_openlineage_disabled_variable_turns_lineage_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    emitter = LineageEmitter.from_config(default_file=tmp_path / "lineage.jsonl")
    assert not emitter.enabled


class ExplodingTransport(Transport):
    """A transport whose backend is down."""

    kind = "exploding"

    def emit(self, event: Any) -> None:
        raise ConnectionError("lineage backend is down")


def test_broken_transport_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    emitter = LineageEmitter(OpenLineageClient(transport=ExplodingTransport()))
    with caplog.at_level(logging.WARNING, logger="tagfactory.lineage"):
        with emitter.run("profile_build.daily", [ORDERS], [PROFILES]) as run:
            run.set_outputs([PROFILES.with_stats(row_count=3)])
        with pytest.raises(KeyError):  # the job's own error still wins
            with emitter.run("profile_build.daily", [ORDERS]):
                raise KeyError("user_id")
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 4  # START, COMPLETE, START, FAIL
    assert all("lineage backend is down" in m for m in messages)


def test_unwritable_log_file_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a_directory = tmp_path / "lineage.jsonl"
    a_directory.mkdir()  # the file transport cannot open a directory for appending
    emitter = LineageEmitter.from_config(
        transport={"type": "file", "log_file_path": str(a_directory), "append": True}
    )
    assert emitter.enabled
    with caplog.at_level(logging.WARNING, logger="tagfactory.lineage"):
        with emitter.run("profile_build.daily", [ORDERS]):
            pass
    assert sum("was not sent" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    "transport",
    [
        {"type": "no_such_module.NoSuchTransport"},
        {"log_file_path": "/tmp/x.jsonl"},  # no type
        {"type": "file"},  # no log_file_path
    ],
)
def test_unusable_transport_settings_turn_lineage_off(
    transport: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tagfactory.lineage"):
        emitter = LineageEmitter.from_config(transport=transport)
    assert not emitter.enabled
    assert any("could not be configured" in r.getMessage() for r in caplog.records)
    with emitter.run("profile_build.daily", [ORDERS]):
        pass


def test_environment_configuration_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "from_env" / "lineage.jsonl"
    default_file = tmp_path / "default.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(env_file))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")

    emitter = LineageEmitter.from_config(default_file=default_file)
    with emitter.run("profile_build.daily", [ORDERS], [PROFILES]):
        pass

    assert [e["eventType"] for e in read_events(env_file)] == ["START", "COMPLETE"]
    assert not default_file.exists()


def test_environment_file_transport_without_append_writes_one_file_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # openlineage-python's file transport defaults to append=False: <path>-<timestamp>.json files.
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(tmp_path / "ol" / "events"))
    with LineageEmitter.from_config().run("profile_build.daily", [ORDERS]):
        pass
    files = sorted((tmp_path / "ol").glob("events-*.json"))
    assert [json.loads(f.read_text())["eventType"] for f in files] == ["START", "COMPLETE"]


def test_explicit_transport_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env.jsonl"
    explicit = tmp_path / "explicit.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(env_file))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    settings = {"type": "file", "log_file_path": str(explicit), "append": True, "name": "local"}

    with LineageEmitter.from_config(transport=settings).run("j", [ORDERS]):
        pass

    assert len(read_events(explicit)) == 2
    assert not env_file.exists()
    assert settings["name"] == "local"  # the caller's dict is not mutated


def test_configured_by_environment() -> None:
    assert not configured_by_environment({})
    assert not configured_by_environment({"OPENLINEAGE_NAMESPACE": "x"})
    assert configured_by_environment({"OPENLINEAGE__TRANSPORT__TYPE": "console"})
    assert configured_by_environment({"OPENLINEAGE__TRANSPORT": '{"type": "console"}'})
    assert configured_by_environment({"OPENLINEAGE_URL": "http://127.0.0.1:5000"})
    assert configured_by_environment({"OPENLINEAGE_CONFIG": "/etc/openlineage.yml"})


def test_parent_run_from_airflow_and_stable_run_ids(tmp_path: Path) -> None:
    log_file = tmp_path / "lineage.jsonl"
    parent = ParentRun.parse(
        "airflow/tag_factory_daily.build_profiles/scheduled__2026-01-31T00:00:00+00:00",
        root_parent_id="airflow/tag_factory_daily/01a21204-68be-735c-8976-15dd2f920a47",
    )
    assert (
        parent.run_id
        == ParentRun.parse(
            "airflow/tag_factory_daily.build_profiles/scheduled__2026-01-31T00:00:00+00:00"
        ).run_id
    )
    with LineageEmitter.from_config(default_file=log_file).run(
        "profile_build.daily", [ORDERS], run_id="manual__2026-01-31", parent=parent
    ) as run:
        pass

    assert run.run_id == as_run_id("manual__2026-01-31", scope="tagfactory/profile_build.daily")
    facet = read_events(log_file)[0]["run"]["facets"]["parent"]
    assert facet["job"] == {
        "namespace": "airflow",
        "name": "tag_factory_daily.build_profiles",
        "facets": {},
    }
    assert facet["run"]["runId"] == parent.run_id
    assert facet["root"]["run"]["runId"] == "01a21204-68be-735c-8976-15dd2f920a47"
    assert facet["root"]["job"]["name"] == "tag_factory_daily"
    with pytest.raises(ValueError, match="namespace/job_name/run_id"):
        ParentRun.parse("just-a-run-id")


def test_run_facets_added_through_the_handle_reach_the_final_event(tmp_path: Path) -> None:
    from openlineage.client.facet_v2 import processing_engine_run

    log_file = tmp_path / "lineage.jsonl"
    with LineageEmitter.from_config(default_file=log_file).run("j", [ORDERS]) as run:
        run.add_run_facet(
            "processing_engine",
            processing_engine_run.ProcessingEngineRunFacet(version="4.2.0", name="spark"),
        )
    start, complete = read_events(log_file)
    assert "processing_engine" not in start["run"]["facets"]
    assert complete["run"]["facets"]["processing_engine"]["name"] == "spark"


# --- pure mapping ------------------------------------------------------------------------------


def test_build_run_event_is_pure_and_serialisable() -> None:
    from openlineage.client.serde import Serde

    spec = RunSpec(
        job_namespace="tagfactory",
        job_name="profile_build.daily",
        run_id=as_run_id(None),
        nominal_time=date(2026, 1, 31),
        sql="SELECT user_id, count(*) AS n FROM orders GROUP BY user_id",
    )
    event = build_run_event(spec, RunState.COMPLETE, [ORDERS], [PROFILES.with_stats(row_count=5)])
    data = json.loads(Serde.to_json(event))
    assert data["eventType"] == "COMPLETE"
    assert data["job"]["facets"]["sql"]["query"].startswith("SELECT user_id")
    assert data["job"]["facets"]["jobType"]["processingType"] == "BATCH"
    assert data["run"]["facets"]["nominalTime"] == {
        "_producer": "https://github.com/lakehouse-tag-factory/tagfactory",
        "_schemaURL": data["run"]["facets"]["nominalTime"]["_schemaURL"],
        "nominalStartTime": "2026-01-31T00:00:00+00:00",
        "nominalEndTime": "2026-02-01T00:00:00+00:00",
    }
    ordinal = [f["ordinal_position"] for f in data["outputs"][0]["facets"]["schema"]["fields"]]
    assert ordinal == [1, 2, 3]
    assert data["producer"] == "https://github.com/lakehouse-tag-factory/tagfactory"


def test_as_run_id() -> None:
    fixed = "01a21204-68be-735c-8976-15dd2f920a47"
    assert as_run_id(fixed) == fixed
    assert as_run_id(uuid.UUID(fixed)) == fixed
    assert as_run_id("scheduled__x", scope="a") == as_run_id("scheduled__x", scope="a")
    assert as_run_id("scheduled__x", scope="a") != as_run_id("scheduled__x", scope="b")
    assert as_run_id(None) != as_run_id(None)


def test_dataset_ref_is_immutable_and_validated() -> None:
    ref = DatasetRef("file", "/lake/t", fields=[("a", "int")])
    assert ref.fields == (("a", "int"),)
    assert hash(ref) == hash(DatasetRef("file", "/lake/t", fields=(("a", "int"),)))
    assert ref.with_stats(row_count=2).row_count == 2 and ref.row_count is None
    with pytest.raises(ValueError, match="dataset_for_uri"):
        DatasetRef("", "/lake/t")


# --- dataset naming ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("/lake/warehouse/profiles", "file", "/lake/warehouse/profiles"),
        ("/lake/warehouse/profiles/", "file", "/lake/warehouse/profiles"),
        ("file:///lake/warehouse/profiles", "file", "/lake/warehouse/profiles"),
        ("file:/lake/warehouse/profiles", "file", "/lake/warehouse/profiles"),  # Hadoop style
        ("file://localhost/lake/warehouse/profiles", "file", "/lake/warehouse/profiles"),
        ("file:///lake/my%20tables/profiles", "file", "/lake/my tables/profiles"),
        ("file://nas01/lake/warehouse/profiles", "file://nas01", "/lake/warehouse/profiles"),
        ("hdfs://namenode:8020/warehouse/profiles", "hdfs://namenode:8020", "/warehouse/profiles"),
        ("hdfs://namenode:8020/warehouse/profiles/", "hdfs://namenode:8020", "/warehouse/profiles"),
        ("hdfs:///warehouse/profiles", "hdfs", "/warehouse/profiles"),  # default file system
        ("s3://bucket/warehouse/profiles", "s3://bucket", "warehouse/profiles"),
        ("s3a://bucket/warehouse/profiles/", "s3://bucket", "warehouse/profiles"),
        ("s3n://bucket/warehouse/profiles", "s3://bucket", "warehouse/profiles"),
        ("gs://bucket/warehouse/profiles", "gs://bucket", "warehouse/profiles"),
    ],
)
def test_dataset_for_uri(uri: str, namespace: str, name: str) -> None:
    ref = dataset_for_uri(uri)
    assert (ref.namespace, ref.name) == (namespace, name)


def test_dataset_for_relative_path_and_pathlike(tmp_path: Path) -> None:
    # The autouse fixture made tmp_path the working directory.
    assert dataset_for_uri("warehouse/profiles").name == str(tmp_path / "warehouse" / "profiles")
    ref = dataset_for_uri(
        tmp_path / "profiles", fields=[("user_id", "bigint")], storage_layer="delta"
    )
    assert (ref.namespace, ref.name, ref.fields) == (
        "file",
        str(tmp_path / "profiles"),
        (("user_id", "bigint"),),
    )
    assert ref.storage_layer == "delta"


@pytest.mark.parametrize(
    "uri",
    [
        "hdfs://namenode:8020/warehouse/profiles",
        "s3://bucket/warehouse/profiles",
        "file:///lake/odd%20name%23%3F/profiles",
        "file://nas01/lake/profiles",
    ],
)
def test_dataset_uri_round_trips(uri: str) -> None:
    ref = dataset_for_uri(uri)
    assert ref.uri == uri
    assert dataset_for_uri(ref.uri) == ref


@pytest.mark.parametrize("uri", ["", "   ", "s3a:///warehouse/profiles"])
def test_dataset_for_uri_rejects_unusable_input(uri: str) -> None:
    with pytest.raises(ValueError):
        dataset_for_uri(uri)


def test_fields_from_arrow_and_spark_schemas() -> None:
    pa = pytest.importorskip("pyarrow")
    arrow = pa.schema([("user_id", pa.int64()), ("tags", pa.list_(pa.string()))])
    assert fields_from_schema(arrow) == (("user_id", "int64"), ("tags", "list<item: string>"))

    types = pytest.importorskip("pyspark.sql.types")  # pure Python: no JVM is started
    spark = types.StructType(
        [types.StructField("user_id", types.LongType()), types.StructField("dt", types.DateType())]
    )
    assert fields_from_schema(spark) == (("user_id", "bigint"), ("dt", "date"))
