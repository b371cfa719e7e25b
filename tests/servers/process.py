"""Start, probe and stop one server process for tests.

Every server runs in its own process group (``start_new_session``), is stopped by that group's id
(SIGTERM, wait, then SIGKILL) and writes its output to a log file whose tail is shown whenever it
fails to start. Nothing here ever looks processes up by name.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
T = TypeVar("T")

# name -> start-up seconds, printed once at the end of the run (fixtures.pytest_terminal_summary)
STARTUP_SECONDS: dict[str, float] = {}
_RUNNING: dict[int, ServerProcess] = {}


class ServerError(RuntimeError):
    """A test server could not be started (missing prerequisite, crash or timeout)."""


def jars_root() -> Path:
    """The folder `make jars` (jvm/resolve.py) fills: ``$TAGFACTORY_JARS`` or ``<repo>/.jars``."""
    return Path(os.environ.get("TAGFACTORY_JARS") or REPO / ".jars")


def jar_set(name: str) -> Path:
    """The resolved jar folder ``<jars_root>/<name>``; a clear error if it is missing or empty."""
    folder = jars_root() / name
    if not folder.is_dir() or not any(folder.glob("*.jar")):
        raise ServerError(f"no jars in {folder}: run `make jars` (jvm/resolve.py --set {name})")
    return folder


def java() -> str:
    """Path of the ``java`` launcher (``$JAVA_HOME/bin/java`` or PATH); a clear error if absent."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", "java") if home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise ServerError("java not found (set JAVA_HOME or put Java 17 on PATH)")
    return found


def pyspark_home() -> Path:
    """The pyspark wheel folder (its ``jars/`` hold Hive 2.3, Hadoop 3.5, Derby, beeline)."""
    import pyspark

    home = Path(pyspark.__file__).parent
    if not (home / "jars").is_dir():
        raise ServerError(f"{home / 'jars'} is missing: reinstall pyspark (`make install`)")
    return home


def compiled_java(source: Path, classpath: str) -> Path:
    """Folder holding ``source``'s compiled classes (a small launcher next to these modules).

    Compiled once per source text and JDK into ``<tmp>/tagfactory-test-servers/``, outside the
    checkout (javac takes several seconds on this classpath); a clear error without a JDK.
    """
    javac = Path(java()).with_name("javac")
    if not javac.exists():
        found = shutil.which("javac")
        if found is None:
            raise ServerError(f"javac not found: {source.name} needs a JDK (Java 17)")
        javac = Path(found)
    key = hashlib.sha256(source.read_bytes() + str(javac.resolve()).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "tagfactory-test-servers" / f"{source.stem}-{key}"
    if cache.is_dir():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=cache.parent))
    done = subprocess.run(
        [str(javac), "-nowarn", "-d", str(build), "-cp", classpath, str(source)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(build, ignore_errors=True)
        raise ServerError(f"javac {source} failed:\n{done.stdout}{done.stderr}")
    try:
        build.rename(cache)
    except OSError:  # another run compiled it at the same time: use its copy
        shutil.rmtree(build, ignore_errors=True)
    return cache


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@dataclass
class ServerProcess:
    """One started server: its process (group leader), its log and how long it took to come up."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def fail(self, why: str) -> ServerError:
        """Stop the server and build the error to raise, with the log's tail."""
        self.stop()
        return ServerError(
            f"{self.name}: {why}\n--- last lines of {self.log} ---\n{self.tail()}\n---"
        )

    def wait_ready(
        self, probe: Callable[[], T | None], timeout: float, what: str, since: float | None = None
    ) -> T:
        """Poll ``probe`` (a real client request) until it returns a value other than None/False.

        Raises ServerError with the log's tail when the process exits or ``timeout`` passes.
        Records the start-up seconds (from ``since``, a ``time.monotonic()`` taken before any
        setup step, or from the process start) under this server's name.
        """
        since = self.started if since is None else since
        deadline = self.started + timeout
        last = ""  # the text only: a kept exception would keep the probe's client alive
        while True:
            if not self.alive():
                raise self.fail(f"exited with code {self.popen.returncode} before {what}")
            try:
                result = probe()
            except Exception as exc:  # not ready yet: keep the reason for the timeout message
                last, result = repr(exc), None
            if result is not None and result is not False:
                STARTUP_SECONDS[self.name] = round(time.monotonic() - since, 1)
                return result
            if time.monotonic() > deadline:
                reason = f" (last probe error: {last})" if last else ""
                raise self.fail(f"not ready after {timeout:.0f}s: {what}{reason}")
            time.sleep(0.25)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the process group started for this server, wait, then SIGKILL it."""
        _RUNNING.pop(self.pid, None)
        try:
            pgid = os.getpgid(self.pid)
        except ProcessLookupError:
            pgid = None
        if pgid == self.pid:  # ours: start_new_session made it the group leader
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # children of the leader (e.g. spark-submit's JVM) may outlive it: kill the whole group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def start(
    name: str,
    cmd: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    inherit_env: bool = True,
) -> ServerProcess:
    """Start ``cmd`` in a new process group, stdout and stderr appended to ``log``.

    ``env`` is added to this process's environment, or is the whole environment with
    ``inherit_env=False`` (a server that must not see the test's ``PYTHONPATH``, ``SPARK_*`` ...).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        popen = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})} if inherit_env else dict(env or {}),
            start_new_session=True,
        )
    server = ServerProcess(name, popen, log)
    _RUNNING[popen.pid] = server
    return server


def run(cmd: Sequence[str], log: Path, *, timeout: float, what: str, cwd: Path | None = None,
        env: Mapping[str, str] | None = None) -> None:
    """Run a short setup command (e.g. storage format) to completion; its output goes to ``log``."""
    server = start(what, cmd, log, cwd=cwd, env=env)
    try:
        code = server.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise server.fail(f"did not finish within {timeout:.0f}s") from None
    _RUNNING.pop(server.pid, None)
    if code != 0:
        raise ServerError(f"{what}: exit code {code}\n--- last lines of {log} ---\n{server.tail()}\n---")


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by ``pid`` or its descendants.

    Read from /proc (Linux), so tests can check that a server binds to loopback only.
    """
    pids = _descendants(pid) | {pid}
    inodes: set[str] = set()
    for p in pids:
        fd_dir = Path(f"/proc/{p}/fd")
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found: list[tuple[str, int]] = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] != "0A" or cols[9] not in inodes:  # 0A = LISTEN
                    continue
                addr_hex, port_hex = cols[1].split(":")
                raw = bytes.fromhex(addr_hex)
                if family == socket.AF_INET:
                    raw = raw[::-1]
                else:  # four little-endian 32-bit words
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.append((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return sorted(set(found))


def non_loopback(pid: int) -> list[tuple[str, int]]:
    """Listening sockets of ``pid`` (and children) that are not bound to a loopback address."""
    return [
        (addr, port)
        for addr, port in listening_sockets(pid)
        if not (addr.startswith("127.") or addr in ("::1", "::ffff:127.0.0.1"))
    ]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


@atexit.register
def _stop_leftovers() -> None:
    """Safety net: a crashed test session still stops the servers it started."""
    for server in list(_RUNNING.values()):
        server.stop(grace=5)
