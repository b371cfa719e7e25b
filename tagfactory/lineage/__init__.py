"""OpenLineage events for tag factory jobs.

``events`` holds pure mapping functions (our dataclasses -> OpenLineage ``event_v2`` objects);
``emitter`` sends them around a job run and does nothing when lineage is turned off.

Typical use in a job::

    from tagfactory.lineage import LineageEmitter, dataset_for_uri

    emitter = LineageEmitter.from_config(enabled=settings.lineage, default_file="target/lineage.jsonl")
    source = dataset_for_uri(orders_uri, fields=[("user_id", "bigint"), ("amount", "double")])
    target = dataset_for_uri(profiles_uri, storage_layer="delta", file_format="parquet")
    with emitter.run("profile_build.daily", [source], [target],
                     parameters={"snapshot_date": snapshot_date}) as run:
        rows, version = build_profiles(...)
        run.set_outputs([target.with_stats(row_count=rows, version=version)])
"""

from .columns import FACET_NAME, column_lineage_facet
from .emitter import DEFAULT_NAMESPACE, LineageEmitter, RunHandle, configured_by_environment
from .events import (
    DEFAULT_PRODUCER,
    DatasetRef,
    ParentRun,
    RunSpec,
    as_run_id,
    build_run_event,
    dataset_for_uri,
    fields_from_schema,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_PRODUCER",
    "FACET_NAME",
    "DatasetRef",
    "LineageEmitter",
    "ParentRun",
    "RunHandle",
    "RunSpec",
    "as_run_id",
    "build_run_event",
    "column_lineage_facet",
    "configured_by_environment",
    "dataset_for_uri",
    "fields_from_schema",
]
