"""SQL audiences: a SELECT returning entity keys, over ``profile`` and the entity's sources.

Each source the query reads is replaced by its point-in-time cut (:mod:`compiler.pointintime`,
the one the profile query uses), as a subquery under the name the query reads it by.
"""

from __future__ import annotations

from sqlglot import exp

from tagfactory.compiler.audience.context import AudienceContext
from tagfactory.compiler.audience.model import CompiledAudience
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.compiler.expressions import parse_select, report_violations
from tagfactory.compiler.guards import check_ctes
from tagfactory.compiler.models import SourceSpec
from tagfactory.compiler.pointintime import point_in_time
from tagfactory.compiler.sqlbuild import bind_snapshot, to_sql
from tagfactory.compiler.sqlpolicy import PolicyError, check_compiled
from tagfactory.compiler.typecheck import SqlColumnError, report_unknown_column, sql_value_types

PROFILE_VIEW = "profile"


def check_sql(ctx: AudienceContext, compiled: CompiledAudience) -> None:
    """Check the audience's SELECT (what it reads, what it returns, its column types) and put it in
    ``compiled``, every source it reads cut to the snapshot's point in time."""
    spec = ctx.spec
    assert spec.sql is not None
    where = f"audience `{spec.name}`: sql"
    before = len(ctx.sink.errors)
    tree = parse_select(spec.sql, where, ctx.item.loc("sql"), ctx.item.file, ctx.sink)
    if tree is None or len(ctx.sink.errors) > before:
        ctx.ok = False
        return
    entity = ctx.project.entities[spec.entity].model
    sources = {n: s.model for n, s in ctx.project.sources.items() if s.model.entity == spec.entity}
    if not check_ctes(tree, {PROFILE_VIEW, *ctx.project.sources}, where, ctx.item, ("sql",), ctx.sink):
        ctx.ok = False
        return
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    used: list[str] = []
    for table in tree.find_all(exp.Table):
        name = table.name
        if table.args.get("db") or table.args.get("catalog"):
            ctx.error(("sql",), Code.E403, f"reads `{table.sql(dialect='spark')}`: only `profile` and declared "
                      "sources may be read, without a database prefix", "refer to them by name")
        elif name in ctes:
            continue
        elif name != PROFILE_VIEW and name not in sources:
            ctx.error(("sql",), Code.E403, f"reads `{name}`, which is neither `profile` nor a declared source",
                      did_you_mean(name, [PROFILE_VIEW, *sources]) or f"readable: profile, {', '.join(sources)}")
        elif name not in used:
            used.append(name)
    if not ctx.ok:
        return
    selects = tree.named_selects
    if len(selects) != 1 or selects[0] != entity.key:
        ctx.error(("sql",), Code.E709, f"must return exactly one column, the entity key `{entity.key}`; "
                  f"got {', '.join(s or '<unnamed>' for s in selects)}", f"write `SELECT {entity.key} FROM ...`")
        return
    profile_cols: dict[str, str] = {entity.key: entity.key_type}
    profile_cols.update({n: t.model.type for n, t in ctx.project.tags.items()
                         if t.model.entity == spec.entity and t.model.built})
    schema = {PROFILE_VIEW: profile_cols}
    schema.update({n: {c: s.type for c, s in sources[n].column_specs().items()} for n in used if n in sources})
    try:
        _, mixed = sql_value_types(tree, schema, text=spec.sql)
    except SqlColumnError as exc:
        ctx.ok = False
        report_unknown_column(exc, ctx.item.file, ctx.item.loc("sql"), schema, where, "check the column names",
                              ctx.sink)
        return
    if report_violations(mixed, where, ctx.item.loc("sql"), ctx.item.file, ctx.sink):
        ctx.ok = False
        return
    ctx.tags.extend(c.name for c in tree.find_all(exp.Column) if c.name in profile_cols and c.name != entity.key)
    compiled.sources = [u for u in used if u != PROFILE_VIEW]
    cut = cut_sources(bind_snapshot(tree), {n: sources[n] for n in compiled.sources}, ctes)
    try:
        check_compiled(cut, {PROFILE_VIEW, *compiled.sources}, where)
    except PolicyError as exc:
        ctx.error(("sql",), Code.E406, str(exc), "report this: validate accepted what the compiler refuses")
        return
    compiled.sql = to_sql(cut)
    compiled.query = tree


def cut_sources(tree: exp.Expr, sources: dict[str, SourceSpec], ctes: set[str]) -> exp.Expr:
    """``tree`` with every table that names one of ``sources`` (and no CTE of the query) replaced
    by the source's point-in-time cut, aliased as the query reads it."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name in sources and node.name not in ctes:
            cut = point_in_time(sources[node.name])
            return exp.Subquery(this=cut, alias=exp.TableAlias(this=exp.to_identifier(node.alias or node.name)))
        return node

    return tree.transform(swap)
