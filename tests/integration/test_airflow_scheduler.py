"""The daily DAG under a real Airflow scheduler: ``airflow api-server`` + ``airflow scheduler`` (LocalExecutor)
+ ``airflow dag-processor`` on PostgreSQL, not ``airflow dags test``.

One deployment for the module (tests/servers/airflow_stack.py) on the ``postgres_server`` fixture, the DAG
paused at creation, then, in order:

* catchup: unpaused with TAGFACTORY_START_DATE 2026-11-21 and TAGFACTORY_END_DATE 2026-11-23T03:00, the
  scheduler creates exactly three runs (logical dates 2026-11-21/22/23 03:00, snapshots 2026-11-20/21/22) and
  runs them one after the other (``max_active_runs=1``); the first run's ``orders`` partition arrives late
  (moved away before the start, put back by the test once the API shows ``check_sources`` failed and waiting
  for its retry), so ``check_sources`` succeeds on its second try;
* the gate: the third day's orders (snapshot 2026-11-22) hold 1,001 bulk orders of one user, so the third
  run fails ``audit_profiles`` and nothing downstream of it runs (publish and later: ``upstream_failed``).

Every state is read back from the REST API (``/api/v2``, token from ``/auth/token``); the published
snapshots are read with delta-rs and the profile counts checked against the users source read with pyarrow.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from deltalake import DeltaTable

from tests.servers.airflow_stack import AirflowStack, ApiError, start_airflow
from tests.servers.postgres import Postgres
from tests.servers.process import REPO, ServerError, listening_sockets, non_loopback

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "tag_factory_daily"
START, END = "2026-11-21", "2026-11-23T03:00"
LOGICAL_DATES = [dt.datetime(2026, 11, day, 3, tzinfo=dt.UTC) for day in (21, 22, 23)]
SNAPSHOTS = [d.date() - dt.timedelta(days=1) for d in LOGICAL_DATES]
GATE_SNAPSHOT = SNAPSHOTS[2]  # the third catchup day's orders get the planted defect
GATE_RUN_ID = f"scheduled__{LOGICAL_DATES[2].isoformat()}"
PUBLISHED = SNAPSHOTS[:2]
RETRY_DELAY_SECONDS = 8
CHAIN = ["validate_and_compile", "check_sources", "build_profiles", "audit_profiles", "publish_profiles",
         "materialize_audiences", "analyze_effects", "maintain_tables"]
TERMINAL = {"success", "failed"}
T = TypeVar("T")


@dataclass
class Deployment:
    """The running stack, the DAG's folders, the orders partition held back, what the waits observed."""

    stack: AirflowStack
    data: Path
    warehouse: Path
    held_back: Path  # where the first snapshot's orders partition waits until the test puts it back
    seconds: dict[str, float] = field(default_factory=dict)
    spark_listeners: list[tuple[str, int]] = field(default_factory=list)  # seen under the scheduler
    exposed: list[tuple[str, int]] = field(default_factory=list)  # of those, not on loopback

    @property
    def late_partition(self) -> Path:
        return self.data / "orders" / f"dt={SNAPSHOTS[0]}"


def _plant_bulk_orders(data: Path, date: dt.date) -> None:
    """1,001 completed orders of one user on ``date``: ``orders_30d`` leaves its range [0, 1000]."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = data / "orders" / f"dt={date}"
    sample = pq.read_table(next(folder.rglob("*.parquet")), partitioning=None)
    row = sample.slice(0, 1).to_pylist()[0]
    bulk = [{**row, "order_id": f"bulk-{i}", "status": "completed"} for i in range(1001)]
    pq.write_table(pa.Table.from_pylist(bulk, schema=sample.schema), folder / "bulk.parquet")


@pytest.fixture(scope="module")
def deployment(postgres_server: Postgres, demo_data: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("airflow-scheduler")
    data = base / "data"
    shutil.copytree(demo_data, data)
    _plant_bulk_orders(data, GATE_SNAPSHOT)
    held_back = base / "held-back" / f"dt={SNAPSHOTS[0]}"
    held_back.parent.mkdir()
    (data / "orders" / f"dt={SNAPSHOTS[0]}").rename(held_back)
    dag_env = {
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]",
                                                  "extra": {"deploy-mode": "client"}}),
        "TAGFACTORY_WAREHOUSE": str(base / "warehouse"),
        "TAGFACTORY_SOURCES_ROOT": str(data),
        "TAGFACTORY_TARGET": str(base / "target"),  # empty when the DAG is parsed: no export tasks
        "TAGFACTORY_PYSPARK_PYTHON": sys.executable,
        "TAGFACTORY_START_DATE": START,
        "TAGFACTORY_END_DATE": END,
        "TAGFACTORY_RETRY_DELAY_SECONDS": str(RETRY_DELAY_SECONDS),
    }
    began = time.monotonic()
    try:
        stack = start_airflow(base / "airflow", postgres_server, dag_env)
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    deployment = Deployment(stack, data, base / "warehouse", held_back, {"stack start": time.monotonic() - began})
    try:
        _wait(deployment, "the DAG processor to store the DAG", lambda: _dag(stack), 120)
        deployment.seconds["stack start and DAG parsed"] = time.monotonic() - began
        yield deployment
    finally:
        stack.stop()
        print(f"\nAirflow scheduler test, seconds: {json.dumps({k: round(v, 1) for k, v in deployment.seconds.items()})}")


def _dag(stack: AirflowStack) -> dict[str, Any] | None:
    try:
        return dict(stack.api(f"dags/{DAG_ID}"))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def _quote(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")


def _runs(stack: AirflowStack) -> list[dict[str, Any]]:
    return list(stack.api(f"dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"])


def _task_instances(stack: AirflowStack, run_id: str) -> dict[str, dict[str, Any]]:
    reply = stack.api(f"dags/{DAG_ID}/dagRuns/{_quote(run_id)}/taskInstances?limit=100")
    return {ti["task_id"]: ti for ti in reply["task_instances"]}


def _log(stack: AirflowStack, run_id: str, task_id: str, try_number: int) -> str:
    reply = stack.api(f"dags/{DAG_ID}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
                      "?full_content=true")
    return "\n".join(json.dumps(entry) if not isinstance(entry, str) else entry for entry in reply["content"])


def _wait(deployment: Deployment, what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll ``probe`` (API calls) every second until it returns a value; every poll also records the listening
    sockets of the scheduler's process tree (the tasks' Spark drivers). Fails with the processes' log tails
    if one of them exits or ``timeout`` passes."""
    stack = deployment.stack
    deadline = time.monotonic() + timeout
    scheduler = stack.processes["scheduler"].pid
    while True:
        found = listening_sockets(scheduler)
        deployment.spark_listeners += [s for s in found if s not in deployment.spark_listeners]
        deployment.exposed += [s for s in non_loopback(scheduler) if s not in deployment.exposed]
        result = probe()
        if result is not None and result is not False:
            return result
        dead = [name for name, alive in stack.alive().items() if not alive]
        if dead or time.monotonic() > deadline:
            tails = "\n".join(f"--- {name} ---\n{p.tail(30)}" for name, p in stack.processes.items())
            try:
                runs: object = [(r["dag_run_id"], r["state"]) for r in _runs(stack)]
            except (ApiError, OSError) as exc:
                runs = f"(not read: {exc})"
            pytest.fail(f"{'exited: ' + ', '.join(dead) if dead else f'timeout after {timeout:.0f}s'} waiting for "
                        f"{what}; runs {runs}\n{tails}", pytrace=False)
        time.sleep(1.0)


def _users_by(data: Path, snapshot: dt.date) -> int:
    """Users registered before the end of ``snapshot`` (UTC): the rows its profile snapshot must have."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    users = ds.dataset(data / "users", format="parquet", partitioning="hive").to_table(
        columns=["user_id", "registered_at"])
    registered_at = users["registered_at"]
    if registered_at.type.tz is None:  # a naive timestamp is UTC
        registered_at = pc.assume_timezone(registered_at, "UTC")
    bound = dt.datetime.combine(snapshot + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    registered = users.filter(pc.less(registered_at, pa.scalar(bound, type=pa.timestamp("us", tz="UTC"))))
    return len(set(registered["user_id"].to_pylist()))


def test_the_deployment_listens_on_loopback_only(deployment: Deployment, postgres_server: Postgres) -> None:
    stack = deployment.stack
    port = int(urllib.parse.urlsplit(stack.url).port or 0)
    assert ("127.0.0.1", port) in listening_sockets(stack.processes["api-server"].pid)
    assert ("127.0.0.1", postgres_server.port) in listening_sockets(postgres_server.process.pid)
    for process in [*stack.processes.values(), postgres_server.process]:
        assert non_loopback(process.pid) == [], process.name


def test_the_dag_is_parsed_once_paused_and_without_import_errors(deployment: Deployment) -> None:
    stack = deployment.stack
    dag = _dag(stack)
    assert dag is not None and dag["is_paused"] is True
    assert dag["fileloc"] == str(REPO / "dags" / "tag_factory_daily.py")
    assert stack.api("importErrors")["total_entries"] == 0
    tasks = [t["task_id"] for t in stack.api(f"dags/{DAG_ID}/tasks?order_by=task_id")["tasks"]]
    assert sorted(tasks) == sorted(CHAIN)  # no compiled manifest when it was parsed: no export tasks
    assert _runs(stack) == []  # paused: the scheduler created no run yet


def test_catchup_runs_three_days_retries_a_late_source_and_stops_at_the_gate(deployment: Deployment) -> None:
    stack = deployment.stack
    began = time.monotonic()
    stack.api(f"dags/{DAG_ID}", "PATCH", {"is_paused": False})
    first = f"scheduled__{LOGICAL_DATES[0].isoformat()}"

    def first_try_failed() -> dict[str, Any] | None:
        ti = _task_instances(stack, first).get("check_sources") if any(
            r["dag_run_id"] == first for r in _runs(stack)) else None
        if ti and ti["state"] in ("success", "failed"):
            pytest.fail(f"check_sources ended {ti['state']} before the late partition came: {ti}")
        return ti if ti and ti["state"] == "up_for_retry" else None

    _wait(deployment, "check_sources of the first run to wait for its retry", first_try_failed, 300)
    deployment.held_back.rename(deployment.late_partition)  # the late partition arrives
    restored = dt.datetime.now(dt.UTC)
    deployment.seconds["until the first try failed"] = restored_after = time.monotonic() - began

    def catchup_done() -> list[dict[str, Any]] | None:
        runs = _runs(stack)
        return runs if len(runs) >= 3 and all(r["state"] in TERMINAL for r in runs) else None

    runs = sorted(_wait(deployment, "the three catchup runs", catchup_done, 1080), key=lambda r: r["logical_date"])
    deployment.seconds["catchup (3 runs)"] = time.monotonic() - began
    assert [dt.datetime.fromisoformat(r["logical_date"]) for r in runs] == LOGICAL_DATES
    assert [(r["run_type"], r["state"]) for r in runs] == [("scheduled", "success")] * 2 + [("scheduled", "failed")]
    for run in runs:
        start, end = (dt.datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
        deployment.seconds[f"run {run['logical_date'][:10]}"] = (end - start).total_seconds()
    # one after the other (max_active_runs=1)
    assert all(dt.datetime.fromisoformat(a["end_date"]) <= dt.datetime.fromisoformat(b["start_date"])
               for a, b in zip(runs, runs[1:], strict=False))

    for index, run in enumerate(runs[:2]):
        tis = _task_instances(stack, run["dag_run_id"])
        assert {t: ti["state"] for t, ti in tis.items()} == dict.fromkeys(CHAIN, "success")
        deployment.seconds[f"run {run['logical_date'][:10]}: tasks"] = sum(ti["duration"] or 0 for ti in tis.values())
        tries = {t: ti["try_number"] for t, ti in tis.items()}
        assert tries == {t: 2 if (index, t) == (0, "check_sources") else 1 for t in CHAIN}, tries

    attempts = stack.api(f"dags/{DAG_ID}/dagRuns/{_quote(first)}/taskInstances/check_sources/tries")["task_instances"]
    assert [(a["try_number"], a["state"]) for a in attempts] == [(1, "failed"), (2, "success")]
    assert dt.datetime.fromisoformat(attempts[1]["start_date"]) > restored  # the retry saw the partition
    assert dt.datetime.fromisoformat(attempts[1]["start_date"]) >= (
        dt.datetime.fromisoformat(attempts[0]["end_date"]) + dt.timedelta(seconds=RETRY_DELAY_SECONDS))
    first_log = _log(stack, first, "check_sources", 1)
    assert "source checks failed for profile_user dt=2026-11-20" in first_log
    assert "source orders: the partition for the snapshot date is missing" in first_log
    assert restored_after < deployment.seconds["catchup (3 runs)"]

    table = DeltaTable(str(deployment.warehouse / "profile_user"))
    profiles = table.to_pyarrow_table(columns=["dt", "user_id"])
    counts = {d: 0 for d in PUBLISHED}
    for day in profiles["dt"].to_pylist():
        counts[day] = counts.get(day, 0) + 1
    assert counts == {d: _users_by(deployment.data, d) for d in PUBLISHED}  # the gate's day has no rows
    assert all(n > 1_900 for n in counts.values())
    published = [str(h["snapshot_date"]) for h in table.history() if h.get("snapshot_date")]
    assert sorted(set(published)) == [d.isoformat() for d in PUBLISHED]
    # the tasks' Spark drivers (children of the scheduler) were seen listening, on loopback only
    assert deployment.spark_listeners, "no listening socket seen under the scheduler while Spark steps ran"
    assert deployment.exposed == []


def test_a_failed_quality_gate_stops_the_run_before_publishing(deployment: Deployment) -> None:
    stack = deployment.stack
    [run] = [r for r in _runs(stack) if r["dag_run_id"] == GATE_RUN_ID]  # the third catchup run, finished
    assert run["state"] == "failed"
    tis = _task_instances(stack, GATE_RUN_ID)
    states = {t: tis[t]["state"] for t in CHAIN}
    assert states == {"validate_and_compile": "success", "check_sources": "success", "build_profiles": "success",
                      "audit_profiles": "failed", "publish_profiles": "upstream_failed",
                      "materialize_audiences": "upstream_failed", "analyze_effects": "upstream_failed",
                      "maintain_tables": "upstream_failed"}, states
    assert tis["audit_profiles"]["try_number"] == 1  # retries=0: a verdict on the data
    audit_log = _log(stack, GATE_RUN_ID, "audit_profiles", 1)
    assert "quality gate FAILED for profile_user" in audit_log and "outside [0, 1000]" in audit_log
    assert "`orders_30d`: 1 values" in audit_log

    table = DeltaTable(str(deployment.warehouse / "profile_user"))
    assert not [h for h in table.history() if str(h.get("snapshot_date")) == GATE_SNAPSHOT.isoformat()]
    assert table.to_pyarrow_table(filters=[("dt", "=", GATE_SNAPSHOT)]).num_rows == 0  # nothing committed
    assert (deployment.warehouse / "profile_user" / "_quarantine").is_dir()
    # the scheduler created no run of its own after the three (the end date)
    assert sorted(r["state"] for r in _runs(stack)) == ["failed", "success", "success"]
