"""Resolve the project's JVM jar sets from Maven Central into ``.jars/<set>/`` (idempotent).

    python jvm/resolve.py [--out .jars] [--set spark --set kafka-broker ...] [--force]

Each folder under ``jvm/`` with a ``pom.xml`` is one set; ``mvn dependency:copy-dependencies``
copies its jars (and their dependencies) into ``.jars/<set>/``. A set is resolved again only when its
``pom.xml`` changed (a digest is kept in ``.jars/<set>/.pom.sha256``); after the first run nothing is
downloaded (Maven's cache is ``~/.m2``). The ``spark`` set drops every jar whose artifact the pyspark
wheel already ships in ``pyspark/jars`` (Scala, Hadoop, Jackson, Parquet, logging ...): those jars are
added beside the wheel's with ``spark.jars`` / ``--jars`` and must never replace them.

A set whose ``pom.xml`` says ``<packaging>jar</packaging>`` is the project's own Java code
(``jvm/udf/``: ``src/main/java``): ``mvn package`` builds it (outside the source tree) into
``.jars/<set>/`` and its jar is copied into the ``spark`` set (``.jars/spark/``), so it is on
``spark.jars`` / ``--jars`` with Delta. It is built again only when its pom or a source changed
(the digest covers ``src/``), and copied again whenever the ``spark`` set was resolved anew.

Only the standard library is used, so any Python runs it; ``mvn`` (Maven 3) must be on PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

JVM = Path(__file__).resolve().parent
ROOT = JVM.parent
# artifact name = file name without "-<version>.jar" (versions start with a digit)
SPARK_SET = "spark"  # the set on Spark's classpath; the built sets' jars are copied into it
_ARTIFACT = re.compile(r"^(?P<name>.+?)-\d[^-]*(?:-[^-]+)*\.jar$")


def artifact_name(jar: str) -> str:
    """``jackson-core-2.21.7.jar`` -> ``jackson-core``; ``hive-exec-2.3.10-core.jar`` -> ``hive-exec``."""
    match = _ARTIFACT.match(jar)
    return match.group("name") if match else jar.removesuffix(".jar")


def pyspark_jars() -> Path:
    """The pyspark wheel's jars folder (found without importing pyspark)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("jvm/resolve.py: pyspark is not installed in this Python; run it with .venv/bin/python")
    return Path(next(iter(spec.submodule_search_locations))) / "jars"


def digest(pom: Path) -> str:
    """Digest of a set's pom, the settings files beside it and its sources (a built set)."""
    sha = hashlib.sha256(pom.read_bytes())
    extras = sorted(pom.parent.glob("*.json")) + sorted(p for p in (pom.parent / "src").rglob("*") if p.is_file())
    for extra in extras:
        sha.update(extra.relative_to(pom.parent).as_posix().encode() + b"\0" + extra.read_bytes())
    return sha.hexdigest()


def is_built(name: str) -> bool:
    """A set of the project's own code (``<packaging>jar</packaging>``), not a list of artifacts."""
    return "<packaging>jar</packaging>" in (JVM / name / "pom.xml").read_text(encoding="utf-8")


def _mvn(cmd: list[str], name: str) -> None:
    if shutil.which("mvn") is None:
        raise SystemExit("jvm/resolve.py: `mvn` (Maven 3) is not on PATH; install it (Debian: apt-get install maven)")
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"jvm/resolve.py: Maven failed for the `{name}` set (command: {' '.join(cmd)})")


def build(name: str, out: Path, force: bool) -> None:
    """Build a set of the project's own code into ``out/<name>/`` and copy its jar into the spark set."""
    pom = JVM / name / "pom.xml"
    dest = out / name
    stamp = dest / ".pom.sha256"
    if force or not stamp.is_file() or stamp.read_text().strip() != digest(pom):
        tmp = out / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.monotonic()
        print(f"jvm: {name}: building {pom.relative_to(ROOT)} ...", flush=True)
        _mvn(["mvn", "-B", "-q", "-f", str(pom), "package", f"-Dtagfactory.build={tmp / 'build'}"], name)
        (tmp / "build").mkdir(exist_ok=True)
        for jar in (tmp / "build").glob("*.jar"):
            jar.rename(tmp / jar.name)
        shutil.rmtree(tmp / "build")
        (tmp / ".pom.sha256").write_text(digest(pom) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        print(f"jvm: {name}: built {', '.join(j.name for j in sorted(dest.glob('*.jar')))} "
              f"in {time.monotonic() - started:.1f} s", flush=True)
    else:
        print(f"jvm: {name}: up to date ({dest})")
    spark = out / SPARK_SET
    if not spark.is_dir():
        raise SystemExit(f"jvm/resolve.py: the `{name}` set goes into the `{SPARK_SET}` set, which is not resolved "
                         f"in {out} (run without --set, or add --set {SPARK_SET})")
    for jar in sorted(dest.glob("*.jar")):
        target = spark / jar.name
        if not target.is_file() or target.read_bytes() != jar.read_bytes():
            shutil.copy(jar, target)
            print(f"jvm: {name}: {jar.name} copied into {spark}", flush=True)


def resolve(name: str, out: Path, force: bool) -> None:
    pom = JVM / name / "pom.xml"
    dest = out / name
    stamp = dest / ".pom.sha256"
    if not force and stamp.is_file() and stamp.read_text().strip() == digest(pom):
        print(f"jvm: {name}: up to date ({len(list(dest.glob('*.jar')))} jars in {dest})")
        return
    tmp = out / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.monotonic()
    print(f"jvm: {name}: resolving {pom.relative_to(ROOT)} from Maven Central ...", flush=True)
    _mvn(["mvn", "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
          f"-DoutputDirectory={tmp}", "-DexcludeScope=provided"], name)
    dropped: list[str] = []
    if name == SPARK_SET:
        shipped = {artifact_name(j.name) for j in pyspark_jars().glob("*.jar")}
        # commons-logging would shadow the wheel's jcl-over-slf4j bridge
        shipped.add("commons-logging")
        for jar in sorted(tmp.glob("*.jar")):
            if artifact_name(jar.name) in shipped:
                dropped.append(jar.name)
                jar.unlink()
    for extra in sorted((JVM / name).glob("*.json")):  # settings that go with the set (spark-conf.json)
        shutil.copy(extra, tmp / extra.name)
    (tmp / ".pom.sha256").write_text(digest(pom) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    jars = sorted(dest.glob("*.jar"))
    size = sum(j.stat().st_size for j in jars) / 2**20
    print(f"jvm: {name}: {len(jars)} jars, {size:.1f} MiB in {time.monotonic() - started:.1f} s"
          + (f" ({len(dropped)} already in the pyspark wheel, not copied)" if dropped else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".jars", help="output folder (default: .jars)")
    parser.add_argument("--set", action="append", dest="sets", help="only this set (repeatable)")
    parser.add_argument("--force", action="store_true", help="resolve again even if the pom did not change")
    args = parser.parse_args(argv)
    available = sorted(p.parent.name for p in JVM.glob("*/pom.xml"))
    for name in args.sets or available:
        if name not in available:
            raise SystemExit(f"jvm/resolve.py: unknown set `{name}` (sets: {', '.join(available)})")
    args.out = args.out.resolve()  # mvn runs in other folders: relative paths would point elsewhere
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = args.sets or available
    for name in sorted(chosen, key=is_built):  # built sets last: their jars go into the resolved spark set
        (build if is_built(name) else resolve)(name, args.out, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
