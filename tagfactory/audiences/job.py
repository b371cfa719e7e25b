"""Run the audience materialization for a date (spark-submit, the DAG and the CLI call this)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tagfactory.audiences.materialize import describe, materialize
from tagfactory.compiler.plan import read_plan
from tagfactory.lakehouse import delta
from tagfactory.pipeline.job import choose_entities, safe_run_id, start_job, stop_job
from tagfactory.progress import log
from tagfactory.settings import load_settings


def run_audiences(snapshot_date: dt.date, plan_path: str | None = None, config: str | None = None,
                  master: str | None = None, entities: list[str] | None = None, run_id: str | None = None,
                  *, quiet: bool = False) -> int:
    """Materialize, audit and publish every entity's audiences and scenes for ``snapshot_date``.

    Returns:
        Process exit code (0 on success); gate failures raise ``QualityGateError``.
    """
    settings = load_settings(config)
    plan_file = Path(plan_path or Path(settings.target) / "plan.json")
    plan = read_plan(plan_file)
    chosen = choose_entities(plan, entities)
    run_id = safe_run_id(run_id) if run_id else delta.new_run_id()
    spark, emitter = start_job(settings, master)
    try:
        for entity in chosen:
            summary = materialize(spark, settings, entity, snapshot_date, run_id, plan_file.parent, emitter)
            if not quiet and summary.get("stats"):
                log(f"audiences of {entity['name']} for {snapshot_date} (population {summary['population']:,}):\n"
                    + describe(summary))
    finally:
        stop_job(spark, settings, master)
    return 0
