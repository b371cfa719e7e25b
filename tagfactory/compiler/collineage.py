"""Column lineage computed by the compiler, from the parsed definitions (no Spark, no plan parsing).

Every profile column (each tag), audience, scene and export column gets its immediate inputs
(:func:`tag_inputs`, :func:`node_inputs`) and, resolved transitively, the source columns behind
them (:func:`column_lineage`, the manifest's ``column_lineage``). Transformations follow
OpenLineage (``DIRECT`` / ``INDIRECT`` with a subtype):

* aggregate tags: the aggregated column DIRECT/AGGREGATION (the time column for
  ``days_since_last``); ``filter`` columns INDIRECT/FILTER; the entity key INDIRECT/GROUP_BY; the
  time and partition columns (window, point-in-time cut) INDIRECT/FILTER; the time column of
  ``first`` / ``last`` INDIRECT/SORT;
* attribute and derived tags: the columns / tags of ``expr`` DIRECT (IDENTITY when the expression
  is the column, else TRANSFORMATION), INDIRECT/CONDITIONAL in a CASE / IF condition; attributes
  also read the dimension's time and partition columns (the population cut) INDIRECT/FILTER;
* rule tags: the tags of every ``when`` INDIRECT/CONDITIONAL;
* sql tags and sql audiences: their query walked scope by scope (:mod:`.sqllineage`);
* rule audiences (their key column): the dimension's key DIRECT/IDENTITY, the tags their rules
  read and the audiences they include or exclude INDIRECT/FILTER; list audiences read no column;
* scenes: the key DIRECT/IDENTITY from the branches' audiences, branch / group / variant /
  payload INDIRECT/CONDITIONAL on them;
* export columns: the tag, source column or selection field they deliver DIRECT (IDENTITY, or
  TRANSFORMATION with ``masking`` when hashed or masked); the selected audiences or scenes, the
  suppression audiences and tags INDIRECT/FILTER;
* effect-analysis tables (``effect:<table>``): from the analysed scenes' columns, the goals' source
  columns and their covariate and slice tags (:mod:`.effectlineage`).

PII follows lineage (:func:`pii_paths`): a tag is pii when it declares it, or when any input
path reaches a pii source column, unless it says ``pii: false`` with a ``pii_reason``
(:func:`check_tag_pii` reports the contradictions, E305).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.effectlineage import effect_inputs
from tagfactory.compiler.manifest import ColumnLineage, LineageInput
from tagfactory.compiler.models import (
    AggregateTag,
    AttributeTag,
    DerivedTag,
    RuleTag,
    SceneSpec,
    SourceSpec,
    SqlTag,
    TagBase,
)
from tagfactory.compiler.parse import report
from tagfactory.compiler.sqllineage import (
    Edge,
    expression_inputs,
    hop,
    query_columns,
    query_inputs,
    unique,
)
from tagfactory.compiler.types import SPARK_TYPES

if TYPE_CHECKING:
    from tagfactory.compiler.audience.model import CompiledAudience
    from tagfactory.compiler.exports import CheckedExport
    from tagfactory.compiler.resolve import Project

Key = tuple[str, str]  # (node, column)
SCENE_COLUMNS = ("branch", "group", "variant", "payload")


def source_node(name: str) -> str:
    return f"source:{name}"


def tag_node(name: str) -> str:
    return f"tag:{name}"


def audience_node(name: str) -> str:
    return f"audience:{name}"


def scene_node(name: str) -> str:
    return f"scene:{name}"


def export_node(name: str) -> str:
    return f"export:{name}"


def _edge(node: str, column: str, kind: str = "DIRECT", subtype: str = "IDENTITY", masking: bool = False) -> Edge:
    return Edge(node, column, kind, subtype, masking)


# --- tags --------------------------------------------------------------------------------------

def tag_inputs(project: Project) -> dict[str, list[Edge]]:
    """The immediate inputs of every checked tag (its own column is the tag name)."""
    out: dict[str, list[Edge]] = {}
    for name in project.tag_refs:
        located = project.tags.get(name)
        entity = project.entities.get(located.model.entity) if located else None
        if located is None or entity is None:
            continue
        edges = _tag(project, located.model, entity.model.dimension)
        if edges is not None:
            out[name] = unique(edges)
    return out


def _cut(source: SourceSpec) -> list[Edge]:
    """The point-in-time cut of a source: its time and partition columns, INDIRECT/FILTER."""
    node = source_node(source.name)
    return [_edge(node, c, "INDIRECT", "FILTER") for c in (source.time_column, source.partition_column) if c]


def _tag(project: Project, tag: TagBase, dimension: str) -> list[Edge] | None:
    name = tag.name
    snippets = project.snippets
    if isinstance(tag, AttributeTag):
        dim = project.sources.get(dimension)
        tree = snippets.get((name, "expr"))
        if dim is None or tree is None:
            return None
        columns = dim.model.columns
        node = source_node(dimension)
        return [*expression_inputs(tree, lambda c: _edge(node, c) if c in columns else None), *_cut(dim.model)]
    if isinstance(tag, AggregateTag):
        located = project.sources.get(tag.source)
        if located is None:
            return None
        source = located.model
        node = source_node(source.name)
        edges: list[Edge] = []
        if tag.column:
            edges.append(_edge(node, tag.column, "DIRECT", "AGGREGATION"))
        if tag.agg == "days_since_last" and source.time_column:
            edges.append(_edge(node, source.time_column, "DIRECT", "AGGREGATION"))
        if tag.agg in ("first", "last") and source.time_column:
            edges.append(_edge(node, source.time_column, "INDIRECT", "SORT"))
        tree = snippets.get((name, "filter"))
        if tree is not None:
            edges += [hop("INDIRECT", "FILTER").through(e)
                      for e in expression_inputs(tree, lambda c: _edge(node, c) if c in source.columns else None)]
        edges.append(_edge(node, source.entity_key, "INDIRECT", "GROUP_BY"))
        return edges + _cut(source)
    if isinstance(tag, DerivedTag | RuleTag):
        def resolve(column: str) -> Edge | None:
            return _edge(tag_node(column), column) if column in project.tags else None

        if isinstance(tag, DerivedTag):
            tree = snippets.get((name, "expr"))
            return expression_inputs(tree, resolve) if tree is not None else None
        edges = []
        for i in range(len(tag.rules)):
            tree = snippets.get((name, f"rules.{i}"))
            if tree is not None:
                edges += [hop("INDIRECT", "CONDITIONAL").through(e) for e in expression_inputs(tree, resolve)]
        return edges
    if isinstance(tag, SqlTag):
        query = snippets.get((name, "sql"))
        read = [project.sources[s].model for s in project.source_refs.get(name, []) if s in project.sources]
        if query is None:
            return None
        schema = {s.name: {c: SPARK_TYPES[t.type] for c, t in s.column_specs().items()} for s in read}

        def table(table_name: str, column: str) -> Edge | None:
            return _edge(source_node(table_name), column) if column in schema.get(table_name, {}) else None

        value, key = query_columns(query, [1, 0], schema, table)  # type: ignore[arg-type]
        return [*value, *_key_join(key, value), *(e for s in read for e in _cut(s))]
    return None


def _key_join(key: list[Edge], value: list[Edge]) -> list[Edge]:
    """The key column of a query joined to the profile: INDIRECT/JOIN, unless already an input."""
    seen = {(e.node, e.column) for e in value}
    return [hop("INDIRECT", "JOIN").through(e) for e in key if (e.node, e.column) not in seen]


# --- audiences, scenes, exports ----------------------------------------------------------------

def node_inputs(project: Project, tags: dict[str, list[Edge]]) -> dict[Key, list[Edge]]:
    """The immediate inputs of every built tag, audience, scene, export and effect-table column."""
    graph: dict[Key, list[Edge]] = {(tag_node(n), n): e for n, e in tags.items() if n in project.layer}
    known = project.audiences
    keys = {n: e.model.key for n, e in project.entities.items()}
    if known is not None:
        for name in known.order:
            compiled = known.compiled[name]
            entity = project.entities[compiled.entity].model
            graph[(audience_node(name), entity.key)] = _audience(project, compiled, entity.key, entity.dimension)
        for name, item in known.scenes.items():
            if item.model.built and item.model.entity in keys:
                graph.update(_scene(name, item.model, keys[item.model.entity]))
    for checked in project.exports:
        if checked.spec.entity in keys:
            graph.update(_export(checked, keys[checked.spec.entity]))
    graph.update(effect_inputs(project, keys))
    return graph


def _scene(name: str, spec: SceneSpec, key: str) -> dict[Key, list[Edge]]:
    """The key from the branches' audiences; branch, group, variant, payload decided by them."""
    members = unique(_edge(audience_node(b.audience), key) for b in spec.branches)
    out = {(scene_node(name), key): members}
    for column in SCENE_COLUMNS:
        out[(scene_node(name), column)] = [hop("INDIRECT", "CONDITIONAL").through(e) for e in members]
    return out


def _export(checked: CheckedExport, key: str) -> dict[Key, list[Edge]]:
    """Every delivered column: its value, the selected rows and the suppression."""
    spec = checked.spec
    what = [_edge(audience_node(a), key) for a in spec.what.audiences or []]
    what += [_edge(scene_node(s), key) for s in spec.what.scenes or []]
    rows = [_edge(audience_node(a), key, "INDIRECT", "FILTER") for a in spec.suppression.audiences]
    rows += [_edge(tag_node(c.tag), c.tag, "INDIRECT", "FILTER") for c in spec.suppression.tags]
    out: dict[Key, list[Edge]] = {}
    for column in checked.columns:
        masking = bool(column.treatment) and column.treatment != "keep"
        subtype = "TRANSFORMATION" if masking else "IDENTITY"
        if column.origin == "tag":
            value = [_edge(tag_node(column.ref), column.ref, "DIRECT", subtype, masking)]
        elif column.origin == "source":
            source, _, field_name = column.ref.partition(".")
            value = [_edge(source_node(source), field_name, "DIRECT", subtype, masking)]
        elif column.ref == "key":
            value = list(what)
        elif column.ref in SCENE_COLUMNS:
            value = [_edge(scene_node(s), column.ref) for s in spec.what.scenes or []]
        elif column.ref == "dt":
            value = []
        else:  # audience, change, scene: which selected audience or scene a row is about
            value = [hop("INDIRECT", "CONDITIONAL").through(e) for e in what]
        # the rows: the members of the selection (already the value of key and the other builtins)
        selection = [hop("INDIRECT", "FILTER").through(e) for e in what] if column.origin != "builtin" else []
        out[(export_node(spec.name), column.name)] = unique([*value, *selection, *rows])
    return out


def _audience(project: Project, compiled: CompiledAudience, key: str, dimension: str) -> list[Edge]:
    from tagfactory.compiler.audience.sql import PROFILE_VIEW

    if compiled.kind == "list":
        return []
    if compiled.kind == "rule" or compiled.query is None:
        return unique([_edge(source_node(dimension), key),
                       *(_edge(tag_node(t), t, "INDIRECT", "FILTER") for t in compiled.tags),
                       *(_edge(audience_node(r), key, "INDIRECT", "FILTER") for r in compiled.refs)])
    tags = {n: t.model for n, t in project.tags.items() if t.model.entity == compiled.entity and t.model.built}
    read = [project.sources[s].model for s in compiled.sources if s in project.sources]
    entity = project.entities[compiled.entity].model
    schema = {PROFILE_VIEW: {key: SPARK_TYPES[entity.key_type], **{n: SPARK_TYPES[t.type] for n, t in tags.items()}}}
    schema.update({s.name: {c: SPARK_TYPES[t.type] for c, t in s.column_specs().items()} for s in read})

    def table(table_name: str, column: str) -> Edge | None:
        if table_name == PROFILE_VIEW:
            if column == key:
                return _edge(source_node(dimension), key)
            return _edge(tag_node(column), column) if column in tags else None
        return _edge(source_node(table_name), column) if column in schema.get(table_name, {}) else None

    return unique([*query_inputs(compiled.query, 0, schema, table), *(e for s in read for e in _cut(s))])


# --- transitive resolution ---------------------------------------------------------------------

@dataclass
class Resolver:
    """Source columns behind each node's column, memoized (the graph has no cycles: resolve checked them)."""

    graph: dict[Key, list[Edge]]
    done: dict[Key, list[Edge]] = field(default_factory=dict)

    def sources(self, key: Key) -> list[Edge]:
        found = self.done.get(key)
        if found is not None:
            return found
        self.done[key] = []  # a cycle (never for checked definitions) resolves to nothing
        out: list[Edge] = []
        for edge in self.graph.get(key, []):
            if edge.node.startswith("source:"):
                out.append(edge)
            else:
                out.extend(edge.through(inner) for inner in self.sources((edge.node, edge.column)))
        self.done[key] = unique(out)
        return self.done[key]


def _inputs(edges: list[Edge]) -> list[LineageInput]:
    return [LineageInput(node=e.node, column=e.column, type=e.type, subtype=e.subtype,  # type: ignore[arg-type]
                         masking=e.masking) for e in sorted(set(edges))]


def column_lineage(project: Project, tags: dict[str, list[Edge]] | None = None) -> list[ColumnLineage]:
    """The manifest's ``column_lineage``: every built tag, audience, scene, export and effect-table column."""
    graph = node_inputs(project, tags if tags is not None else tag_inputs(project))
    resolver = Resolver(graph)
    return [ColumnLineage(node=node, column=column, direct=_inputs(edges),
                          sources=_inputs(resolver.sources((node, column))))
            for (node, column), edges in sorted(graph.items())]


# --- PII ---------------------------------------------------------------------------------------

def pii_paths(project: Project, tags: dict[str, list[Edge]]) -> dict[str, list[str]]:
    """Tags that are pii by lineage (not declared ``pii: true``, not excused by a ``pii_reason``),
    each with one path from the tag to a pii source column (``["tag:a", "tag:b", "source:users.email"]``)."""
    done: dict[str, list[str] | None] = {}

    def declared(name: str) -> bool:
        return project.tags[name].model.pii

    def excused(name: str) -> bool:
        model = project.tags[name].model
        return "pii" in model.model_fields_set and not model.pii and bool(model.pii_reason)

    def reached(name: str) -> list[str] | None:
        """A path from ``name`` to a pii source column through its inputs (pii input tags count)."""
        if name in done:
            return done[name]
        done[name] = None
        for edge in tags.get(name, []):
            if edge.node.startswith("source:"):
                source = project.sources.get(edge.node[len("source:"):])
                spec = source.model.column_specs().get(edge.column) if source else None
                if spec is not None and spec.pii:
                    done[name] = [tag_node(name), f"{edge.node}.{edge.column}"]
                    break
            elif edge.node.startswith("tag:") and edge.column in project.tags:
                if declared(edge.column):
                    done[name] = [tag_node(name), tag_node(edge.column)]
                    break
                if excused(edge.column):
                    continue
                below = reached(edge.column)
                if below is not None:
                    done[name] = [tag_node(name), *below]
                    break
        return done[name]

    return {n: path for n in tags if not declared(n) and (path := reached(n)) is not None}


def format_path(path: list[str]) -> str:
    """``tag:a <- tag:b <- source:users.email (pii)``."""
    return " <- ".join(path) + " (pii)" if path else ""


def check_tag_pii(project: Project, paths: dict[str, list[str]], sink: DiagnosticSink) -> dict[str, list[str]]:
    """Report ``pii: false`` without a reason on a tag lineage makes pii, and a ``pii_reason`` that
    does not go with ``pii: false`` (E305). Returns the tags that are pii by lineage."""
    effective: dict[str, list[str]] = {}
    for name, located in project.tags.items():
        model = located.model
        explicit = "pii" in model.model_fields_set
        if model.pii_reason is not None and (model.pii or not explicit):
            report(located, ("pii_reason",), Code.E305, f"tag `{name}`: `pii_reason` explains `pii: false`, "
                   f"but the tag " + ("says `pii: true`" if model.pii else "does not say `pii: false`"),
                   "write `pii: false` with the reason, or remove `pii_reason`", sink, key=True)
        path = paths.get(name)
        if path is None:
            continue
        if explicit and not model.pii:
            if not model.pii_reason:
                report(located, ("pii",), Code.E305, f"tag `{name}` says `pii: false`, but it is computed from "
                       f"a pii source column: {format_path(path)}",
                       "remove `pii: false` (the tag is then pii), or say why it is not: "
                       "`pii_reason: \"...\"` (e.g. only a coarse part of the value is kept)", sink)
            continue
        effective[name] = path
    return effective

