"""Lineage of export deliveries: one OpenLineage run per export destination.

Inputs are the tables the selection read, at the Delta versions it pinned; the output is the
destination as a dataset named per the OpenLineage naming spec:

- file drop: the drop folder (``file`` / ``hdfs://…`` + path), the same name every day;
- Excel workbook: the workbook folder;
- Hive table: ``hive://host:port`` (the metastore) + ``database.table``;
- Kafka topic: ``kafka://bootstrap-server`` + the topic.

The run's id becomes the selection's ``lineage_run_id``, which the file drop's manifest records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING
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


def ship_with_lineage(emitter: LineageEmitter | None, settings: Settings, export: Export, selection: Selection,
                      dest: Destination, run_id: str, ship: Callable[[Selection], Delivery],
                      manifest: Manifest | None = None) -> Delivery:
    """Run ``ship`` (one destination's delivery) as the lineage run ``export.<export>.<destination>``.

    START before, COMPLETE (with the rows delivered) or FAIL after; ``ship`` gets the selection
    with ``lineage_run_id`` set to this run's id.
    """
    emitter = emitter or LineageEmitter.disabled()
    fields = [(c.name, c.type) for c in selection.columns]
    output = destination_dataset(settings, dest, fields, export.description or None)
    job_facets = olf.without_none({"ownership": olf.ownership([export.owner]),
                                   "documentation": olf.documentation(export.description),
                                   "jobType": olf.job_type("SPARK", "JOB")})
    with emitter.run(f"export.{export.name}.{dest.name}", selection_inputs(settings, manifest, selection), [output],
                     run_id=f"{run_id}-{export.name}-{dest.name}", nominal_time=selection.snapshot_date,
                     parameters={"snapshot_date": selection.snapshot_date.isoformat(), "destination": dest.name,
                                 "kind": dest.kind, "content_id": selection.content_id,
                                 "manifest_digest": selection.manifest_digest},
                     job_facets=job_facets) as run:
        delivery = ship(replace(selection, lineage_run_id=run.run_id))
        run.set_outputs([output.with_stats(row_count=delivery.rows_delivered)])
    return delivery
