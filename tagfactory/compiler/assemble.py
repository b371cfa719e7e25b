"""Assemble the manifest from a resolved, compiled project (see :mod:`tagfactory.compiler.manifest`).

``target/compiled/<entity>/profile.sql``, ``target/compiled/<entity>/audiences.sql`` (the one-pass
audience query) and ``target/compiled/<entity>/tags/<tag>.sql`` hold the SQL for humans and diffs;
``target/lists/`` the normalized uploaded lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from sqlglot import exp

from tagfactory import __version__
from tagfactory.compiler.audience_pass import PassAudience, compile_pass
from tagfactory.compiler.collineage import column_lineage
from tagfactory.compiler.compile import CompiledEntity, compile_project
from tagfactory.compiler.exports import manifest_export
from tagfactory.compiler.manifest import (
    Audience,
    AudienceKind,
    Branch,
    Column,
    Entity,
    Manifest,
    Scene,
    Source,
    SourceColumn,
    Tag,
    UploadedList,
)
from tagfactory.compiler.models import AggregateTag, SourceSpec, TagBase
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.types import SPARK_TYPES
from tagfactory.contracts.tables import (
    AUDIENCE_KINDS,
    TableSpec,
    entity_tables,
    project_tables,
    table_name,
)
from tagfactory.contracts.tables import Column as TableColumn


def profile_table(entity: str) -> str:
    """Name of the wide profile table of an entity (the table registry, tagfactory.contracts.tables)."""
    return table_name("profile", entity)


def stats_table(entity: str) -> str:
    """Name of the per-tag statistics table of an entity (the table registry)."""
    return table_name("tag_stats", entity)


def audience_tables(entity: str) -> dict[str, str]:
    """Names of the audience and scene tables of an entity (the table registry; see docs/audiences.md)."""
    return {kind: table_name(kind, entity) for kind in AUDIENCE_KINDS}


def _tables(compiled: CompiledEntity) -> list[TableSpec]:
    """The registry's tables of an entity, the profile with its tag columns."""
    specs = entity_tables(compiled.entity, key=compiled.key, key_type=compiled.key_type)
    fixed = set(specs[0].column_names)
    tags = [TableColumn(name=n, type=SPARK_TYPES[t].lower(), description=f"tag `{n}`")
            for n, t in compiled.columns if n not in fixed]
    return [specs[0].with_columns(tags), *specs[1:]]


def build_manifest(project: Project, definitions_root: str | Path) -> Manifest:
    """Compile the project into its sealed manifest (digest computed, list identifiers attached)."""
    compiled = compile_project(project)
    list_ids: dict[str, list[str]] = {}
    entities = [_entity(project, c, list_ids) for c in compiled.values()]
    exports = [manifest_export(c) for c in project.exports]
    lineage = column_lineage(project, project.tag_inputs or None)
    return Manifest(tagfactory_version=__version__, definitions=str(definitions_root), entities=entities,
                    tables=project_tables(), exports=exports, column_lineage=lineage).sealed(list_ids)


def _entity(project: Project, compiled: CompiledEntity, list_ids: dict[str, list[str]]) -> Entity:
    model = project.entities[compiled.entity].model
    audiences, one_pass = _audiences(project, compiled.entity, list_ids)
    return Entity(
        name=compiled.entity,
        key=compiled.key,
        key_type=compiled.key_type,
        profile_table=profile_table(compiled.entity),
        stats_table=stats_table(compiled.entity),
        population_source=model.dimension,
        quality=model.quality,
        sql_file=f"compiled/{compiled.entity}/profile.sql",
        sql=compiled.sql,
        parameters=["snapshot_date"],
        columns=[Column(name=n, type=t, spark_type=SPARK_TYPES[t]) for n, t in compiled.columns],
        sources=[source_manifest(project.sources[s].model) for s in compiled.sources],
        tags=[_tag(project, project.tags[n].model, compiled) for n, _ in compiled.columns if n in project.tags],
        audience_tables=audience_tables(compiled.entity),
        tables=_tables(compiled),
        audiences=audiences,
        audiences_sql=compile_pass(compiled.entity, compiled.key, one_pass),
        scenes=_scenes(project, compiled.entity),
    )


def _audiences(project: Project, entity: str, list_ids: dict[str, list[str]]
               ) -> tuple[list[Audience], list[PassAudience]]:
    """Built audiences of an entity, references first, with resolved conditions; and the same
    audiences as the terms of the one pass (resolved condition trees)."""
    from tagfactory.compiler.audience.references import resolve_tree
    from tagfactory.compiler.sqlbuild import to_sql

    known = project.audiences
    if known is None:
        return [], []
    resolved: dict[str, exp.Expr] = {}  # shared by every resolve_tree call of this entity
    terms: list[PassAudience] = []
    built = {t.model.name: t.model.type for t in project.tags.values() if t.model.entity == entity and t.model.built}
    default_profile = [n for n, t in built.items() if t in ("enum", "boolean")]
    out = []
    for name in known.order:
        item = known.audiences[name]
        spec = item.model
        if spec.entity != entity:
            continue
        c = known.compiled[name]
        tree = resolve_tree(known.compiled, name, resolved) if c.kind == "rule" else None
        terms.append(PassAudience(name, tree))
        uploaded = None
        if c.kind == "list":
            ids = c.list_ids
            list_ids[name] = ids
            uploaded = UploadedList(file=f"lists/{name}.txt", source=spec.list_.file if spec.list_ else "",
                                    ids=len(ids), sha256=UploadedList.digest_of(ids),
                                    duplicates=c.list_options.get("duplicates", 0),
                                    malformed=c.list_options.get("malformed", 0))
        out.append(Audience(
            name=name, display_name=spec.display_name, description=spec.description,
            owner=spec.owner, kind=cast(AudienceKind, c.kind), lifecycle=spec.lifecycle,
            definition=f"{item.file}:{item.loc('name').line}",
            tags=c.tags, refs=c.refs, sources=c.sources,
            condition=to_sql(tree, pretty=False) if tree is not None else None,
            sql=c.sql, uploaded=uploaded, guardrails=spec.guardrails,
            profile_tags=list(spec.profile_tags) if spec.profile_tags is not None else default_profile,
        ))
    return out, terms


def _scenes(project: Project, entity: str) -> list[Scene]:
    known = project.audiences
    if known is None:
        return []
    out = []
    for name, item in known.scenes.items():
        spec = item.model
        if spec.entity != entity or not spec.built:
            continue
        out.append(Scene(
            name=name, display_name=spec.display_name, description=spec.description, owner=spec.owner,
            definition=f"{item.file}:{item.loc('name').line}",
            salt=spec.salt or name, holdout=spec.holdout,
            branches=[Branch(name=b.name, audience=b.audience, payload=b.payload, control=b.control,
                             variants=b.variants) for b in spec.branches],
            analysis=project.analyses.get(name),
        ))
    return out


def source_manifest(source: SourceSpec) -> Source:
    """The manifest entry of a declared source: where and how the job reads it."""
    return Source(
        name=source.name, kind=source.kind, path=source.path, format=source.format,
        entity_key=source.entity_key, time_column=source.time_column, partition_column=source.partition_column,
        columns=[SourceColumn(name=n, type=c.type, spark_type=SPARK_TYPES[c.type], pii=c.pii, values=c.values)
                 for n, c in source.column_specs().items()],
        quality=source.quality,
    )


def _tag(project: Project, tag: TagBase, compiled: CompiledEntity) -> Tag:
    located = project.tags[tag.name]
    return Tag(
        name=tag.name, display_name=tag.display_name, description=tag.description, owner=tag.owner,
        category=tag.category, kind=getattr(tag, "kind", ""), type=tag.type, values=tag.values,
        lifecycle=tag.lifecycle, pii=tag.pii or tag.name in project.pii_by_lineage,
        pii_reason=tag.pii_reason,
        window=tag.window if isinstance(tag, AggregateTag) else None,
        depends_on=project.tag_refs.get(tag.name, []),
        sources=list(project.source_refs.get(tag.name, [])),
        layer=project.layer.get(tag.name, 0),
        sql=compiled.tag_sql[tag.name],
        definition=f"{located.file}:{located.loc('name').line}",
        quality=tag.quality,
    )
