"""Lineage datasets of the warehouse tables and the jobs' facets, from the manifest and the table registry.

One place names every table the jobs read and write (the table's URI, so every job names a table
the same way and graphs join), with its schema (the registry's columns) and description, and
builds the facets the build steps emit (staging location, quality assertions, quality metrics).
No Spark here: the callers pass what they already computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from tagfactory.contracts.tables import RESULTS_TABLE, TableSpec, project_tables, table_name
from tagfactory.lineage import FACET_NAME, DatasetRef, column_lineage_facet, dataset_for_uri
from tagfactory.lineage import facets as olf

if TYPE_CHECKING:
    from tagfactory.compiler.manifest import ColumnLineage, Entity
    from tagfactory.settings import Settings

NUMERIC_TYPES = ("integer", "double", "bigint", "int", "float")


def table_dataset(settings: Settings, spec: TableSpec, *, version: int | str | None = None,
                  row_count: int | None = None, **facets: Any) -> DatasetRef:
    """The Delta table of ``spec`` as a lineage dataset: schema and description from the registry."""
    ref = dataset_for_uri(settings.table_uri(spec.name), [(c.name, c.type) for c in spec.columns],
                          description=spec.description or None, storage_layer="delta", file_format="parquet",
                          facets=facets)
    return ref.with_stats(row_count=row_count, version=version)


def entity_table(entity: Entity, name: str) -> TableSpec:
    """The registry spec of the entity's table ``name`` (e.g. ``profile_user``)."""
    for spec in entity.tables:
        if spec.name == name:
            return spec
    raise KeyError(f"table {name} is not one of entity {entity.name}'s tables")


def entity_dataset(settings: Settings, entity: Entity, name: str, **kwargs: Any) -> DatasetRef:
    """The entity's table ``name`` as a lineage dataset (falls back to the bare URI outside the registry)."""
    try:
        return table_dataset(settings, entity_table(entity, name), **kwargs)
    except KeyError:
        if name == entity.profile_table:
            ref = dataset_for_uri(settings.table_uri(name), entity.column_types(), storage_layer="delta",
                                  file_format="parquet")
            return ref.with_stats(version=kwargs.get("version"), row_count=kwargs.get("row_count"))
        raise


def results_dataset(settings: Settings) -> DatasetRef:
    """The ``quality_results`` table as a lineage dataset."""
    spec = next(s for s in project_tables() if s.name == RESULTS_TABLE)
    return table_dataset(settings, spec)


def source_datasets(entity: Entity, uris: Mapping[str, str], names: Iterable[str] | None = None) -> list[DatasetRef]:
    """The entity's sources (all, or ``names``) as lineage datasets, with their declared columns."""
    wanted = set(names) if names is not None else None
    return [dataset_for_uri(uris[s.name], s.column_types()) for s in entity.sources
            if (wanted is None or s.name in wanted) and s.name in uris]


def staging_facets(location: str, run_id: str, table: str) -> dict[str, Any]:
    """Run facets of a run that stages (or publishes staged) files of ``table`` at ``location``."""
    return {olf.STAGING_FACET: olf.staging(location, run_id, table)}


def owners(entity: Entity) -> list[str]:
    """The owners of the entity's tags, in order (the ``ownership`` facet of its build steps)."""
    return list(dict.fromkeys(t.owner for t in entity.tags if t.owner))


def build_job_facets(entity: Entity, description: str) -> dict[str, Any]:
    """``ownership`` (tag owners) and ``documentation`` job facets of a build step of ``entity``."""
    return olf.without_none({"ownership": olf.ownership(owners(entity)), "documentation": olf.documentation(description)})


def with_assertions(ref: DatasetRef, rows: Sequence[Mapping[str, Any]]) -> DatasetRef:
    """``ref`` as an input carrying a ``dataQualityAssertions`` facet of the quality result rows."""
    from dataclasses import replace

    if not rows:
        return ref
    return replace(ref, input_facets={**ref.input_facets, "dataQualityAssertions": olf.quality_assertions(rows)})


def with_metrics(ref: DatasetRef, row_count: int, stats_rows: Iterable[Mapping[str, Any]],
                 entity: Entity) -> DatasetRef:
    """``ref`` carrying a ``dataQualityMetrics`` facet of the tag statistics rows."""
    from dataclasses import replace

    numeric = [t.name for t in entity.tags if t.type in NUMERIC_TYPES]
    facet = olf.quality_metrics(row_count, stats_rows, numeric=numeric)
    return replace(ref, facets={**ref.facets, "dataQualityMetrics": facet})


# --- column lineage (the manifest's ``column_lineage`` as ``columnLineage`` facets) -------------

def node_datasets(settings: Settings, entity: Entity) -> Callable[[str], tuple[str, str] | None]:
    """Resolver ``node -> (namespace, name)`` of the table that holds a lineage node of ``entity``:
    a source (its URI), a tag (the profile table), an audience (``audience_members``), a scene
    (``scene_assignments``); other nodes (another entity's) resolve to None."""
    names: dict[str, tuple[str, str]] = {}
    for source in entity.sources:
        ref = dataset_for_uri(settings.source_uri(source.path))
        names[f"source:{source.name}"] = (ref.namespace, ref.name)
    tables = {"tag": entity.profile_table, "audience": entity.audience_tables.get("audience_members"),
              "scene": entity.audience_tables.get("scene_assignments")}
    objects = {"tag": [t.name for t in entity.tags], "audience": [a.name for a in entity.audiences],
               "scene": [c.name for c in entity.scenes]}
    for kind, table in tables.items():
        if table:
            ref = dataset_for_uri(settings.table_uri(table))
            names.update({f"{kind}:{name}": (ref.namespace, ref.name) for name in objects[kind]})
    return names.get


def with_column_lineage(ref: DatasetRef, entries: Iterable[ColumnLineage], resolve: Callable[[str], Any],
                        *, use: Literal["direct", "sources"]) -> DatasetRef:
    """``ref`` carrying the ``columnLineage`` facet of ``entries`` (unchanged when there are none)."""
    from dataclasses import replace

    chosen = list(entries)
    if not chosen:
        return ref
    return replace(ref, facets={**ref.facets, FACET_NAME: column_lineage_facet(chosen, resolve, use=use)})


def lineage_of(lineage: Iterable[ColumnLineage], kind: str, names: Iterable[str]) -> list[ColumnLineage]:
    """The entries of the nodes ``<kind>:<name>`` of ``names``."""
    nodes = {f"{kind}:{name}" for name in names}
    return [c for c in lineage if c.node in nodes]


def profile_with_columns(ref: DatasetRef, settings: Settings, entity: Entity,
                         lineage: Sequence[ColumnLineage]) -> DatasetRef:
    """The profile table ``ref`` with every tag column from the source columns it is computed from."""
    return with_column_lineage(ref, lineage_of(lineage, "tag", (t.name for t in entity.tags)),
                               node_datasets(settings, entity), use="sources")


def audience_outputs_with_columns(outputs: Mapping[str, DatasetRef], settings: Settings, entity: Entity,
                                  lineage: Sequence[ColumnLineage]) -> dict[str, DatasetRef]:
    """The audience job's outputs (by kind), ``audience_members`` and ``scene_assignments`` with the
    columns' immediate inputs (the profile's tag columns, sources, other audiences)."""
    found = {"audience_members": lineage_of(lineage, "audience", (a.name for a in entity.audiences)),
             "scene_assignments": lineage_of(lineage, "scene", (c.name for c in entity.scenes))}
    return _outputs_with_columns(outputs, settings, entity, found)


def effect_outputs_with_columns(outputs: Mapping[str, DatasetRef], settings: Settings, entity: Entity,
                                lineage: Sequence[ColumnLineage]) -> dict[str, DatasetRef]:
    """The effect job's outputs (by kind: ``effect_stats`` ...), each table's columns with their
    immediate inputs (the scene assignments' columns, the goals' source columns, the profile's tags)."""
    found = {kind: lineage_of(lineage, "effect", [table_name(kind, entity.name)]) for kind in outputs}  # type: ignore[arg-type]
    return _outputs_with_columns(outputs, settings, entity, found)


def _outputs_with_columns(outputs: Mapping[str, DatasetRef], settings: Settings, entity: Entity,
                          found: Mapping[str, list[ColumnLineage]]) -> dict[str, DatasetRef]:
    resolve = node_datasets(settings, entity)
    return {kind: with_column_lineage(ref, found.get(kind, []), resolve, use="direct")
            for kind, ref in outputs.items()}
