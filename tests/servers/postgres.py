"""A real PostgreSQL server (Debian's package) on loopback, its data in a temporary folder.

tests/servers/ensure_postgres.sh installs the package (``make test`` runs it). PostgreSQL refuses to run
as root: when the tests run as root, ``initdb`` and ``postgres`` run as the package's ``postgres`` user
(``setpriv``, which execs, so the started process is the postmaster itself), and the data folder is a
``tempfile.mkdtemp`` folder owned by that user (pytest's temporary folders are private to the test
user). The log stays in the caller's folder: the server writes it to stderr, opened by this process.

Settings: ``listen_addresses=127.0.0.1`` on a free port, no Unix socket, password login
(scram-sha-256) for the superuser ``tagfactory``; durability off (``fsync``, ``synchronous_commit``,
``full_page_writes``): a test database that is thrown away.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.process import LOOPBACK, ServerError, ServerProcess, free_port, run, start

SUPERUSER = "tagfactory"
SERVICE_USER = "postgres"  # Debian's package creates it
ENSURE = "tests/servers/ensure_postgres.sh"


@dataclass
class Postgres:
    """A running server: ``url(database)`` is what SQLAlchemy clients take."""

    port: int
    user: str
    password: str
    process: ServerProcess
    root: Path  # the temporary folder holding the data folder (removed on stop)

    def url(self, database: str = "postgres", driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """A psycopg2 connection (autocommit) to ``database``."""
        import psycopg2

        conn = psycopg2.connect(host=LOOPBACK, port=self.port, user=self.user, password=self.password,
                                dbname=database, connect_timeout=5)
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> None:
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect the clients, then stop), then the process group; data removed."""
        if self.process.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.popen.wait(timeout=15)
        self.process.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding ``initdb`` and ``postgres`` (Debian's layout)."""
    found = sorted((p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/postgres")),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not found or not (found[-1] / "initdb").exists():
        raise ServerError(f"PostgreSQL not found under /usr/lib/postgresql: run {ENSURE} "
                          "(apt-get install postgresql)")
    return found[-1]


def _as_service_user() -> tuple[list[str], int | None]:
    """The command prefix that drops root to the ``postgres`` user (none when not root), and its uid."""
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam(SERVICE_USER).pw_uid
    except KeyError:
        raise ServerError(f"running as root but there is no '{SERVICE_USER}' user: run {ENSURE}") from None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ServerError("setpriv (util-linux) not found: needed to run PostgreSQL as the postgres user")
    return [setpriv, f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups"], uid


def start_postgres(workdir: Path, timeout: float = 60.0) -> Postgres:
    """initdb a fresh cluster and start ``postgres`` on 127.0.0.1; returns when a client logs in."""
    began = time.monotonic()
    binaries = bin_dir()
    prefix, uid = _as_service_user()
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="tagfactory-pg-"))
    password = secrets.token_urlsafe(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if uid is not None:
        for path in (root, pwfile):
            os.chown(path, uid, -1)
    data = root / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C", "TZ": "UTC"}
    log = workdir / "postgres.log"
    try:
        run([*prefix, str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            log, timeout=timeout, what="postgres initdb", env=env)
        pwfile.unlink()
        port = free_port()
        settings = {
            "listen_addresses": LOOPBACK, "port": str(port), "unix_socket_directories": "",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "100", "shared_buffers": "64MB", "log_min_messages": "warning",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        process = start("postgres", [*prefix, str(binaries / "postgres"), "-D", str(data), *options], log,
                        env=env, inherit_env=False)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    server = Postgres(port, SUPERUSER, password, process, root)
    try:
        process.wait_ready(lambda: _logs_in(server), timeout, f"a login on {LOOPBACK}:{port}", began)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def _logs_in(server: Postgres) -> bool:
    """A real client request: log in with the password and run a query."""
    with contextlib.closing(server.connect()) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        return bool(cur.fetchone() == (1,))
