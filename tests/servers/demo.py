"""Run a command with a Hive metastore and a Kafka broker on loopback, then read the results back.

``make demo`` uses the same launchers as the tests (this folder): the metastore and the broker are
up while the command (the two DAG runs) runs, with ``TAGFACTORY_HIVE_METASTORE_URI`` and
``TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS`` set for it. Afterwards a ``read_committed`` consumer (group
``--kafka-group``) reads every Kafka topic of the manifest's exports back and prints the messages
per date and type; then the Spark Thrift server (HiveServer2, what analysts connect to) is started
on the same metastore, each ``--query`` is run through beeline and printed, and the servers stop::

    python -m tests.servers.demo --workdir .demo-servers --manifest target/manifest.json \
        --query "SELECT 1" -- airflow dags test ...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from tests.servers.hive import HiveMetastore, beeline, start_metastore, start_thrift_server
from tests.servers.kafka import start_kafka
from tests.servers.kafka_readback import summarize


def main(argv: list[str] | None = None) -> int:
    """Start the metastore and the broker, run the command, read Kafka back, run the queries and ``--then``."""
    parser = argparse.ArgumentParser(prog="python -m tests.servers.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="folder for the servers' state and logs")
    parser.add_argument("--query", action="append", default=[], help="SQL to run through beeline afterwards")
    parser.add_argument("--manifest", type=Path, help="compiled manifest: its Kafka topics are read back")
    parser.add_argument("--kafka-group", default="popup-service", help="consumer group of the read-back")
    parser.add_argument("--then", action="append", default=[], metavar="SHELL_COMMAND",
                        help="run after the queries, with the servers still up (e.g. the service registry, "
                             "which reads the consumer groups' offsets from the broker)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    metastore = start_metastore(args.workdir / "metastore")
    print(f"== Hive metastore on {metastore.uri} (log: {args.workdir / 'metastore' / 'metastore.log'})", flush=True)
    broker = None
    try:
        broker = start_kafka(args.workdir / "kafka")
        print(f"== Kafka broker on {broker.bootstrap} (log: {args.workdir / 'kafka' / 'kafka.log'})", flush=True)
        env = {**os.environ, "TAGFACTORY_HIVE_METASTORE_URI": metastore.uri,
               "TAGFACTORY_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
        code = subprocess.call(command, env=env)
        if code != 0:
            return code
        if args.manifest is not None:
            print(f"== Kafka read-back (read_committed, consumer group {args.kafka_group})", flush=True)
            for line in summarize(broker.bootstrap, str(args.manifest), args.kafka_group):
                print(line)
        if args.query:
            _queries(metastore, args.workdir / "thrift", args.query)
        for then in args.then:
            print(flush=True)
            code = subprocess.call(then, shell=True, env=env)  # noqa: S602 - the Makefile's own commands
            if code != 0:
                return code
        return 0
    finally:
        if broker is not None:
            broker.stop()
        metastore.stop()


def _queries(metastore: HiveMetastore, workdir: Path, queries: list[str]) -> None:
    """Start the Thrift server on the metastore, run each query through beeline and print its rows."""
    thrift = start_thrift_server(metastore, workdir)
    try:
        print(f"== Spark Thrift server (HiveServer2) at {thrift.jdbc_url}; analysts connect with beeline -u "
              f"{thrift.jdbc_url}", flush=True)
        for sql in queries:
            print(f"beeline> {sql}")
            for row in beeline(thrift.jdbc_url, sql, timeout=180):
                print("  " + " | ".join(row))
    finally:
        thrift.stop()


if __name__ == "__main__":
    sys.exit(main())
