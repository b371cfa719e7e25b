"""The export registry (tagfactory/exports/registry.py, consumption.py): simulated days with
hand-made receipts, acks and consumer-group observations; idle in the listing, the quality
results and the plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tagfactory.cli import main
from tagfactory.compiler.manifest import Export
from tagfactory.contracts.tables import RECEIPTS_TABLE, table_spec
from tagfactory.errors import ExportError
from tagfactory.exports import consumption, registry
from tagfactory.exports.consumption import Consumed, GroupState
from tagfactory.lakehouse.schemas import arrow_schema
from tagfactory.settings import load_settings

DAY1 = dt.date(2026, 11, 1)
N = 14


@pytest.fixture(autouse=True)
def _settings_from_the_test_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make test`` exports TAGFACTORY_WAREHOUSE, TAGFACTORY_EXPORTS_ROOT ...; they would override the
    test's settings file (the environment wins), so the CLI would look for the drop elsewhere."""
    for key in list(os.environ):
        if key.startswith("TAGFACTORY_") and key != "TAGFACTORY_JARS":
            monkeypatch.delenv(key)


def export_of(name: str = "crm_daily", destinations: list[dict[str, Any]] | None = None,
              lifecycle: str = "active") -> Export:
    return Export.model_validate({
        "name": name, "display_name": "CRM daily", "description": "x", "owner": "crm-team", "purpose": "p",
        "consumer": {"system": "crm-platform", "team": "crm-ops", "contact": "crm-ops@example.com"},
        "lifecycle": lifecycle, "entity": "user", "definition": "x.yaml:1",
        "what": {"kind": "members", "audiences": ["a"]},
        "columns": [{"name": "user_id", "origin": "builtin", "ref": "key", "type": "string", "source_type": "string"}],
        "suppression": {}, "schedule": {}, "retention": {"days": 30},
        "destinations": destinations or [{"kind": "files", "name": "drop", "path": "crm/daily"}]})


def receipt(export: str, day: dt.date, destination: str = "drop", status: str = "delivered",
            rows: int = 100) -> dict[str, Any]:
    return {"export": export, "destination": destination, "kind": "files", "content_id": f"c{day:%d}",
            "supersedes": None, "status": status, "rows_selected": rows, "rows_suppressed": 0, "suppressed_by": "{}",
            "rows_expected": rows, "rows_delivered": rows, "files": 1, "bytes": 10, "checksums": "{}",
            "location": "/x", "hash_profiles": "", "source_versions": "{}", "manifest_digest": "d", "run_id": "r",
            "error": None, "started_at": dt.datetime.combine(day, dt.time(5)),
            "finished_at": dt.datetime.combine(day, dt.time(6)), "dt": day}


def daily(export: str, days: int, **kw: Any) -> list[dict[str, Any]]:
    return [receipt(export, DAY1 + dt.timedelta(days=i), **kw) for i in range(days)]


def ack(day: dt.date, at: dt.date, export: str = "crm_daily", destination: str = "drop") -> Consumed:
    return Consumed(export, destination, "files", "ack", "crm-loader", dt.datetime.combine(at, dt.time(7)), day, 100)


def test_deliveries_every_day_and_no_ack_for_n_days_is_idle() -> None:
    x = export_of()
    rows = daily(x.name, 30)
    for day in range(N):  # day 1 .. day 14: younger than N days since the first delivery
        entry = registry.build([x], rows, [], DAY1 + dt.timedelta(days=day), N)[0]
        assert entry.idle is False, day
    entry = registry.build([x], rows, [], DAY1 + dt.timedelta(days=N), N)[0]
    assert entry.idle is True
    assert entry.idle_since == DAY1 and entry.idle_days == N
    assert entry.last_delivery == {"dt": (DAY1 + dt.timedelta(days=N)).isoformat(), "rows": 100,
                                   "status": "delivered", "destination": "drop"}


def test_an_ack_keeps_an_export_alive_for_n_days_then_it_is_idle_since_the_ack() -> None:
    x = export_of()
    rows = daily(x.name, 40)
    acked = [ack(DAY1 + dt.timedelta(days=9), DAY1 + dt.timedelta(days=10))]
    as_of = DAY1 + dt.timedelta(days=20)
    entry = registry.build([x], rows, acked, as_of, N)[0]
    assert entry.idle is False
    assert entry.outlets[0].consumed_by == "crm-loader"
    assert entry.last_consumed == dt.datetime.combine(DAY1 + dt.timedelta(days=10), dt.time(7))
    later = registry.build([x], rows, acked, DAY1 + dt.timedelta(days=10 + N), N)[0]
    assert later.idle is True and later.idle_since == DAY1 + dt.timedelta(days=10)
    # an ack made after the "as of" date does not count yet
    early = registry.build([x], rows, acked, DAY1 + dt.timedelta(days=9), N)[0]
    assert early.last_consumed is None


def test_hive_only_retired_and_never_delivered_exports_are_never_idle() -> None:
    hive = export_of("hive_only", [{"kind": "hive", "name": "h", "database": "d", "table": "t"}])
    retired = export_of("gone", lifecycle="retired")
    fresh = export_of("fresh")
    rows = daily("hive_only", 40) + daily("gone", 40)
    entries = registry.build([hive, retired, fresh], rows, [], DAY1 + dt.timedelta(days=39), N)
    assert [(e.name, e.idle) for e in entries] == [("hive_only", None), ("gone", None), ("fresh", None)]
    assert entries[0].outlets[0].measurable is False
    assert "not measurable" in registry.render_table(entries, DAY1)


def test_failed_deliveries_do_not_start_the_clock() -> None:
    x = export_of()
    rows = daily(x.name, 30, status="failed")
    assert registry.build([x], rows, [], DAY1 + dt.timedelta(days=29), N)[0].idle is None


def test_kafka_groups_that_caught_up_and_moved_count_as_consumed() -> None:
    x = export_of("stream", [{"kind": "kafka", "name": "bus", "topic": "t", "partitions": 2}])
    dest = x.destinations[0]
    now = dt.datetime(2026, 11, 5, 8)
    caught_up = GroupState("popup", {0: 10, 1: 7}, {0: 11, 1: 7})  # one commit marker behind on partition 0
    behind = GroupState("slow", {0: 2}, {0: 11, 1: 7})
    assert caught_up.caught_up and not behind.caught_up and behind.lag == 16
    first = consumption.kafka_observations("stream", dest, [caught_up, behind], [], now)
    assert [(r.consumer, r.rows, r.consumed_at) for r in first] == [("popup", 17, now)]
    # the same offsets later: nothing new was consumed, the old observation stays the last one
    assert consumption.kafka_observations("stream", dest, [caught_up], first, now + dt.timedelta(days=1)) == []
    moved = GroupState("popup", {0: 20, 1: 9}, {0: 21, 1: 9})
    second = consumption.kafka_observations("stream", dest, [moved], first, now + dt.timedelta(days=2))
    assert [r.rows for r in second] == [12]
    rows = [receipt("stream", DAY1 + dt.timedelta(days=i), destination="bus") for i in range(30)]
    entry = registry.build([x], rows, first + second, DAY1 + dt.timedelta(days=10), N)[0]
    assert entry.idle is False and entry.outlets[0].consumed_by == "popup"
    assert registry.build([x], rows, first + second, DAY1 + dt.timedelta(days=6 + N), N)[0].idle is True


def _drop(root: Path, day: dt.date, run: str = "c1", ack_body: dict[str, Any] | None = None) -> Path:
    folder = root / f"dt={day.isoformat()}" / f"run={run}"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_text(json.dumps({"rows": 100}))
    (root / f"dt={day.isoformat()}" / "_LATEST").write_text(f"run={run}")
    if ack_body is not None:
        (folder / "_ACK").write_text(json.dumps(ack_body))
    return folder


def test_acks_are_read_from_the_drop_folders_without_spark(tmp_path: Path) -> None:
    x = export_of()
    _drop(tmp_path, DAY1, ack_body={"consumer": "crm-loader", "acknowledged_at": "2026-11-02T06:10:00Z",
                                    "rows_loaded": 100})
    _drop(tmp_path, DAY1 + dt.timedelta(days=1))
    (tmp_path / "dt=2026-11-02" / "_tmp.run=c9.x").mkdir()
    (tmp_path / "dt=2026-11-02" / "_tmp.run=c9.x" / "_ACK").write_text("{}")  # leftovers are ignored
    acks = consumption.read_acks(x.name, x.destinations[0], str(tmp_path))  # type: ignore[arg-type]
    assert [(a.consumer, a.dt, a.consumed_at, a.rows) for a in acks] == [
        ("crm-loader", DAY1, dt.datetime(2026, 11, 2, 6, 10), 100)]
    assert consumption.read_acks(x.name, x.destinations[0], str(tmp_path / "absent")) == []  # type: ignore[arg-type]


def test_a_malformed_ack_names_the_file_and_the_expected_form() -> None:
    with pytest.raises(ExportError, match=r"/x/_ACK: not an acknowledgement .*acknowledged_at"):
        consumption.parse_ack('{"consumer": "a"}', "/x/_ACK")
    with pytest.raises(ExportError, match="not an acknowledgement"):
        consumption.parse_ack('{"consumer": "a", "acknowledged_at": "2026-11-02", "rows_loaded": -1}', "/x/_ACK")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's definitions compiled once for this module."""
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project
    from tests.unit.definitions import REPO

    project, _ = load_project(REPO / "tag_definitions")
    return Path(write_manifest(build_manifest(project, REPO / "tag_definitions"), tmp_path_factory.mktemp("t")))


def _world(tmp_path: Path, days: int, manifest: Path) -> tuple[Path, Path]:
    """A warehouse with ``days`` daily receipts of crm_high_value_daily, settings and the manifest."""
    config = tmp_path / "settings.yaml"
    config.write_text(f"warehouse: {tmp_path / 'wh'}\nexports_root: {tmp_path / 'drops'}\ntarget: {tmp_path / 't'}\n"
                      f"exports: {{idle_after_days: {N}}}\n")
    rows = daily("crm_high_value_daily", days, destination="crm_sftp")
    write_deltalake(str(tmp_path / "wh" / RECEIPTS_TABLE),
                    pa.Table.from_pylist(rows, schema=arrow_schema(table_spec("export_receipts"))),
                    partition_by=["dt"], mode="append")
    return config, manifest


def _listed(capsys: pytest.CaptureFixture[str], config: Path, manifest: Path, as_of: dt.date) -> dict[str, Any]:
    assert main(["exports", "--format", "json", "--config", str(config), "--manifest", str(manifest),
                 "--as-of", as_of.isoformat()]) == 0
    body = json.loads(capsys.readouterr().out)
    return {x["name"]: x for x in body["exports"]}


def test_the_cli_lists_idle_exports_after_simulated_days_without_consumption(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], compiled: Path) -> None:
    config, manifest = _world(tmp_path, 30, compiled)
    settings = load_settings(config)
    crm = _listed(capsys, config, manifest, DAY1 + dt.timedelta(days=N - 1))["crm_high_value_daily"]
    assert crm["idle"] is False and crm["owner"] == "crm-team" and crm["schedule"] == "daily"
    assert crm["destinations"][0]["kind"] == "files" and crm["destinations"][0]["where"].endswith("crm/high_value")
    assert crm["last_delivery"]["dt"] == (DAY1 + dt.timedelta(days=N - 1)).isoformat()
    listed = _listed(capsys, config, manifest, DAY1 + dt.timedelta(days=N))
    assert listed["crm_high_value_daily"]["idle"] is True
    assert listed["crm_high_value_daily"]["idle_since"] == DAY1.isoformat()
    assert all(x["idle"] is None for n, x in listed.items() if n != "crm_high_value_daily")  # never delivered
    # the consumer acknowledges the drop of day 15 on day 16: not idle any more
    root = Path(settings.export_uri("crm/high_value"))
    _drop(root, DAY1 + dt.timedelta(days=15), ack_body={"consumer": "crm-loader",
                                                        "acknowledged_at": f"{DAY1 + dt.timedelta(days=16)}T06:00:00"})
    listed = _listed(capsys, config, manifest, DAY1 + dt.timedelta(days=20))
    assert listed["crm_high_value_daily"]["idle"] is False
    assert listed["crm_high_value_daily"]["destinations"][0]["consumed_by"] == "crm-loader"
    assert main(["exports", "--config", str(config), "--manifest", str(manifest),
                 "--as-of", str(DAY1 + dt.timedelta(days=16 + N))]) == 0
    assert f"IDLE since {DAY1 + dt.timedelta(days=16)}" in capsys.readouterr().out


def test_the_verify_steps_idle_check_writes_a_warn_quality_result(tmp_path: Path, compiled: Path) -> None:
    config, manifest = _world(tmp_path, 20, compiled)
    settings = load_settings(config)
    from tagfactory.compiler.manifest import read_manifest

    exports = [read_manifest(manifest).export("crm_high_value_daily")]
    day = DAY1 + dt.timedelta(days=19)
    entries = registry.warn_idle(settings, exports, day, "run1", as_of=day)
    assert [e.idle for e in entries] == [True]
    results = DeltaTable(str(tmp_path / "wh" / "quality_results")).to_pyarrow_table().to_pylist()
    assert len(results) == 1
    row = results[0]
    assert (row["dataset"], row["severity"], row["success"], row["dt"]) == (
        "export:crm_high_value_daily", "warn", False, day)
    assert json.loads(row["observed_value"])["idle_since"] == DAY1.isoformat()
    assert set(row) == {c.name for c in table_spec("quality_results").columns}


def test_plan_says_a_changed_export_is_idle(tmp_path: Path, compiled: Path) -> None:
    from tagfactory.compiler.diff import diff_projects
    from tagfactory.compiler.project import load_project
    from tagfactory.compiler.report import render_markdown, render_text
    from tests.unit.test_plan_exports import _head

    config, _ = _world(tmp_path, 20, compiled)
    base = load_project(Path(__file__).resolve().parents[2] / "tag_definitions")[0]
    head = _head(tmp_path, "exports/demo.yaml", "purpose: Daily CRM journeys", "purpose: CRM journeys")
    diff = diff_projects(base, head)
    changed = [x.spec for x in head.exports if x.spec.name in diff.exports]
    diff.idle_exports = registry.idle_for_plan(load_settings(config), changed)
    assert set(diff.idle_exports) == {"crm_high_value_daily"}  # as of today: long after the simulated days
    assert "IDLE: idle since 2026-11-01" in render_text(diff)
    assert "consider retiring it" in render_markdown(diff)
    assert diff.to_dict()["exports"][0]["idle"].startswith("idle since")


def test_the_log_records_an_observation_once(tmp_path: Path) -> None:
    settings = load_settings(None, {"warehouse": str(tmp_path)})
    record = ack(DAY1, DAY1 + dt.timedelta(days=1))
    assert consumption.append_log(settings, [record, record]) == 1
    assert consumption.append_log(settings, [record]) == 0
    assert consumption.read_log(settings) == [record]


def test_the_log_has_the_registry_columns_and_keeps_an_older_logs_schema(tmp_path: Path) -> None:
    settings = load_settings(None, {"warehouse": str(tmp_path / "new")})
    record = ack(DAY1, DAY1 + dt.timedelta(days=1))
    consumption.append_log(settings, [record])
    stored = DeltaTable(settings.table_uri("export_consumption")).schema()
    spec = table_spec("export_consumption")
    assert [f.name for f in stored.fields] == spec.column_names and spec.partition_by == []
    assert {f.name: str(f.type.type) for f in stored.fields if "_at" in f.name} == {
        "consumed_at": "timestamp", "recorded_at": "timestamp"}  # UTC instants, as Spark writes the receipts
    # a log written before the registry listed the table stores naive timestamps: appends keep them
    old = load_settings(None, {"warehouse": str(tmp_path / "old")})
    naive = pa.schema([(f.name, pa.timestamp("us") if f.name.endswith("_at") else f.type)
                       for f in consumption._schema()])
    write_deltalake(old.table_uri("export_consumption"), pa.Table.from_pylist(
        [{**dataclasses.asdict(record), "detail": "{}", "recorded_at": dt.datetime(2026, 11, 2)}],
        schema=naive))
    later = ack(DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2))
    assert consumption.append_log(old, [record, later]) == 1
    assert sorted(consumption.read_log(old), key=lambda r: r.consumed_at) == [record, later]
    assert consumption.read_log(settings) == [record]


def test_the_idle_setting_and_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).exports.idle_after_days == 14
    monkeypatch.setenv("TAGFACTORY_EXPORTS_IDLE_AFTER_DAYS", "30")
    assert load_settings(None).exports.idle_after_days == 30
