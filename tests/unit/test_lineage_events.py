"""Every kind of OpenLineage event the jobs build validates against the vendored OpenLineage schemas.

The events are built through the functions the jobs call (the table registry datasets, the facet
builders, the emitter's defaults and the export destination datasets) with fake inputs, written by
the file transport, posted to a local HTTP server, and checked with tests/lineage_schema.py.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tagfactory.compiler.export_models import (
    ExcelDestination,
    FilesDestination,
    HiveDestination,
    KafkaDestination,
)
from tagfactory.compiler.manifest import Manifest
from tagfactory.exports.contracts import Delivery, ExportedColumn, Selection
from tagfactory.exports.lineage import destination_dataset, ship_with_lineage
from tagfactory.lineage import LineageEmitter
from tagfactory.pipeline import lineage_refs as refs
from tagfactory.pipeline.runtime import job_lineage
from tests.lineage_schema import validate_event, validate_events_file

REPO = Path(__file__).resolve().parents[2]
DATE = dt.date(2026, 11, 24)
PARENT = "default/tag_factory_daily.build_profiles/01890f3e-0000-7000-8000-000000000001"
ROOT = "default/tag_factory_daily/01890f3e-0000-7000-8000-000000000000"
RESULT_ROWS = [
    {"expectation": "orders_30d.between", "expectation_type": "expect_column_values_to_be_between",
     "column": "orders_30d", "severity": "error", "success": True, "observed_value": "null"},
    {"expectation": "table.row_count", "expectation_type": "expect_table_row_count_to_be_between",
     "column": None, "severity": "warn", "success": False, "observed_value": "1999"},
]


@pytest.fixture(scope="module")
def manifest(lineage_manifest: Manifest) -> Manifest:
    return lineage_manifest


@pytest.fixture
def settings(lineage_settings: Any) -> Any:
    return lineage_settings


def _emitter(path: Path) -> LineageEmitter:
    base = LineageEmitter.from_config(True, None, path)
    return job_lineage(base, "4.2.0", PARENT, ROOT)


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _emit_build_steps(emitter: LineageEmitter, settings: Any, manifest: Manifest) -> None:
    """The four build steps and publish, as pipeline/job.py builds them."""
    entity = manifest.entities[0]
    uris = {s.name: settings.source_uri(s.path) for s in entity.sources}
    sources = refs.source_datasets(entity, uris)
    results = refs.results_dataset(settings)
    facets = refs.build_job_facets(entity, "a build step")
    with emitter.run(f"check_sources.{entity.name}", sources, [results], run_id="r1-check-sources",
                     nominal_time=DATE, job_facets=facets) as run:
        run.set_inputs([refs.with_assertions(s, RESULT_ROWS) for s in sources])
    profile = refs.entity_dataset(settings, entity, entity.profile_table)
    staging = refs.staging_facets(f"{settings.table_uri(entity.profile_table)}/_staging/r1", "r1", entity.profile_table)
    with emitter.run(f"build_profile.{entity.name}", sources, [profile], run_id="r1", nominal_time=DATE,
                     sql=entity.sql, run_facets=staging, job_facets=facets) as run:
        run.set_outputs([profile.with_stats(row_count=2000)])
    with emitter.run(f"audit_profile.{entity.name}", [profile], [results], run_id="r1-audit",
                     run_facets=staging, job_facets=facets) as run:
        run.set_inputs([refs.with_assertions(profile, RESULT_ROWS)])
    stats = [{"tag": t.name, "null_count": 3, "approx_distinct": 7, "non_null": 1997,
              "min_value": "0", "max_value": "12.5"} for t in entity.tags]
    outputs = [profile, refs.entity_dataset(settings, entity, entity.stats_table)]
    with emitter.run(f"publish_profile.{entity.name}", [profile], outputs, run_id="r1-publish",
                     run_facets=staging, job_facets=facets) as run:
        run.set_outputs([refs.with_metrics(profile, 2000, stats, entity).with_stats(row_count=2000, version=3),
                         outputs[1].with_stats(row_count=len(stats), version=3)])


def test_every_build_step_event_validates(tmp_path: Path, settings: Any, manifest: Manifest) -> None:
    path = tmp_path / "events.jsonl"
    _emit_build_steps(_emitter(path), settings, manifest)
    events = _events(path)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        (f"{step}.user", kind) for step in ("check_sources", "build_profile", "audit_profile", "publish_profile")
        for kind in ("START", "COMPLETE")]
    assert validate_events_file(path) == []
    for e in events:
        assert e["run"]["facets"]["parent"]["job"]["name"] == "tag_factory_daily.build_profiles"
        assert e["run"]["facets"]["parent"]["root"]["job"]["name"] == "tag_factory_daily"
        assert e["run"]["facets"]["processing_engine"]["version"] == "4.2.0"
        assert e["job"]["facets"]["jobType"]["integration"] == "SPARK"
        assert e["job"]["facets"]["ownership"]["owners"]
        if e["eventType"] == "COMPLETE":
            assert all("schema" in o["facets"] for o in e["outputs"]), e["job"]["name"]
        # stable names: no run id or staging folder in any dataset name
        assert not any("_staging" in d["name"] or "r1" in d["name"] for d in e["inputs"] + e["outputs"])
    audit = events[5]
    assertions = audit["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions[1] == {"assertion": "row_count_to_be_between", "success": False, "severity": "warn",
                             "name": "table.row_count", "actual": "1999", "params": {}}
    assert audit["run"]["facets"]["tagfactory_staging"]["stagingRunId"] == "r1"
    publish = events[7]
    metrics = publish["outputs"][0]["facets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 2000 and metrics["columnMetrics"]
    assert publish["outputs"][0]["facets"]["version"]["datasetVersion"] == "3"


def test_audience_and_export_events_validate(tmp_path: Path, settings: Any, manifest: Manifest) -> None:
    path = tmp_path / "events.jsonl"
    emitter = _emitter(path)
    entity = manifest.entities[0]
    outputs = [refs.entity_dataset(settings, entity, n) for n in entity.audience_tables.values()]
    with emitter.run("materialize_audiences.user", [refs.entity_dataset(settings, entity, entity.profile_table,
                                                                        version=3)],
                     outputs, sql=entity.audiences_sql) as run:
        run.set_outputs([o.with_stats(row_count=10, version=1) for o in outputs])
    export = manifest.exports[0]
    selection = Selection(export.name, entity.name, DATE, "c0ffee", "/tmp/x", (ExportedColumn("user_id", "string"),),
                          {entity.profile_table: 3, entity.audience_tables["audience_members"]: 1},
                          manifest.digest, 5, {})
    seen: list[str | None] = []
    for dest in (FilesDestination(kind="files", name="drop", path="crm/drops"),
                 HiveDestination(kind="hive", name="hive", database="mart", table="crm"),
                 KafkaDestination(kind="kafka", name="kafka", topic="crm.members"),
                 ExcelDestination(kind="excel", name="xlsx", path="sales/workbooks")):
        def ship(sel: Selection, kind: str = dest.kind, name: str = dest.name) -> Delivery:
            seen.append(sel.lineage_run_id)
            now = dt.datetime.now(dt.UTC)
            return Delivery(name, kind, "somewhere", "delivered", 5, now, now)  # type: ignore[arg-type]
        ship_with_lineage(emitter, settings, export, selection, dest, "r1", ship, manifest)
    assert validate_events_file(path) == []
    events = _events(path)
    assert len(events) == 10 and all(seen)
    named = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    assert named[f"export.{export.name}.drop"]["run"]["runId"] == seen[0]
    hive = named[f"export.{export.name}.hive"]["outputs"][0]
    assert (hive["namespace"], hive["name"]) == ("hive://127.0.0.1:9083", "mart.crm")
    kafka = named[f"export.{export.name}.kafka"]["outputs"][0]
    assert (kafka["namespace"], kafka["name"]) == ("kafka://127.0.0.1:9092", "crm.members")
    versions = {i["name"].rsplit("/", 1)[-1]: i["facets"]["version"]["datasetVersion"]
                for i in named[f"export.{export.name}.drop"]["inputs"]}
    assert versions == {entity.profile_table: "3", entity.audience_tables["audience_members"]: "1"}
    assert destination_dataset(settings, FilesDestination(kind="files", name="d", path="p")).name.endswith("/p")


class _Collector(BaseHTTPRequestHandler):
    posted: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).posted.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    posted: list[dict[str, Any]] = []
    handler = type("Handler", (_Collector,), {"posted": posted})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posted
    finally:
        server.shutdown()
        server.server_close()


def test_http_transport_posts_every_event_and_keeps_the_file(tmp_path: Path, settings: Any, manifest: Manifest,
                                                              http_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, posted = http_server
    path = tmp_path / "events.jsonl"
    base = LineageEmitter.from_config(True, {"type": "http", "url": url, "endpoint": "api/v1/lineage"}, path)
    _emit_build_steps(job_lineage(base, "4.2.0", PARENT, ROOT), settings, manifest)
    assert len(posted) == 8
    assert [validate_event(e) for e in posted] == [[]] * 8
    assert len(_events(path)) == 8


def test_a_dead_http_endpoint_is_a_warning_and_the_event_is_in_the_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    emitter = LineageEmitter.from_config(True, {"type": "http", "url": "http://127.0.0.1:9", "timeout": 0.5,
                                                "retry": {"total": 0}}, path)
    with emitter.run("publish_profile.user", [], []):
        pass
    assert [e["eventType"] for e in _events(path)] == ["START", "COMPLETE"]
    assert "failed to emit" in caplog.text or "was not sent" in caplog.text


def test_console_transport_also_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with LineageEmitter.from_config(True, {"type": "console"}, path).run("audit_profile.user", [], []):
        pass
    assert len(_events(path)) == 2


def test_the_validator_reports_a_broken_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with LineageEmitter.from_config(True, None, path).run("x", [refs.dataset_for_uri("/a")], []):
        pass
    event = _events(path)[0]
    event["run"]["runId"] = "not-a-uuid"
    event["job"]["facets"]["jobType"]["processingType"] = 7
    del event["eventTime"]
    errors = validate_event(event)
    assert any("eventTime" in e for e in errors) and any("jobType" in e for e in errors)
    (tmp_path / "bad.jsonl").write_text(json.dumps(event) + "\n{oops\n")
    assert any(e.startswith("line 2: not JSON") for e in validate_events_file(tmp_path / "bad.jsonl"))
