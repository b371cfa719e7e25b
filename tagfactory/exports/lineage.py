"""Lineage of export deliveries: one OpenLineage run per export destination.

Inputs are the tables the selection read, at the Delta versions it pinned; the output is the
destination as a dataset named per the OpenLineage naming spec:

- file drop: the drop folder (``file`` / ``hdfs://…`` + path), the same name every day;
- Excel workbook: the workbook folder;
- Hive table: ``hive://host:port`` (the metastore) + ``database.table``;
- Kafka topic: ``kafka://bootstrap-server`` + the topic.

The run's id becomes the selection's ``lineage_run_id``, which the file drop's manifest records.

The select step is the run ``export.<export>.select``: inputs the tables it read (at the versions
it pinned), output the export's staging area (``<warehouse>/_exports/<export>``, one dataset
across days; the date's content folder is the ``tagfactory_staging`` run facet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tagfactory.lineage import DatasetRef, LineageEmitter
from tagfactory.lineage import facets as olf
from tagfactory.pipeline import lineage_refs as refs

if TYPE_CHECKING:
    from tagfactory.compiler.export_models import Destination
    from tagfactory.compiler.manifest import Export, Manifest
    from tagfactory.exports.contracts import Delivery, Selection
    from tagfactory.settings import Settings


def destination_dataset(settings: Settings, dest: Destination, fields: Sequence[tuple[str, str]] = (),
                        description: str | None = None) -> DatasetRef:
    """The dataset an export destination delivers to (see the module docstring for the names)."""
    from tagfactory.compiler.export_models import HiveDestination, KafkaDestination
    from tagfactory.lineage import dataset_for_uri

    if isinstance(dest, HiveDestination):
        meta = urlsplit(settings.hive.metastore_uri or "")
        namespace = f"hive://{meta.netloc}" if meta.netloc else "hive"
        return DatasetRef(namespace, f"{dest.database}.{dest.table}", fields, description=description)
    if isinstance(dest, KafkaDestination):
        first = (settings.kafka.bootstrap_servers or "").split(",")[0].strip()
        return DatasetRef(f"kafka://{first}" if first else "kafka", dest.topic, fields, description=description)
    return dataset_for_uri(settings.export_uri(dest.path), fields, description=description)


def selection_inputs(settings: Settings, manifest: Manifest | None, selection: Selection) -> list[DatasetRef]:
    """The tables the selection read, at the versions it pinned (registry schemas where known)."""
    entity = None
    if manifest is not None:
        entity = next((e for e in manifest.entities if e.name == selection.entity), None)
    inputs = []
    for table, version in sorted(selection.source_versions.items()):
        if entity is not None:
            try:
                inputs.append(refs.entity_dataset(settings, entity, table, version=version))
                continue
            except KeyError:
                pass
        from tagfactory.lineage import dataset_for_uri

        inputs.append(dataset_for_uri(settings.table_uri(table), version=str(version)))
    return inputs


def with_export_columns(ref: DatasetRef, settings: Settings, manifest: Manifest | None, export: Export) -> DatasetRef:
    """``ref`` (what an export delivers) carrying ``columnLineage``: each delivered column from the
    tag, audience, scene or source columns it is read from, ``masking`` where it is hashed or masked."""
    entity = next((e for e in manifest.entities if e.name == export.entity), None) if manifest is not None else None
    if manifest is None or entity is None:
        return ref
    return refs.with_column_lineage(ref, refs.lineage_of(manifest.column_lineage, "export", [export.name]),
                                    refs.node_datasets(settings, entity), use="direct")


def staging_dataset(settings: Settings, export: Export) -> DatasetRef:
    """The export's staging area as one dataset (the staged selections of every date), its columns."""
    from tagfactory.exports.select import STAGING
    from tagfactory.lineage import dataset_for_uri

    return dataset_for_uri(settings.table_uri(f"{STAGING}/{export.name}"), [(c.name, c.type) for c in export.columns],
                           description=f"staged selections of export {export.name}", file_format="parquet")


def _job_facets(export: Export, purpose: str) -> dict[str, Any]:
    return olf.without_none({"ownership": olf.ownership([export.owner]),
                             "documentation": olf.documentation(export.description or purpose),
                             "jobType": olf.job_type("SPARK", "JOB")})


def select_with_lineage(emitter: LineageEmitter | None, settings: Settings, manifest: Manifest, export: Export,
                        snapshot_date: date, select: Callable[[], Selection]) -> Selection:
    """Run ``select`` (the export's select step) as the lineage run ``export.<export>.select``.

    START before (the tables read are known once the selection pinned them: COMPLETE lists them
    at those versions), COMPLETE with the rows staged, or FAIL.
    """
    emitter = emitter or LineageEmitter.disabled()
    output = with_export_columns(staging_dataset(settings, export), settings, manifest, export)
    with emitter.run(f"export.{export.name}.select", [], [output], nominal_time=snapshot_date,
                     parameters={"snapshot_date": snapshot_date.isoformat(), "manifest_digest": manifest.digest},
                     job_facets=_job_facets(export, f"Selects and stages the rows of export {export.name}")) as run:
        selection = select()
        run.set_inputs(selection_inputs(settings, manifest, selection))
        run.add_run_facet(olf.STAGING_FACET, olf.staging(selection.staged_uri, selection.content_id, export.name))
        run.set_outputs([output.with_stats(row_count=selection.rows_expected)])
    return selection


def ship_with_lineage(emitter: LineageEmitter | None, settings: Settings, export: Export, selection: Selection,
                      dest: Destination, run_id: str, ship: Callable[[Selection], Delivery],
                      manifest: Manifest | None = None) -> Delivery:
    """Run ``ship`` (one destination's delivery) as the lineage run ``export.<export>.<destination>``.

    START before, COMPLETE (with the rows delivered) or FAIL after; ``ship`` gets the selection
    with ``lineage_run_id`` set to this run's id.
    """
    emitter = emitter or LineageEmitter.disabled()
    fields = [(c.name, c.type) for c in selection.columns]
    output = with_export_columns(destination_dataset(settings, dest, fields, export.description or None),
                                 settings, manifest, export)
    job_facets = _job_facets(export, f"Delivers export {export.name} to {dest.name}")
    with emitter.run(f"export.{export.name}.{dest.name}", selection_inputs(settings, manifest, selection), [output],
                     run_id=f"{run_id}-{export.name}-{dest.name}", nominal_time=selection.snapshot_date,
                     parameters={"snapshot_date": selection.snapshot_date.isoformat(), "destination": dest.name,
                                 "kind": dest.kind, "content_id": selection.content_id,
                                 "manifest_digest": selection.manifest_digest},
                     job_facets=job_facets) as run:
        delivery = ship(replace(selection, lineage_run_id=run.run_id))
        run.set_outputs([output.with_stats(row_count=delivery.rows_delivered)])
    return delivery
