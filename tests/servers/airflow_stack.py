"""A real Airflow 3 deployment on loopback: API server, scheduler (LocalExecutor) and DAG processor on a
PostgreSQL metadata database (tests/servers/postgres.py).

Three processes, each in its own process group, sharing one ``AIRFLOW_HOME`` and configuration (all
``AIRFLOW__*`` environment variables, nothing in ``airflow.cfg``):

* ``airflow api-server --host 127.0.0.1``: the public REST API (``/api/v2``) and the Execution API
  (``/execution/``) the LocalExecutor's task runners report to (``[core] execution_api_server_url``);
* ``airflow scheduler --skip-serve-logs``: schedules the runs and executes the tasks in LocalExecutor
  worker processes (the log server it would start listens on every interface; the API server reads the
  task logs from the shared log folder instead);
* ``airflow dag-processor``: parses the DAG folder into the database. ``min_file_process_interval`` is an
  hour: the DAG is parsed once, so every run of a test sees the DAG of that parse (the tag factory DAG
  grows export tasks when it is parsed after its first run compiled a manifest).

The REST API is called as a SimpleAuthManager user (``tester``, role admin, password file written
here) with a token from ``POST /auth/token``. Readiness: ``/api/v2/monitor/health`` reports the
database, the scheduler and the DAG processor healthy.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.postgres import Postgres
from tests.servers.process import LOOPBACK, REPO, ServerError, ServerProcess, free_port, run, start

USER = "tester"


class ApiError(RuntimeError):
    """A REST API call answered with an HTTP error (status and body in the message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AirflowStack:
    """A running deployment: ``api(...)`` calls its REST API as an admin user."""

    url: str
    env: dict[str, str]
    processes: dict[str, ServerProcess]
    password: str
    _token: str = field(default="", repr=False)

    def token(self) -> str:
        if not self._token:
            reply = _request(f"{self.url}/auth/token", "POST", {"username": USER, "password": self.password})
            self._token = str(reply["access_token"])
        return self._token

    def api(self, path: str, method: str = "GET", body: Mapping[str, Any] | None = None) -> Any:
        """``method`` ``/api/v2/<path>`` with a JSON body; the decoded JSON reply (ApiError otherwise)."""
        return _request(f"{self.url}/api/v2/{path.lstrip('/')}", method, body, self.token())

    def alive(self) -> dict[str, bool]:
        return {name: p.alive() for name, p in self.processes.items()}

    def stop(self) -> None:
        """Scheduler first (its task runners and their spark-submits are in its group), then the rest."""
        for name in ("scheduler", "dag-processor", "api-server"):
            if name in self.processes:
                self.processes[name].stop()


def _request(url: str, method: str, body: Mapping[str, Any] | None = None, token: str | None = None,
             timeout: float = 30) -> Any:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise ApiError(exc.code, f"{method} {url}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:2000]}"
                       ) from None


def airflow_env(home: Path, postgres: Postgres, port: int, password_file: Path,
                extra: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of the three processes: this one's without ``AIRFLOW*``/``TAGFACTORY*``/
    ``OPENLINEAGE*`` variables, the deployment's settings, then ``extra`` (the DAG's settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TAGFACTORY", "OPENLINEAGE"))}
    base = f"http://{LOOPBACK}:{port}"
    env.update({
        "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",  # 2 cores; the DAG runs one task at a time anyway
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # the test unpauses it
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url("airflow"),  # async: derived, postgresql+asyncpg
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # every Spark driver of a task binds its RPC and web UI to loopback (the UI defaults to 0.0.0.0)
        "SPARK_LOCAL_IP": LOOPBACK,
    })
    env.update(extra)
    return env


def start_airflow(workdir: Path, postgres: Postgres, extra_env: Mapping[str, str],
                  timeout: float = 240.0) -> AirflowStack:
    """Migrate a fresh ``airflow`` database on ``postgres`` and start the three processes under ``workdir``."""
    began = time.monotonic()
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({USER: password}))
    port = free_port()
    env = airflow_env(home, postgres, port, password_file, extra_env)
    airflow = str(Path(sys.executable).parent / "airflow")
    postgres.create_database("airflow")
    run([airflow, "db", "migrate"], workdir / "db-migrate.log", timeout=timeout, what="airflow db migrate",
        cwd=REPO, env=env)
    commands = {
        "api-server": [airflow, "api-server", "--host", LOOPBACK, "--port", str(port), "--workers", "1"],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
    }
    processes: dict[str, ServerProcess] = {}
    stack = AirflowStack(f"http://{LOOPBACK}:{port}", env, processes, password)
    try:
        for name, cmd in commands.items():
            processes[name] = start(f"airflow {name}", cmd, workdir / f"{name}.log", env=env, cwd=REPO,
                                    inherit_env=False)
        health_url = f"{stack.url}/api/v2/monitor/health"
        processes["api-server"].wait_ready(lambda: _request(health_url, "GET", timeout=5), timeout,
                                           f"GET {health_url}", began)
        for name in ("scheduler", "dag-processor"):
            key = name.replace("-", "_")
            processes[name].wait_ready(
                lambda key=key: _request(health_url, "GET", timeout=5)[key]["status"] == "healthy",  # type: ignore[misc]
                timeout, f"{health_url} reporting the {name} healthy", began)
    except BaseException:
        stack.stop()
        raise
    if not all(stack.alive().values()):
        stack.stop()
        raise ServerError(f"an Airflow process exited during start-up: {stack.alive()}")
    return stack
