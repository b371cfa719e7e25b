"""The Airflow DAG: no import errors, the export task chains, and a full `airflow dags test` run (what
`make demo` runs) publishes a snapshot. A planted defect failing a run at the quality gate, with the
downstream tasks not run, is shown under a real scheduler: tests/integration/test_airflow_scheduler.py.

Runs the real Airflow 3 CLI in a subprocess with its own AIRFLOW_HOME (SQLite metadata DB);
every Spark step goes through SparkSubmitOperator -> spark-submit -> jobs/build_profile.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.integration.conftest import REPO
from tests.lineage_schema import validate_events_file

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

LOGICAL_DATE = dt.date(2026, 11, 24)  # builds the snapshot of the day before


@pytest.fixture(scope="module")
def airflow_env(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("airflow")
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TAGFACTORY", "OPENLINEAGE"))}
    env.update({
        "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        "AIRFLOW_HOME": str(base / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]",
                                                  "extra": {"deploy-mode": "client"}}),
        "TAGFACTORY_WAREHOUSE": str(base / "warehouse"),
        "TAGFACTORY_SOURCES_ROOT": str(demo_data),
        "TAGFACTORY_TARGET": str(base / "target"),
        "TAGFACTORY_PYSPARK_PYTHON": sys.executable,
    })
    _airflow(env, "db", "migrate")
    return env


def _airflow(env: dict[str, str], *args: str, timeout: int = 600, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
    airflow = str(Path(sys.executable).parent / "airflow")
    proc = subprocess.run([airflow, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _json_output(stdout: str) -> list[dict[str, str]]:
    """The JSON the CLI printed (Airflow logs warnings to stdout before it)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(("[", "{"))]
    assert lines, f"no JSON in the CLI output:\n{stdout[-2000:]}"
    return json.loads(lines[-1])


def test_dag_folder_has_no_import_errors(airflow_env: dict[str, str]) -> None:
    proc = _airflow(airflow_env, "dags", "list-import-errors", "-l", "-o", "json")
    assert _json_output(proc.stdout) == []
    listed = _airflow(airflow_env, "dags", "list", "-l", "-o", "json")
    assert "tag_factory_daily" in {d["dag_id"] for d in _json_output(listed.stdout)}


def test_the_dag_has_a_task_chain_per_compiled_export(airflow_env: dict[str, str], tmp_path: Path) -> None:
    from tagfactory.compiler.manifest import read_manifest

    target = tmp_path / "target"
    env = {**airflow_env, "TAGFACTORY_TARGET": str(target)}
    subprocess.run([str(Path(sys.executable).parent / "tagfactory"), "compile", "--target", str(target)], env=env,
                   cwd=REPO, check=True, capture_output=True)
    assert _json_output(_airflow(env, "dags", "list-import-errors", "-l", "-o", "json").stdout) == []
    tasks = set(_airflow(env, "tasks", "list", "tag_factory_daily").stdout.split())
    manifest = read_manifest(target / "manifest.json")
    assert manifest.exports
    for export in manifest.exports:
        chain = {f"export_{export.name}.{step}" for step in ("due", "select", "verify")}
        chain |= {f"export_{export.name}.{d.name}" for d in export.destinations}
        assert chain <= tasks, chain - tasks


def test_a_retired_export_gets_only_the_cleaning_task(airflow_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "target"
    env = {**airflow_env, "TAGFACTORY_TARGET": str(target)}
    subprocess.run([str(Path(sys.executable).parent / "tagfactory"), "compile", "--target", str(target)], env=env,
                   cwd=REPO, check=True, capture_output=True)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    retired = manifest["exports"][0]["name"]
    manifest["exports"][0]["lifecycle"] = "retired"  # the DAG file reads the JSON only (no digest check)
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    tasks = set(_airflow(env, "tasks", "list", "tag_factory_daily").stdout.split())
    assert "clean_retired_exports" in tasks
    assert not {t for t in tasks if t.startswith(f"export_{retired}.")}  # it delivers nothing
    others = {x["name"] for x in manifest["exports"][1:]}
    assert {f"export_{name}.select" for name in others} <= tasks


def test_full_dag_run_publishes_the_snapshot(airflow_env: dict[str, str]) -> None:
    proc = _airflow(airflow_env, "dags", "test", "tag_factory_daily", LOGICAL_DATE.isoformat(), timeout=900)
    log = proc.stdout + proc.stderr
    assert "publishing profile_user: done" in log
    warehouse = Path(airflow_env["TAGFACTORY_WAREHOUSE"])
    table = DeltaTable(str(warehouse / "profile_user"))
    snapshot = LOGICAL_DATE - dt.timedelta(days=1)
    rows = table.to_pyarrow_table(filters=[("dt", "=", snapshot)]).num_rows
    assert rows > 1_900  # 2,000 generated users, all but the late registrations
    assert table.history()[0]["snapshot_date"] == snapshot.isoformat()
    assert (Path(airflow_env["TAGFACTORY_TARGET"]) / "manifest.json").is_file()
    for task in ("check_sources", "build_profiles", "audit_profiles", "publish_profiles", "materialize_audiences",
                 "analyze_effects", "maintain_tables"):
        assert f"task_id={task}" in log
    assert "maintained 13 tables (retention 7 days)" in log  # profile, stats, 6 audience, 4 effect, quality
    assert "quality gate PASSED for profile_user" in log
    events = [json.loads(line) for line in (warehouse / "_lineage" / "openlineage.jsonl").read_text().splitlines()]
    runs = [(e["job"]["name"], e["eventType"]) for e in events]
    assert runs[:10] == [(f"{job}.user", kind) for job in ("check_sources", "build_profile", "audit_profile",
                                                             "publish_profile", "materialize_audiences")
                         for kind in ("START", "COMPLETE")]
    # then the effect analysis, table maintenance (after it) and the exports' runs (if the DAG had export tasks
    # when it was parsed), in the order the tasks ran: each a START and a COMPLETE
    later = sorted(runs[10:])
    for job in ("analyze_effects.user", "maintain_tables"):
        assert [r for r in later if r[0] == job] == [(job, "COMPLETE"), (job, "START")]
    assert runs.index(("analyze_effects.user", "COMPLETE")) < runs.index(("maintain_tables", "START"))
    exports = [r for r in later if r[0] not in ("analyze_effects.user", "maintain_tables")]
    assert all(job.startswith("export.") for job, _ in exports)
    assert exports == sorted((job, kind) for job in {j for j, _ in exports} for kind in ("START", "COMPLETE"))
    outputs = {o["name"] for o in events[7]["outputs"]}  # publish_profile's COMPLETE
    assert str(warehouse / "profile_user") in outputs
    assert validate_events_file(warehouse / "_lineage" / "openlineage.jsonl") == []
    assert len({e["run"]["facets"]["parent"]["root"]["run"]["runId"] for e in events}) == 1  # one tree
    assert (warehouse / "quality_results" / "_delta_log").is_dir()
    # the audiences were materialized from the published snapshot, after it
    members = DeltaTable(str(warehouse / "audience_members_user")).to_pandas(filters=[("dt", "=", snapshot)])
    assert members["audience"].nunique() >= 8
    assert DeltaTable(str(warehouse / "scene_assignments_user")).to_pyarrow_table().num_rows > 0
    assert "scene home_popup:" in log
