"""Run the audience materialization for a date (spark-submit, the DAG and the CLI call this)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tagfactory.audiences.materialize import materialize
from tagfactory.audiences.publish import publish_overridden
from tagfactory.audiences.report import describe
from tagfactory.compiler.manifest import manifest_path, read_manifest
from tagfactory.errors import ConfigError
from tagfactory.lakehouse import delta
from tagfactory.pipeline.runtime import safe_run_id, start_job, stop_job
from tagfactory.progress import log
from tagfactory.settings import load_settings


def run_audiences(snapshot_date: dt.date, manifest_file: str | None = None, config: str | None = None,
                  master: str | None = None, entities: list[str] | None = None, run_id: str | None = None,
                  *, quiet: bool = False, override_reason: str | None = None, actor: str | None = None,
                  lineage_parent_id: str | None = None, lineage_root_parent_id: str | None = None) -> int:
    """Materialize, audit and publish every entity's audiences and scenes for ``snapshot_date``.

    Returns:
        Process exit code (0 on success); gate failures raise ``QualityGateError``.
    """
    settings = load_settings(config)
    file = Path(manifest_file or manifest_path(settings.target))
    manifest = read_manifest(file)
    chosen = manifest.choose(entities)
    if override_reason is not None and not run_id:
        raise ConfigError("--override-gate needs --run-id: the run whose quarantined audience tables to publish "
                          "(the failed task's message prints it)")
    run_id = safe_run_id(run_id) if run_id else delta.new_run_id()
    job = start_job(settings, master, lineage_parent_id=lineage_parent_id,
                    lineage_root_parent_id=lineage_root_parent_id)
    spark, emitter, tables = job.spark, job.emitter, job.tables
    try:
        for entity in chosen:
            if override_reason is not None:
                versions = publish_overridden(spark, settings, tables, entity, snapshot_date, run_id, override_reason,
                                              manifest.digest, actor, emitter=emitter,
                                              column_lineage=manifest.column_lineage)
                log(f"published the quarantined audience tables of run {run_id}: {versions}")
                continue
            summary = materialize(spark, settings, tables, entity, snapshot_date, run_id, file.parent, manifest.digest,
                                  emitter, column_lineage=manifest.column_lineage)
            if not quiet and summary.get("stats"):
                log(f"audiences of {entity.name} for {snapshot_date} (population {summary['population']:,}):\n"
                    + describe(summary))
    finally:
        stop_job(spark, settings, master)
    return 0
