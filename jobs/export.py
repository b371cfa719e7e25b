"""spark-submit entry point: one step of the exports of a date (select, deliver, verify or clean).

    spark-submit jobs/export.py --manifest target/manifest.json --date 2026-11-24 --export NAME --step select
    spark-submit jobs/export.py ... --step deliver --destination NAME
    python jobs/export.py ... --step verify          # no Spark: reads the receipts with delta-rs
    spark-submit jobs/export.py ... --export RETIRED --step clean   # a retired export's outlets past retention

The DAG runs ``select -> one task per destination -> verify`` per export, and one
``clean_retired_exports`` task for the retired ones. All logic lives in
``tagfactory.exports``; see docs/exports.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one export step."""
    parser = argparse.ArgumentParser(prog="export.py", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="compiled manifest (target/manifest.json)")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="snapshot date YYYY-MM-DD")
    parser.add_argument("--export", action="append", help="only this export (repeatable)")
    parser.add_argument("--destination", action="append", help="only this destination, by name or kind")
    parser.add_argument("--step", choices=("all", "select", "deliver", "verify", "clean"), default="all",
                        help="clean: only remove what retired exports left past their retention (the DAG's "
                        "clean_retired_exports task)")
    parser.add_argument("--config", help="settings YAML (default: $TAGFACTORY_CONFIG or embedded defaults)")
    parser.add_argument("--run-id", help="run id recorded in the receipts")
    parser.add_argument("--lineage-parent-id", help="OpenLineage parent run, namespace/job_name/run_id (Airflow: "
                        "macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance))")
    parser.add_argument("--lineage-root-parent-id", help="OpenLineage root run (the DAG run), namespace/job_name/run_id")
    args = parser.parse_args(argv)

    from tagfactory.cli import run_reported
    from tagfactory.exports.job import run_exports

    return run_reported(parser.prog, lambda: run_exports(
        args.date, manifest_file=args.manifest, config=args.config, exports=args.export,
        destinations=args.destination, run_id=args.run_id, step_name=args.step,
        lineage_parent_id=args.lineage_parent_id or None, lineage_root_parent_id=args.lineage_root_parent_id or None))


if __name__ == "__main__":
    sys.exit(main())
