"""Benchmark: what a spark-submit of a small Delta job costs, with and without the driver's CDS archive.

Every DAG task is one spark-submit, so a JVM's start-up is paid a dozen times per DAG run. This
submits ``jvm/cds_workload.py`` (a session, a partitioned Delta write, reads, SQL, a MERGE) with
the project's jars and settings under four JVM option sets, interleaved for ``--rounds`` rounds:

* ``default``   - nothing added;
* ``cds``       - the class-data sharing archive of jvm/cds.py (what jobs and the DAG use when it exists);
* ``c1``        - ``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`` (C1 only: short jobs on small data, as
  ``make test`` sets through ``SPARK_SUBMIT_OPTS``; long jobs want C2);
* ``cds+c1``    - both.

Prints each set's median wall time and its ratio to ``default`` measured in the same run; asserts
nothing. Usage: python benchmarks/spark_startup.py [--rounds 3] (after ``make install``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "jvm")]

from cds import workload_command, workload_env  # noqa: E402

from tagfactory.lakehouse.jars import cds_java_options, jars_root  # noqa: E402

C1 = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def _submit(java_options: str) -> float:
    """Wall time of jvm/cds.py's workload submit with the driver JVM started with ``java_options``."""
    with tempfile.TemporaryDirectory(prefix="tagfactory-startup-") as work:
        started = time.monotonic()
        subprocess.run(workload_command(jars_root(), java_options, work), env=workload_env(), check=True,
                       capture_output=True)
        return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cds = cds_java_options()
    if not cds:
        print("no CDS archive: run `make jars` (jvm/cds.py) first", file=sys.stderr)
        return 1
    sets = {"default": "", "cds": cds, "c1": C1, "cds+c1": f"{cds} {C1}"}
    times: dict[str, list[float]] = {name: [] for name in sets}
    for round_no in range(1, args.rounds + 1):
        for name, options in sets.items():
            times[name].append(_submit(options))
            print(f"round {round_no}: {name:8s} {times[name][-1]:6.1f} s", flush=True)
    base = statistics.median(times["default"])
    print(f"\n{'JVM options':10s} {'median s':>9s} {'vs default':>11s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:10s} {median:9.1f} {median / base:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
