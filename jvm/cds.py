"""Build a class-data sharing (CDS) archive of the Spark driver JVM into ``.jars/spark-cds/`` (idempotent).

    python jvm/cds.py [--out .jars] [--force]

Every spark-submit starts a JVM that loads and verifies ~20,000 classes (Spark, Scala, Delta)
before any work; a dynamic CDS archive (JDK 13+, ``-XX:ArchiveClassesAtExit``) stores them
parsed and verified, and a JVM started with ``-XX:SharedArchiveFile`` maps them instead. The
archive is written by one small Delta workload (``jvm/cds_workload.py``: a session, a partitioned
Delta write, reads, SQL) run with the project's jars and settings, so the classes of the paths
every job takes are in it. Measured on the 2-core machine (docs/jvm-components.md#startup): the
workload's wall time 23.7-25.9 s -> 17.6-18.9 s.

The archive is used through ``spark.driver.extraJavaOptions`` (tagfactory.lakehouse.jars.cds_java_options,
the DAG's Spark conf) with ``-Xshare:auto``: a JVM whose version or class path does not match
the archive ignores it and starts as before. A truncated archive crashes the JVM, so the archive
is written under a temporary name, checked by starting a JVM with it, and renamed into place. It is
built again when the JDK, the pyspark jars or the project's Spark jars change (a digest of them is
kept in ``.jars/spark-cds/.inputs.sha256``).

Needs pyspark and the project (run it with the project's virtualenv Python: it takes the jar set's
settings from ``tagfactory.lakehouse.jars``) and the resolved ``spark`` jar set.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JVM = Path(__file__).resolve().parent
ROOT = JVM.parent
sys.path.insert(0, str(ROOT))

from tagfactory.lakehouse.jars import CDS_ARCHIVE, CDS_SET, delta_session_conf  # noqa: E402

_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def _spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def _inputs_digest(jars: Path, spark_home: Path) -> str:
    """Digest of what the archive depends on: the JDK's version and every jar on the driver's class path."""
    version = subprocess.run([_java(), "-version"], capture_output=True, text=True, check=True).stderr
    digest = hashlib.sha256(version.encode())
    for jar in sorted([*(spark_home / "jars").glob("*.jar"), *(jars / "spark").glob("*.jar")]):
        stat = jar.stat()
        digest.update(f"{jar}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def workload_command(out: Path, java_options: str, workdir: str) -> list[str]:
    """``spark-submit`` of jvm/cds_workload.py with the jar set of ``out`` and its settings, the driver
    JVM started with ``java_options`` only (never an archive built before); [] without the jars."""
    conf = delta_session_conf(out)
    if not conf:
        return []
    conf.pop("spark.driver.extraJavaOptions", None)
    command = [str(_spark_home() / "bin" / "spark-submit"), "--master", "local[2]", "--jars", conf.pop("spark.jars"),
               "--conf", "spark.ui.enabled=false"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    if java_options:
        command += ["--driver-java-options", java_options]
    return [*command, str(JVM / "cds_workload.py"), workdir]


def workload_env() -> dict[str, str]:
    """This environment for the workload's submit, without options that would change its JVM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_GATEWAY", "SPARK_SUBMIT_OPTS"))}
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    return env


def build(out: Path, force: bool = False) -> Path | None:
    """Build ``<out>/spark-cds/spark.jsa`` unless it is current; returns it (None without the spark jars)."""
    if not delta_session_conf(out):
        print("cds: no spark jar set resolved; nothing to archive", file=sys.stderr)
        return None
    spark_home = _spark_home()
    folder = out / CDS_SET
    archive, stamp = folder / CDS_ARCHIVE, folder / ".inputs.sha256"
    inputs = _inputs_digest(out, spark_home)
    if not force and archive.is_file() and stamp.is_file() and stamp.read_text().strip() == inputs:
        print(f"cds: {archive} is current")
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{CDS_ARCHIVE}.{os.getpid()}.partial"
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tagfactory-cds-") as work:
        done = subprocess.run(workload_command(out, f"-XX:ArchiveClassesAtExit={partial} {_QUIET}", work),
                              env=workload_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        print(f"cds: the archive workload failed (exit {done.returncode}); Spark starts without an archive\n"
              f"{done.stdout[-1500:]}{done.stderr[-3000:]}", file=sys.stderr)
        return None
    check = subprocess.run([_java(), f"-XX:SharedArchiveFile={partial}", "-Xshare:auto", *_QUIET.split(),
                            "-version"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        partial.unlink(missing_ok=True)
        print(f"cds: a JVM does not start with the new archive; discarded\n{check.stderr[-1500:]}", file=sys.stderr)
        return None
    partial.chmod(0o644)
    os.replace(partial, archive)
    stamp.write_text(inputs + "\n")
    print(f"cds: built {archive} ({archive.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - started:.1f} s")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".jars", help="the jar sets' folder (default .jars)")
    parser.add_argument("--force", action="store_true", help="build even when the archive is current")
    args = parser.parse_args(argv)
    build(args.out.resolve(), force=args.force)
    return 0  # an archive is an optimisation: without one Spark starts as before


if __name__ == "__main__":
    if shutil.which(_java()) is None and not Path(_java()).is_file():
        print("cds: no java on PATH (JAVA_HOME unset); nothing to archive", file=sys.stderr)
        sys.exit(0)
    sys.exit(main())
