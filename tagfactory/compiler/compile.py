"""Compile a resolved project into Spark SQL: one fused query per entity and snapshot.

Shape of the query for an entity (``:snapshot_date`` is bound by the job):

* ``population``: the entity's dimension cut to rows that existed before D+1, plus attribute tags;
* one ``agg_<source>`` CTE per fact/event source: a single scan with conditional aggregation for
  every aggregate tag over that source, whatever their windows and filters;
* one ``pit_<source>`` CTE per source read by sql tags (the same point-in-time cut) and one
  ``sql_<tag>`` CTE per sql tag;
* ``base``: population LEFT JOIN the aggregates and sql tags, defaults and casts applied;
* ``layer_<n>``: derived and rule tags as projections, layered by dependency depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from tagfactory.compiler.models import (
    AggregateTag,
    AttributeTag,
    DerivedTag,
    RuleTag,
    SourceSpec,
    SqlTag,
    TagBase,
)
from tagfactory.compiler.pointintime import before_next_day, is_timestamp, point_in_time
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.sqlbuild import (
    and_all,
    bind_snapshot,
    cast,
    col,
    day_offset,
    day_start,
    func,
    literal,
    snapshot,
    to_sql,
    when,
)
from tagfactory.compiler.sqlpolicy import check_compiled

ZERO_DEFAULT_AGGS = ("count", "count_distinct")


@dataclass
class CompiledEntity:
    """The compiled snapshot query of one entity and what it produces."""

    entity: str
    key: str
    key_type: str
    query: exp.Query
    columns: list[tuple[str, str]]  # (column, value type) in output order, key and dt included
    tag_sql: dict[str, str] = field(default_factory=dict)  # per-tag standalone SQL (for diffs)
    sources: list[str] = field(default_factory=list)  # sources the query reads

    @property
    def sql(self) -> str:
        """Pretty Spark SQL of the fused query."""
        return to_sql(self.query)


def compile_project(project: Project) -> dict[str, CompiledEntity]:
    """Compile every entity that has built tags."""
    out: dict[str, CompiledEntity] = {}
    for name in project.entities:
        if project.built_tags(name):
            out[name] = compile_entity(project, name)
    return out


def compile_entity(project: Project, entity_name: str) -> CompiledEntity:
    """Compile the fused snapshot query of one entity."""
    entity = project.entities[entity_name].model
    key = entity.key
    dimension = project.sources[entity.dimension].model
    tags = [t for t in project.built_tags(entity_name) if t.name in project.layer]
    by_layer: dict[int, list[TagBase]] = {}
    for tag in tags:
        by_layer.setdefault(project.layer[tag.name], []).append(tag)

    ctes: list[tuple[str, exp.Query]] = []
    attributes = [t for t in tags if isinstance(t, AttributeTag)]
    ctes.append(("population", _population(project, dimension, key, attributes)))
    read_sources = [dimension.name]

    base_columns: list[exp.Expr] = [col("*", "p")]
    joins: list[tuple[str, str]] = []  # (cte name, alias)

    aggregates: dict[str, list[AggregateTag]] = {}
    for tag in tags:
        if isinstance(tag, AggregateTag):
            aggregates.setdefault(tag.source, []).append(tag)
    for source_name, group in aggregates.items():
        source = project.sources[source_name].model
        alias = f"a_{source_name}"
        ctes.append((f"agg_{source_name}", _fused_aggregate(project, source, key, group)))
        joins.append((f"agg_{source_name}", alias))
        read_sources.append(source_name)
        for tag in group:
            base_columns.append(_finish(tag, col(tag.name, alias)))

    sql_tags = [t for t in tags if isinstance(t, SqlTag)]
    pit_needed = [s for t in sql_tags for s in project.source_refs[t.name]]
    for source_name in dict.fromkeys(pit_needed):
        ctes.append((f"pit_{source_name}", point_in_time(project.sources[source_name].model)))
        if source_name not in read_sources:
            read_sources.append(source_name)
    for tag in sql_tags:
        alias = f"s_{tag.name}"
        ctes.append((f"sql_{tag.name}", _sql_tag(project, tag, key)))
        joins.append((f"sql_{tag.name}", alias))
        base_columns.append(_finish(tag, col("value", alias)))

    base = exp.select(*base_columns).from_(exp.alias_(exp.to_table("population"), "p", table=True))
    for cte_name, alias in joins:
        base = base.join(exp.alias_(exp.to_table(cte_name), alias, table=True),
                         on=exp.EQ(this=col(key, alias), expression=col(key, "p")), join_type="left", copy=False)
    ctes.append(("base", base))

    previous = "base"
    for depth in sorted(d for d in by_layer if d > 0):
        layer = exp.select(col("*", "l"), *(_projection(project, t) for t in by_layer[depth]))
        layer = layer.from_(exp.alias_(exp.to_table(previous), "l", table=True))
        previous = f"layer_{depth}"
        ctes.append((previous, layer))

    final = exp.select(col(key), *(col(t.name) for t in tags), exp.alias_(snapshot(), "dt")).from_(previous)
    for name, cte in ctes:
        final = final.with_(name, as_=cte, copy=False)  # built here: copying is quadratic in the tags
    columns: list[tuple[str, str]] = [(key, entity.key_type), *((t.name, t.type) for t in tags), ("dt", "date")]
    # each tag's snippets were checked on their own: the whole query's node limit scales with the tags
    check_compiled(final, set(project.sources), f"entity `{entity_name}`", parts=len(tags))
    compiled = CompiledEntity(entity_name, key, entity.key_type, final, columns, sources=read_sources)
    compiled.tag_sql = {t.name: to_sql(_standalone(project, t, key, dimension)) for t in tags}
    return compiled


# --- population --------------------------------------------------------------------------------

def _population(project: Project, dimension: SourceSpec, key: str, attributes: list[AttributeTag]) -> exp.Query:
    selects: list[exp.Expr] = [col(key)]
    for tag in attributes:
        tree = bind_snapshot(project.snippets[(tag.name, "expr")])
        selects.append(_finish(tag, tree))
    query = exp.select(*selects).from_(dimension.name)
    return query.where(and_all(exp.Not(this=exp.Is(this=col(key), expression=exp.null())),
                               before_next_day(dimension)))


# --- fused aggregates --------------------------------------------------------------------------

def _window_start(source: SourceSpec, days: int) -> exp.Expr:
    time_col = source.time_column or ""
    bound = day_start(-(days - 1)) if is_timestamp(source, time_col) else day_offset(-(days - 1))
    return exp.GTE(this=col(time_col), expression=bound)


def _fused_aggregate(project: Project, source: SourceSpec, key: str, tags: list[AggregateTag]) -> exp.Query:
    """One scan of ``source`` computing every aggregate tag over it."""
    windows = [t.window_days for t in tags]
    widest = None if None in windows else max(w for w in windows if w is not None)
    scan_filter = and_all(
        exp.Not(this=exp.Is(this=col(source.entity_key), expression=exp.null())),
        before_next_day(source),
        _window_start(source, widest) if widest is not None else None,
        exp.GTE(this=col(source.partition_column), expression=day_offset(-(widest - 1)))
        if widest is not None and source.partition_column else None,
    )
    selects: list[exp.Expr] = [exp.alias_(col(source.entity_key), key)]
    for tag in tags:
        selects.append(exp.alias_(_aggregate(project, source, tag, widest), tag.name))
    query = exp.select(*selects).from_(source.name)
    if scan_filter is not None:
        query = query.where(scan_filter)
    return query.group_by(col(source.entity_key))


def _aggregate(project: Project, source: SourceSpec, tag: AggregateTag, scan_days: int | None) -> exp.Expr:
    """The conditional aggregate of one tag inside a fused scan."""
    window = None
    if tag.window_days is not None and tag.window_days != scan_days:
        window = _window_start(source, tag.window_days)
    user_filter = project.snippets.get((tag.name, "filter"))
    condition = and_all(window, bind_snapshot(user_filter).copy() if user_filter is not None else None)
    value = col(tag.column) if tag.column else None
    time_col = col(source.time_column or "")
    agg = tag.agg
    if agg == "count":
        if value is None and condition is None:
            return func("count", exp.Literal.number(1))
        return func("count", when(condition, value or exp.Literal.number(1)))
    if agg == "days_since_last":
        latest = cast(func("max", when(condition, time_col)), "date")
        return func("datediff", snapshot(), latest)
    if value is None:  # unreachable: validation (E102) makes every other aggregate name a column
        raise ValueError(f"`agg: {agg}` needs `column`")
    if agg == "count_distinct":
        return func("size", func("collect_set", when(condition, value)))
    if agg in ("sum", "avg", "min", "max"):
        return func(agg, when(condition, value))
    if agg in ("first", "last"):
        guarded = and_all(condition, exp.Not(this=exp.Is(this=value, expression=exp.null())))
        pair = exp.Struct(expressions=[exp.alias_(time_col, "t"), exp.alias_(value, "v")])
        picked = func("min" if agg == "first" else "max", when(guarded, pair))
        return exp.Dot(this=picked, expression=exp.to_identifier("v"))
    if agg == "mode":
        return exp.Anonymous(this="MODE", expressions=[when(condition, value), exp.Boolean(this=True)])
    if agg == "distinct_values":
        return func("array_sort", func("collect_set", when(condition, cast(value, "string"))))
    raise ValueError(f"unknown aggregation {agg}")  # unreachable: the model restricts agg


# --- sql tags, projections ---------------------------------------------------------------------

def _sql_tag(project: Project, tag: SqlTag, key: str) -> exp.Query:
    tree = project.snippets[(tag.name, "sql")]
    assert isinstance(tree, exp.Query)
    own_ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    sources = set(project.source_refs[tag.name])

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name in sources and node.name not in own_ctes:
            alias = node.alias or node.name
            return exp.alias_(exp.to_table(f"pit_{node.name}"), alias, table=True)
        return node

    inner = bind_snapshot(tree).transform(swap)
    value_name = tree.named_selects[1]
    return exp.select(col(key), exp.alias_(col(value_name), "value")).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("q"))))


def _finish(tag: TagBase, value: exp.Expr) -> exp.Expr:
    """Apply the tag's default (or the aggregate's natural zero) and cast to its type."""
    fallback = None
    if tag.default is not None:
        fallback = literal(tag.default, tag.type)
    elif isinstance(tag, AggregateTag) and tag.agg in ZERO_DEFAULT_AGGS:
        fallback = exp.Literal.number(0)
    elif isinstance(tag, AggregateTag) and tag.agg == "distinct_values":
        fallback = exp.Array(expressions=[])
    if fallback is not None:
        value = func("coalesce", value, fallback)
    return exp.alias_(cast(value, tag.type), tag.name)


def _projection(project: Project, tag: TagBase) -> exp.Expr:
    if isinstance(tag, DerivedTag):
        return _finish(tag, bind_snapshot(project.snippets[(tag.name, "expr")]))
    assert isinstance(tag, RuleTag)
    ifs = [
        exp.If(this=bind_snapshot(project.snippets[(tag.name, f"rules.{i}")]), true=literal(case.then, tag.type))
        for i, case in enumerate(tag.rules)
    ]
    default = literal(tag.else_, tag.type) if tag.else_ is not None else None
    return _finish(tag, exp.Case(ifs=ifs, default=default))


def _standalone(project: Project, tag: TagBase, key: str, dimension: SourceSpec) -> exp.Query:
    """The computation of one tag on its own, for review and exact change detection."""
    if isinstance(tag, AttributeTag):
        return _population(project, dimension, key, [tag])
    if isinstance(tag, AggregateTag):
        source = project.sources[tag.source].model
        scan = _fused_aggregate(project, source, key, [tag])
        return exp.select(col(key), _finish(tag, col(tag.name))).from_(exp.Subquery(this=scan, alias=exp.TableAlias(this=exp.to_identifier("agg"))))
    if isinstance(tag, SqlTag):
        return exp.select(col(key), _finish(tag, col("value"))).from_(
            exp.Subquery(this=_sql_tag(project, tag, key), alias=exp.TableAlias(this=exp.to_identifier("q"))))
    return exp.select(col(key), _projection(project, tag)).from_("profile")

