"""Pages of the tag side: the index (category tree, search), a page per category, tag and source."""

from __future__ import annotations

from typing import Any

from tagfactory.catalog import charts
from tagfactory.catalog.graph_svg import lineage_svg
from tagfactory.catalog.model import Catalog, category_file, category_label, slug
from tagfactory.catalog.render import (
    a,
    code,
    compact_json,
    e,
    facts,
    fmt_int,
    fmt_share,
    page,
    pager,
    pill,
    table,
)
from tagfactory.catalog.warehouse import Row, parse_json
from tagfactory.compiler.manifest import Entity, Tag


def mask(value: Any) -> str:
    """A PII value as shown in the catalog: its first character and stars."""
    text = "" if value is None else str(value)
    return (text[:1] + "•" * min(6, max(3, len(text) - 1))) if text else ""


def _lifecycle(value: str) -> str:
    return pill(value, value)


def index_page(cat: Catalog) -> str:
    m = cat.manifest
    tree = cat.category_tree()
    blocks = []
    for top, subs in tree.items():
        total = sum(len(t) for t in subs.values())
        items = "".join(f'<li>{a(cat.category_url(top, sub, ""), sub or "(top level)")} '
                        f'<span class="muted">{len(tags)}</span></li>' for sub, tags in subs.items())
        blocks.append(f'<section class="category" data-category="{e(top)}"><h3>'
                      f'{a(cat.category_url(top, None, ""), category_label(top))} <span class="muted">{e(top)} · '
                      f'{total} tags</span></h3><ul>{items}</ul></section>')
    sources = table(["source", "kind", "entity", "columns", "tags fed"], (
        [a(cat.url(f"source:{s.name}", ""), s.name), e(s.kind), e(ent.name), str(len(s.columns)),
         str(len(cat.uses(f"source:{s.name}", "tag")))] for ent, s in cat.sources.values()),
        numeric=(3, 4))
    audiences = table(["audience", "display name", "kind", "latest size"], (
        [a(cat.url(f"audience:{au.name}", ""), au.name), e(au.display_name), e(au.kind),
         fmt_int((cat.warehouse.audience_stats.get(au.name) or [{}])[-1].get("size"))]
        for _, au in sorted(cat.audiences.values(), key=lambda p: p[1].name)), numeric=(3,))
    scenes = table(["scene", "display name", "branches"], (
        [a(cat.url(f"scene:{s.name}", ""), s.name), e(s.display_name), str(len(s.branches))]
        for _, s in sorted(cat.scenes.values(), key=lambda p: p[1].name)), numeric=(2,))
    exports = table(["export", "display name", "consumer", "destinations", "lifecycle"], (
        [a(cat.url(f"export:{x.name}", ""), x.name), e(x.display_name), e(x.consumer.system),
         e(", ".join(d.name for d in x.destinations)), _lifecycle(x.lifecycle)]
        for x in sorted(cat.exports.values(), key=lambda x: x.name)))
    counts = (f"{len(cat.tags)} tags in {len(tree)} categories, {len(cat.sources)} sources, "
              f"{len(cat.audiences)} audiences, {len(cat.scenes)} scenes, {len(cat.exports)} exports")
    body = (f"<h1>Tag catalog <small>{e(counts)}</small></h1>"
            '<section id="search"><input id="search-box" type="search" autocomplete="off" '
            'placeholder="Search by name, display name (中文) or description" aria-label="search">'
            '<p id="result-count" class="muted"></p><ul id="results"></ul></section>'
            f'<h2 id="categories">Categories</h2><div class="tree">{"".join(blocks)}</div>'
            f'<h2 id="sources">Sources</h2>{sources}<h2 id="audiences">Audiences</h2>{audiences}'
            f'<h2 id="scenes">Scenes</h2>{scenes}<h2 id="exports">Exports</h2>{exports}'
            f'<p><a href="quality/index.html">Quality results</a> · manifest {e(m.digest[:12])}</p>')
    return page("Tag catalog", body, root="", scripts=["search-index.js"], built_at=cat.built_at)


def category_pages(cat: Catalog, top: str) -> list[tuple[str, str]]:
    """The pages of a top-level category as ``(file name, html)``: at most ``CATEGORY_PAGE_ROWS``
    tags each, linked by previous / next and a contents list of the sub-categories."""
    pages = cat.category_pages(top)
    subs = cat.category_tree().get(top, {})
    contents = ('<p class="contents">' + " · ".join(
        f'{a(cat.category_url(top, sub, "../"), sub or "(top level)")} <span class="muted">{len(tags)}</span>'
        for sub, tags in subs.items()) + "</p>") if len(pages) > 1 else ""
    return [(category_file(top, n), category_page(cat, top, chunks, n, len(pages), contents))
            for n, chunks in enumerate(pages, start=1)]


def category_page(cat: Catalog, top: str, chunks: list[tuple[str, list[Tag], bool]], number: int = 1,
                  count: int = 1, contents: str = "") -> str:
    parts = []
    for sub, tags, continued in chunks:
        rows = []
        for tag in tags:
            latest = (cat.warehouse.tag_stats.get(tag.name) or [{}])[-1]
            rows.append([a(cat.url(f"tag:{tag.name}"), tag.name), e(tag.display_name), e(tag.type),
                         e(tag.kind), _lifecycle(tag.lifecycle), pill("PII", "pii") if tag.pii else "",
                         e(tag.owner), fmt_share(latest.get("coverage"))])
        heading = e(top + ("/" + sub if sub else ""))
        parts.append((f'<h2>{heading} <small class="muted">(continued)</small></h2>' if continued
                      else f'<h2 id="{e(slug(sub or top))}">{heading}</h2>')
                     + table(["tag", "display name", "type", "kind", "lifecycle", "PII", "owner", "coverage"],
                             rows, numeric=(7,)))
    total = sum(len(t) for t in cat.category_tree().get(top, {}).values())
    where = f"page {number} of {count}, " if count > 1 else ""
    nav = pager(number, count, lambda n: category_file(top, n))
    body = (f"<h1>{e(category_label(top))} <small>{e(top)} · {where}{total} tags</small></h1>{contents}{nav}"
            + "".join(parts) + nav)
    title = category_label(top) + (f" ({number}/{count})" if count > 1 else "")
    return page(title, body, crumbs=[("../index.html", "Catalog")], built_at=cat.built_at)


def _stats_charts(cat: Catalog, entity: Entity, tag: Tag, rows: list[Row]) -> str:
    if not rows:
        return ('<p class="empty">No statistics yet: the tag statistics table has no snapshot of this tag '
                "(they are written when a profile snapshot is published).</p>")
    dates = [str(r["dt"]) for r in rows]
    out = [charts.line_chart(list(zip(dates, [r.get("coverage") for r in rows], strict=True)), "coverage",
                             charts.percent, y_min=0.0, y_max=1.0, threshold=tag.quality.coverage_min,
                             threshold_label="coverage_min"),
           charts.line_chart(list(zip(dates, [r.get("null_count") for r in rows], strict=True)), "nulls"),
           charts.line_chart(list(zip(dates, [r.get("approx_distinct") for r in rows], strict=True)),
                             "distinct values (approx.)")]
    if tag.type in ("integer", "double", "boolean", "array<string>"):
        out.append(charts.line_chart(list(zip(dates, [r.get("mean") for r in rows], strict=True)),
                   "mean" if tag.type != "array<string>" else "mean length"))
    points, how = cat.psi_series(entity, tag)
    limit = tag.quality.drift.psi_max if tag.quality.drift else None
    if points:
        out.append(charts.line_chart(points, f"PSI drift ({how})", threshold=limit, threshold_label="psi_max",
                                     y_min=0.0))
    else:
        out.append(charts.empty("PSI drift", "no drift measured (needs two snapshots, or a drift check)"))
    latest = rows[-1]
    top = parse_json(latest.get("top_values"))
    hist = parse_json(latest.get("histogram"))
    if isinstance(top, list) and top:
        items = [(mask(v) if tag.pii else str(v), float(c)) for v, c in top]
        out.append(charts.bar_chart(items, f"distribution on {latest['dt']} (top values)",
                                    caption="values masked (PII)" if tag.pii else ""))
    elif isinstance(hist, dict) and hist.get("shares"):
        edges = hist.get("edges") or []
        shares = hist["shares"]
        items = []
        for i in range(len(edges) + 1):
            lo = charts.number(edges[i - 1]) if i else "…"
            hi = charts.number(edges[i]) if i < len(edges) else "…"
            items.append((f"[{lo}, {hi})", float(shares.get(f"b{i}", 0.0))))
        out.append(charts.bar_chart(items, f"distribution on {latest['dt']} (decile bins)", charts.percent))
    return '<div class="charts">' + "".join(out) + "</div>"


def quality_rows(rows: list[Row]) -> str:
    return table(["date", "run", "expectation", "column", "severity", "observed", "verdict"], (
        [e(r.get("dt")), e(r.get("run_id")), e(r.get("expectation") or r.get("expectation_type")),
         e(r.get("column")), e(r.get("severity")), e(r.get("observed_value")),
         pill("pass") if r.get("success") else pill("fail")] for r in rows), empty="no results recorded yet")


def tag_page(cat: Catalog, entity: Entity, tag: Tag) -> str:
    node = f"tag:{tag.name}"
    top, _, sub = tag.category.partition("/")
    file, line, yaml_text = cat.definitions.snippet(tag.definition)
    rows = cat.warehouse.tag_stats.get(tag.name, [])
    latest = rows[-1] if rows else {}
    identity = facts([
        ("name", f"<code>{e(tag.name)}</code>"), ("display name", e(tag.display_name)), ("owner", e(tag.owner)),
        ("category", a(cat.category_url(top), category_label(top)) + (f" / {a(cat.category_url(top, sub), sub)}" if sub else "")),
        ("lifecycle", _lifecycle(tag.lifecycle)), ("PII", pill("PII", "pii") if tag.pii else "no"),
        ("kind / type", e(f"{tag.kind} / {tag.type}") + (f" · values: {e(', '.join(tag.values))}" if tag.values else "")),
        ("window", e(tag.window or "-")), ("entity", e(entity.name) + f" (<code>{e(entity.profile_table)}</code>)"),
        ("sources", ", ".join(a(cat.url(f"source:{s}"), s) for s in tag.sources) or "-"),
        ("depends on", ", ".join(a(cat.url(f"tag:{t}"), t) for t in tag.depends_on) or "-"),
        ("definition", f"<code>{e(file)}:{line}</code>")])
    latest_facts = table(["date", "rows", "with value", "nulls", "coverage", "distinct", "min", "max", "mean"], [[
        e(latest.get("dt")), fmt_int(latest.get("rows")), fmt_int(latest.get("non_null")),
        fmt_int(latest.get("null_count")), fmt_share(latest.get("coverage")), fmt_int(latest.get("approx_distinct")),
        e(mask(latest.get("min_value")) if tag.pii else latest.get("min_value")),
        e(mask(latest.get("max_value")) if tag.pii else latest.get("max_value")),
        e(None if latest.get("mean") is None else f"{latest['mean']:.4g}")]] if latest else [],
        numeric=(1, 2, 3, 4, 5), empty="")
    declared = tag.quality.model_dump(exclude_defaults=True)
    downstream = {k: cat.uses(node, k) for k in ("audience", "scene", "export")}
    uses = facts([(f"{k}s", ", ".join(a(cat.url(f"{k}:{n}"), n) for n in names) or "none")
                  for k, names in downstream.items()])
    upstream_cols = sorted(cat.graph.nodes[n].name for n in cat.graph.walk(node, "up")
                           if cat.graph.nodes[n].kind == "column")
    how = "column lineage of the manifest" if cat.graph.column_level else "source columns named by the compiled SQL"
    body = (f'<h1>{e(tag.display_name)} <small><code>{e(tag.name)}</code></small></h1>'
            f"{identity}<p>{e(tag.description)}</p>"
            f'<h2 id="statistics">Statistics <small class="muted">last {len(rows)} snapshots</small></h2>'
            f"{latest_facts}{_stats_charts(cat, entity, tag, rows)}"
            '<h2 id="samples">Sample values</h2><p class="muted">The top values of the latest snapshot '
            "(the distribution chart above; masked for PII tags). Row-level samples are not shown: the catalog "
            "reads no profile rows.</p>"
            f'<h2 id="quality">Quality</h2><p class="muted">Declared: {e(compact_json(declared) or "no checks")}</p>'
            f"{quality_rows(cat.warehouse.quality_of(entity.profile_table, tag.name))}"
            f'<h2 id="lineage">Lineage</h2>{lineage_svg(cat.graph, node, cat.url)}'
            f'<p class="muted">Upstream source columns ({e(how)}): '
            f'{", ".join(a(cat.url("column:" + c), c) for c in upstream_cols) or "none"}</p>{uses}'
            f'<h2 id="definition">Definition <small class="muted">{e(file)}:{line}</small></h2>'
            f'{code(yaml_text, "the definition file is not available here")}'
            f'<h2 id="sql">Compiled SQL</h2>{code(tag.sql)}')
    crumbs = [("../index.html", "Catalog"), (cat.category_url(top), category_label(top))]
    return page(f"{tag.display_name} ({tag.name})", body, crumbs=crumbs, built_at=cat.built_at)


def source_page(cat: Catalog, entity: Entity, name: str) -> str:
    source = cat.sources[name][1]
    node = f"source:{name}"
    readers: dict[str, list[str]] = {}
    for col in cat.graph.outputs(node, "column"):
        readers[cat.graph.nodes[col].name.split(".", 1)[1]] = cat.graph.outputs(col)
    schema = table(["column", "type", "Spark type", "PII", "values", "read by"], (
        [f'<span id="col-{e(slug(c.name))}"><code>{e(c.name)}</code></span>', e(c.type), e(c.spark_type),
         pill("PII", "pii") if c.pii else "", e(", ".join(c.values or [])),
         ", ".join(a(cat.url(n), cat.graph.nodes[n].name) for n in readers.get(c.name, []))]
        for c in source.columns))
    partitions = cat.warehouse.freshness.get(name, [])
    fresh = (f"latest partition <b>{e(partitions[0])}</b>, {len(partitions)} partitions "
             f"(newest: {e(', '.join(partitions[:7]))})" if partitions else
             "not available (the source is not a local folder with date partitions here)")
    fed = sorted({n for n in cat.graph.walk(node, "down") if cat.graph.nodes[n].kind == "tag"})
    tags = table(["tag", "display name", "category", "type"], (
        [a(cat.url(n), cat.graph.nodes[n].name), e(cat.tags[cat.graph.nodes[n].name][1].display_name),
         e(cat.tags[cat.graph.nodes[n].name][1].category), e(cat.tags[cat.graph.nodes[n].name][1].type)]
        for n in fed if cat.graph.nodes[n].name in cat.tags))
    declared = source.quality.model_dump(exclude_defaults=False)
    body = (f"<h1>{e(name)} <small>source · {e(source.kind)}</small></h1>"
            + facts([("path", f"<code>{e(source.path)}</code> ({e(source.format)})"),
                      ("entity", f"{e(entity.name)} (key <code>{e(source.entity_key)}</code>)"),
                      ("time column", e(source.time_column or "-")),
                      ("partition column", e(source.partition_column or "-")), ("freshness", fresh)])
            + f'<h2 id="schema">Schema</h2>{schema}'
            + f'<h2 id="quality">Quality checks</h2><p class="muted">Declared: {e(compact_json(declared))}</p>'
            + quality_rows(cat.warehouse.quality_of(f"source:{name}"))
            + f'<h2 id="tags">Tags it feeds ({len(fed)})</h2>{tags}'
            + f'<h2 id="lineage">Lineage</h2>{lineage_svg(cat.graph, node, cat.url, max_depth=2)}')
    return page(f"source {name}", body, crumbs=[("../index.html", "Catalog"), ("../index.html#sources", "Sources")],
                built_at=cat.built_at)
