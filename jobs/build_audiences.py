"""spark-submit entry point: materialize one day's audiences and scenes from the compiled manifest.

    spark-submit jobs/build_audiences.py --manifest target/manifest.json --date 2026-11-24 [--run-id RUN] [--config conf.yaml]

Reads the published profile snapshot of the date, evaluates every audience in one pass, derives
changes, stats, audience profiles (TGI) and scene assignments, audits the guardrails and only then
commits the six Delta tables (a failed guardrail quarantines them and fails the task). All logic
lives in ``tagfactory.audiences``; see docs/audiences.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and materialize the audiences."""
    parser = argparse.ArgumentParser(prog="build_audiences.py", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="compiled manifest (target/manifest.json)")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="snapshot date YYYY-MM-DD")
    parser.add_argument("--config", help="settings YAML (default: $TAGFACTORY_CONFIG or embedded defaults)")
    parser.add_argument("--entity", action="append", help="only this entity (repeatable)")
    parser.add_argument("--run-id", help="run id (default: a new timestamped id)")
    parser.add_argument("--lineage-parent-id", help="OpenLineage parent run, namespace/job_name/run_id (Airflow: "
                        "macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance))")
    parser.add_argument("--lineage-root-parent-id", help="OpenLineage root run (the DAG run), namespace/job_name/run_id")
    args = parser.parse_args(argv)

    from tagfactory.audiences.job import run_audiences
    from tagfactory.cli import run_reported

    return run_reported(parser.prog, lambda: run_audiences(args.date, manifest_file=args.manifest, config=args.config,
                                                           entities=args.entity, run_id=args.run_id,
        lineage_parent_id=args.lineage_parent_id or None, lineage_root_parent_id=args.lineage_root_parent_id or None))


if __name__ == "__main__":
    sys.exit(main())
