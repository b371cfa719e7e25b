"""Run a command with a Hive metastore on loopback, then query the results through the Thrift server.

``make demo`` uses the same launchers as the tests (this folder): the metastore is up while the
command (the two DAG runs) runs, with ``TAGFACTORY_HIVE_METASTORE_URI`` set for it; afterwards the
Spark Thrift server (HiveServer2, what analysts connect to) is started on the same metastore, each
``--query`` is run through beeline and printed, and both servers stop::

    python -m tests.servers.demo --workdir .demo-servers --query "SELECT 1" -- airflow dags test ...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from tests.servers.hive import beeline, start_metastore, start_thrift_server


def main(argv: list[str] | None = None) -> int:
    """Start the metastore, run the command, run the queries through the Thrift server."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="folder for the servers' state and logs")
    parser.add_argument("--query", action="append", default=[], help="SQL to run through beeline afterwards")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    metastore = start_metastore(args.workdir / "metastore")
    print(f"== Hive metastore on {metastore.uri} (log: {args.workdir / 'metastore' / 'metastore.log'})", flush=True)
    try:
        code = subprocess.call(command, env={**os.environ, "TAGFACTORY_HIVE_METASTORE_URI": metastore.uri})
        if code != 0 or not args.query:
            return code
        thrift = start_thrift_server(metastore, args.workdir / "thrift")
        try:
            print(f"== Spark Thrift server (HiveServer2) at {thrift.jdbc_url}; analysts connect with beeline -u "
                  f"{thrift.jdbc_url}", flush=True)
            for sql in args.query:
                print(f"beeline> {sql}")
                for row in beeline(thrift.jdbc_url, sql, timeout=180):
                    print("  " + " | ".join(row))
        finally:
            thrift.stop()
        return 0
    finally:
        metastore.stop()


if __name__ == "__main__":
    sys.exit(main())
