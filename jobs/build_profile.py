"""spark-submit entry point: build, audit and publish one day's profile snapshots from the compiled manifest.

    spark-submit jobs/build_profile.py --manifest target/manifest.json --date 2026-11-24 [--config conf.yaml]
    spark-submit jobs/build_profile.py ... --step check-sources|stage|audit|publish --run-id RUN

Without ``--step`` every step runs in this process. The DAG runs each step as its own task with
the same ``--run-id``: check-sources (quality gate on the inputs), stage (compute and write the
snapshot's files, invisible to readers), audit (quality gate on the staged files; a failure
quarantines them), publish (Delta commit, tag statistics).

The master comes from spark-submit (``--master local[*] | yarn | k8s://...``) or the settings.
On a cluster, ship the package with ``--py-files tagfactory.zip`` (the project's wheel renamed to
``.zip``: PySpark puts no ``.whl`` on the executors' path) or install it on the nodes' Python; see
docs/clusters.md. All logic lives in ``tagfactory.pipeline.job``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the build."""
    parser = argparse.ArgumentParser(prog="build_profile.py", description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="compiled manifest (target/manifest.json)")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="snapshot date YYYY-MM-DD")
    parser.add_argument("--config", help="settings YAML (default: $TAGFACTORY_CONFIG or embedded defaults)")
    parser.add_argument("--entity", action="append", help="only this entity (repeatable)")
    parser.add_argument("--step", default="all", choices=("all", "check-sources", "stage", "audit", "publish"),
                        help="one write-audit-publish step (default: all)")
    parser.add_argument("--run-id", help="build run id shared by the steps (required with --step)")
    parser.add_argument("--lineage-parent-id", help="OpenLineage parent run, namespace/job_name/run_id (Airflow: "
                        "macros.OpenLineageProviderPlugin.lineage_parent_id(task_instance))")
    parser.add_argument("--lineage-root-parent-id", help="OpenLineage root run (the DAG run), namespace/job_name/run_id")
    args = parser.parse_args(argv)

    from tagfactory.cli import run_reported
    from tagfactory.pipeline.job import run_build

    return run_reported(parser.prog, lambda: run_build(args.date, manifest_file=args.manifest, config=args.config,
                                                       entities=args.entity, step_name=args.step,
                                                       run_id=args.run_id,
        lineage_parent_id=args.lineage_parent_id or None, lineage_root_parent_id=args.lineage_root_parent_id or None))


if __name__ == "__main__":
    sys.exit(main())
