"""Write-audit-publish of the six audience tables of a run: stage, seal, quarantine or commit together.

A run stages every table into its ``dt`` partition (:class:`StagedDay`); after the guardrails it
either quarantines them all (:func:`quarantine_all`) or commits them all (:func:`commit_all`),
members last. :func:`publish_overridden` commits a quarantined run: a recorded decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession

from tagfactory.audiences.errors import AudienceError
from tagfactory.compiler.manifest import ColumnLineage, Entity, check_run_digest
from tagfactory.lakehouse import staging
from tagfactory.lakehouse.stage import StagedWrite
from tagfactory.lakehouse.store import TableStore
from tagfactory.progress import step
from tagfactory.quality import store
from tagfactory.settings import Settings

if TYPE_CHECKING:  # the gate imports Great Expectations (~5 s): the effect job never needs it
    from tagfactory.lineage import LineageEmitter
    from tagfactory.quality.gate import AuditReport

# members last, so a reader of members sees a complete day
COMMIT_ORDER = ["audience_changes", "audience_stats", "audience_profile", "scene_assignments", "scene_stats",
                "audience_members"]


@dataclass
class StagedDay:
    """The audience tables of one run staged into the ``dt`` partition of the snapshot date."""

    tables: TableStore
    uris: dict[str, str]
    snapshot_date: dt.date
    run_id: str
    staged: dict[str, StagedWrite] = field(default_factory=dict)

    def stage(self, df: DataFrame, table: str) -> StagedWrite:
        """Stage the day's rows of one audience table (``dt`` is the snapshot date)."""
        self.staged[table] = self.tables.stage(df, self.uris[table], partition_by=["dt"], run_id=self.run_id,
                                               partition_values={"dt": self.snapshot_date})
        return self.staged[table]

    def read(self, table: str) -> DataFrame:
        """The staged rows of one table."""
        return self.tables.read_staged(self.staged[table])

    def save_manifests(self, manifest_digest: str) -> None:
        """Record every staged run (its files and the manifest digest) for a later override."""
        for st in self.staged.values():
            staging.save_manifest(st, manifest_digest=manifest_digest)

    def write_verdicts(self, report: AuditReport, manifest_digest: str) -> None:
        """Store the guardrails' verdict beside every staged run."""
        for st in self.staged.values():
            staging.write_verdict(st, {**report.verdict(), "manifest_digest": manifest_digest})


def quarantine_all(spark: SparkSession, day: StagedDay, retention_days: float) -> int:
    """Move every staged table to ``<table>/_quarantine/<run_id>``, purge expired quarantines; tables moved."""
    moved = [staging.quarantine(st) for st in day.staged.values()]
    for uri in day.uris.values():
        staging.purge_quarantine(spark, uri, retention_days)
    return len(moved)


def commit_all(staged: dict[str, StagedWrite], snapshot_date: dt.date, run_id: str, tables: TableStore,
               extra: dict[str, str] | None = None, *, order: Sequence[str] = COMMIT_ORDER,
               job_name: str = "materialize_audiences") -> dict[str, int]:
    """Commit every staged table in ``order`` (each replacing the date's partition, also with no rows);
    by default the audience tables, members last, so a reader of members sees a complete day."""
    versions: dict[str, int] = {}
    for name in order:
        st = staged[name]
        with step(f"publishing {name}") as s:
            versions[name] = tables.commit(st, commit_metadata={"run_id": run_id, "job_name": job_name,
                                                                "snapshot_date": snapshot_date.isoformat(),
                                                                **(extra or {})},
                                           empty_partition={"dt": snapshot_date.isoformat()})
            s.detail = f"version {versions[name]}, {st.rows:,} rows"
    return versions


def publish_overridden(spark: SparkSession, settings: Settings, tables: TableStore, entity: Entity,
                       snapshot_date: dt.date, run_id: str, reason: str, manifest_digest: str,
                       actor: str | None = None, *, emitter: LineageEmitter | None = None,
                       column_lineage: Sequence[ColumnLineage] = ()) -> dict[str, int]:
    """Publish the audience tables of a run the guardrails quarantined: a recorded decision.

    The override (who, why, which guardrails failed) is a row of ``quality_results`` and part of
    every Delta commit's metadata. Lineage: the run ``publish_audiences.<entity>`` reads the six
    tables' quarantined versions (the quarantine folder is a run facet) and writes them (Delta
    versions, ``columnLineage`` of members and scene assignments), plus ``quality_results``.
    """
    from tagfactory.lineage import LineageEmitter
    from tagfactory.lineage import facets as olf
    from tagfactory.pipeline import lineage_refs as refs

    uris = {k: settings.table_uri(v) for k, v in entity.audience_tables.items()}
    staged = {name: staging.load_staged(spark, uri, run_id, quarantined=True) for name, uri in uris.items()}
    tables_in = {kind: refs.entity_dataset(settings, entity, name) for kind, name in entity.audience_tables.items()}
    outputs = refs.audience_outputs_with_columns(tables_in, settings, entity, column_lineage)
    members = staged["audience_members"]
    with (emitter or LineageEmitter.disabled()).run(
            f"publish_audiences.{entity.name}", list(tables_in.values()),
            [*outputs.values(), refs.results_dataset(settings)], run_id=f"{run_id}-audiences-override",
            nominal_time=snapshot_date,
            parameters={"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest_digest,
                        "run_id": run_id, "gate_override": reason, "gate_override_by": actor or ""},
            run_facets=refs.staging_facets(members.staging_uri, run_id, entity.audience_tables["audience_members"]),
            job_facets=olf.without_none({
                "ownership": olf.ownership(a.owner for a in entity.audiences),
                "documentation": olf.documentation(
                    f"Publishes the audience tables of {entity.name} that a failed guardrail quarantined "
                    "(a recorded override)")})) as lineage_run:
        versions = _publish_overridden(spark, settings, tables, entity, snapshot_date, run_id, reason,
                                       manifest_digest, actor, staged)
        lineage_run.set_outputs([*(ref.with_stats(row_count=staged[kind].rows, version=versions.get(kind))
                                   for kind, ref in outputs.items()), refs.results_dataset(settings)])
    return versions


def _publish_overridden(spark: SparkSession, settings: Settings, tables: TableStore, entity: Entity,
                        snapshot_date: dt.date, run_id: str, reason: str, manifest_digest: str,
                        actor: str | None, staged: dict[str, StagedWrite]) -> dict[str, int]:
    for name, st in staged.items():
        check_run_digest(staging.staged_digest(st), manifest_digest, f"run {run_id} of {name}")
    verdict = staging.read_verdict(staged["audience_members"]) or {}
    if verdict.get("dt") not in (None, snapshot_date.isoformat()):
        raise AudienceError(f"run {run_id} materialized the audiences of {verdict.get('dt')}, not {snapshot_date}")
    metadata = store.record_override(
        spark, settings, run_id=run_id, dataset=entity.audience_tables["audience_members"],
        snapshot_date=snapshot_date.isoformat(), reason=reason, actor=actor, overridden=verdict.get("errors", []),
        tables=tables)
    return commit_all(staged, snapshot_date, run_id, tables, {**metadata, "manifest_digest": manifest_digest})
