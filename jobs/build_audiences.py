"""spark-submit entry point: materialize one day's audiences and scenes from the compiled manifest.

    spark-submit jobs/build_audiences.py --manifest target/manifest.json --date 2026-11-24 [--run-id RUN] [--config conf.yaml]

Reads the published profile snapshot of the date, evaluates every audience in one pass, derives
changes, stats, audience profiles (TGI) and scene assignments, audits the guardrails and only then
commits the six Delta tables (a failed guardrail quarantines them and fails the task). All logic
lives in ``tagfactory.audiences``; see docs/audiences.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _runner() -> Callable[..., int]:
    from tagfactory.audiences.job import run_audiences

    return run_audiences


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and materialize the audiences."""
    from tagfactory.cli import run_daily_job

    return run_daily_job("build_audiences.py", __doc__ or "", _runner, argv)


if __name__ == "__main__":
    sys.exit(main())
