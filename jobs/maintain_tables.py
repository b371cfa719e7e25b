"""spark-submit entry point: compact and vacuum every warehouse table of the compiled manifest.

    spark-submit jobs/maintain_tables.py --manifest target/manifest.json [--retention-days 7] [--config conf.yaml]

Compacts small files and deletes files that were removed from a table longer ago than the
retention (settings ``maintenance.retention_days``, default 7): time travel keeps working inside
the retention. delta-rs does the work with ``writer: deltars`` (no Spark job runs), Delta Lake on
Spark with ``writer: native``. All logic lives in ``tagfactory.pipeline.maintenance``.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and maintain the tables."""
    parser = argparse.ArgumentParser(prog="maintain_tables.py", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="compiled manifest (target/manifest.json)")
    parser.add_argument("--config", help="settings YAML (default: $TAGFACTORY_CONFIG or embedded defaults)")
    parser.add_argument("--retention-days", type=float, help="override settings maintenance.retention_days")
    parser.add_argument("--lineage-parent-id", help="OpenLineage parent run, namespace/job_name/run_id (Airflow: "
                        "macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance))")
    parser.add_argument("--lineage-root-parent-id", help="OpenLineage root run (the DAG run), namespace/job_name/run_id")
    args = parser.parse_args(argv)

    from tagfactory.cli import run_reported
    from tagfactory.pipeline.maintenance import run_maintenance

    return run_reported(parser.prog, lambda: run_maintenance(
        args.manifest, args.config, retention_days=args.retention_days,
        lineage_parent_id=args.lineage_parent_id or None, lineage_root_parent_id=args.lineage_root_parent_id or None))


if __name__ == "__main__":
    sys.exit(main())
