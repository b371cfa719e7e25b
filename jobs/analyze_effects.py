"""spark-submit entry point: the effect analysis of one as-of date from the compiled manifest.

    spark-submit jobs/analyze_effects.py --manifest target/manifest.json --date 2026-11-24 [--run-id RUN] [--config conf.yaml]

Reads the scene assignments up to the date, the goals' sources, the profile (covariates, slices)
and the export receipts; aggregates the exposures and the sufficient statistics of every cell with
Spark, computes the results on the driver and replaces the date in the four effect tables
(exposures, stats, results, health). All logic lives in ``tagfactory.analysis``; see docs/effects.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _runner() -> Callable[..., int]:
    from tagfactory.analysis.job import run_effects

    return run_effects


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and analyse the effects."""
    from tagfactory.cli import run_daily_job

    return run_daily_job("analyze_effects.py", __doc__ or "", _runner, argv, date_help="as-of date YYYY-MM-DD")


if __name__ == "__main__":
    sys.exit(main())
