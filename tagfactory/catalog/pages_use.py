"""Pages of the consumption side: audiences, scenes, exports and the quality results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tagfactory.catalog import charts
from tagfactory.catalog.graph_svg import lineage_svg
from tagfactory.catalog.model import Catalog, quality_index_file, quality_run_file, slug
from tagfactory.catalog.pages_effects import effects_section
from tagfactory.catalog.render import (
    a,
    chunks,
    code,
    compact_json,
    e,
    facts,
    fmt_int,
    page,
    pager,
    pill,
    table,
)
from tagfactory.catalog.warehouse import Row, parse_json
from tagfactory.compiler.manifest import Audience, Entity, Export, Scene

IDLE_DAYS = 7
CRUMB = ("../index.html", "Catalog")


def _links(cat: Catalog, kind: str, names: list[str]) -> str:
    return ", ".join(a(cat.url(f"{kind}:{n}"), n) for n in names) or "none"


def _definition(cat: Catalog, where: str) -> str:
    file, line, text = cat.definitions.snippet(where)
    return (f'<h2 id="definition">Definition <small class="muted">{e(file)}:{line}</small></h2>'
            + code(text, "the definition file is not available here"))


def audience_page(cat: Catalog, entity: Entity, audience: Audience) -> str:
    node = f"audience:{audience.name}"
    rows = cat.warehouse.audience_stats.get(audience.name, [])
    dates = [str(r["dt"]) for r in rows]
    if rows:
        size_charts = ('<div class="charts">'
                       + charts.line_chart(list(zip(dates, [r.get("size") for r in rows], strict=True)), "size")
                       + charts.pair_bars([(d, r.get("added") or 0, r.get("removed") or 0)
                                           for d, r in zip(dates, rows, strict=True) if r.get("previous_dt")],
                                          "entered / exited", ("entered", "exited")) + "</div>")
    else:
        size_charts = '<p class="empty">No sizes yet: the audience has not been materialized.</p>'
    recent = table(["date", "size", "previous", "entered", "exited", "change"], (
        [e(r["dt"]), fmt_int(r.get("size")), fmt_int(r.get("previous_size")), fmt_int(r.get("added")),
         fmt_int(r.get("removed")), e("" if r.get("change") is None else f"{r['change']:.1%}")]
        for r in reversed(rows[-7:])), numeric=(1, 2, 3, 4, 5), empty="")
    profile = cat.warehouse.audience_profile.get(audience.name, [])
    best = sorted((r for r in profile if r.get("tgi") is not None and (r.get("audience_users") or 0) > 0),
                  key=lambda r: -float(r["tgi"]))[:12]
    tgi = (charts.bar_chart([(f"{r['tag']}={r['value']}", float(r["tgi"])) for r in best],
                            f"TGI on {best[0]['dt']} (top 12; 100 = like everyone)", reference=100.0)
           if best else charts.empty("TGI", "no audience profile yet"))
    g = facts([("name", f"<code>{e(audience.name)}</code>"), ("owner", e(audience.owner)),
               ("kind", e(audience.kind)), ("lifecycle", pill(audience.lifecycle)), ("entity", e(entity.name)),
               ("tags read", _links(cat, "tag", audience.tags)),
               ("audiences referenced", _links(cat, "audience", audience.refs)),
               ("guardrails", e(compact_json(audience.guardrails.model_dump(exclude_defaults=True)) or "-"))]
              + ([("uploaded list", e(f"{audience.uploaded.file}: {audience.uploaded.ids:,} ids"))]
                 if audience.uploaded else []))
    body = (f"<h1>{e(audience.display_name)} <small>audience <code>{e(audience.name)}</code></small></h1>{g}"
            f"<p>{e(audience.description)}</p>"
            f'<h2 id="size">Size history</h2>{size_charts}{recent}<h2 id="tgi">Audience profile</h2>{tgi}'
            f'<h2 id="used-by">Used by</h2>'
            + facts([("audiences", _links(cat, "audience", [cat.graph.nodes[n].name
                                                             for n in cat.graph.outputs(node, "audience")])),
                     ("scenes", _links(cat, "scene", cat.uses(node, "scene"))),
                     ("exports", _links(cat, "export", cat.uses(node, "export")))])
            + f'<h2 id="lineage">Lineage</h2>{lineage_svg(cat.graph, node, cat.url, max_depth=3)}'
            + _definition(cat, audience.definition)
            + "<h2>Compiled condition</h2>" + code(audience.condition or audience.sql, "none (uploaded list)"))
    return page(f"audience {audience.name}", body, crumbs=[CRUMB, ("../index.html#audiences", "Audiences")],
                built_at=cat.built_at)


def scene_page(cat: Catalog, entity: Entity, scene: Scene) -> str:
    node = f"scene:{scene.name}"
    branches = table(["#", "branch", "audience", "payload", "control", "variants"], (
        [str(i), e(b.name), a(cat.url(f"audience:{b.audience}"), b.audience), e(compact_json(b.payload)),
         e(f"{b.control:.0%}"), e(", ".join(f"{v.name} ({v.weight:g})" for v in b.variants or []))]
        for i, b in enumerate(scene.branches, 1)))
    counts = cat.warehouse.scene_stats.get(scene.name, [])
    counts.sort(key=lambda r: (str(r.get("branch")), str(r.get("group")), str(r.get("variant") or "")))
    per_branch: dict[str, float] = {}
    for r in counts:
        per_branch[str(r.get("branch"))] = per_branch.get(str(r.get("branch")), 0) + float(r.get("users") or 0)
    chart = (charts.bar_chart(list(per_branch.items()), f"users per branch on {counts[0]['dt']}")
             if counts else charts.empty("users per branch", "no assignments yet"))
    groups = table(["branch", "group", "variant", "users"], (
        [e(r.get("branch")), e(r.get("group")), e(r.get("variant") or ""), fmt_int(r.get("users"))] for r in counts),
        numeric=(3,), empty="")
    effects = cat.warehouse.effect_results.get(scene.name, [])
    body = (f"<h1>{e(scene.display_name)} <small>scene <code>{e(scene.name)}</code></small></h1>"
            + facts([("owner", e(scene.owner)), ("entity", e(entity.name)), ("holdout", e(f"{scene.holdout:.0%}")),
                     ("salt", f"<code>{e(scene.salt)}</code>"), ("exports", _links(cat, "export", cat.uses(node, "export")))])
            + f"<p>{e(scene.description)}</p><h2 id=\"branches\">Branches (first match wins)</h2>{branches}"
            + f'<h2 id="groups">Groups and counts</h2>{chart}{groups}'
            + f'<h2 id="effects">Effect over time</h2>{effects_section(scene, effects)}'
            + f'<h2 id="lineage">Lineage</h2>{lineage_svg(cat.graph, node, cat.url, max_depth=3)}'
            + _definition(cat, scene.definition))
    return page(f"scene {scene.name}", body, crumbs=[CRUMB, ("../index.html#scenes", "Scenes")], built_at=cat.built_at)


def idle_status(export: Export, receipts: list[Row], today: dt.date | None = None) -> str:
    """The service registry's view: never delivered, idle (no delivery for IDLE_DAYS days) or in use."""
    delivered = [r for r in receipts if r.get("status") in ("delivered", "unchanged")]
    if export.lifecycle != "active":
        return f"{export.lifecycle}"
    if not delivered:
        return "never delivered"
    last = max(str(r["dt"]) for r in delivered)
    finished = max((r["finished_at"] for r in delivered if isinstance(r.get("finished_at"), dt.datetime)),
                   default=None)
    age = ((today or dt.date.today()) - finished.date()).days if isinstance(finished, dt.datetime) else None
    state = "idle" if age is not None and age > IDLE_DAYS else "in use"
    return f"{state}: last delivery for {last}" + (f", {age} days ago" if age is not None else "")


def export_page(cat: Catalog, export: Export) -> str:
    node = f"export:{export.name}"
    what = export.what
    objects = _links(cat, "audience", what.audiences or []) if what.audiences else _links(cat, "scene", what.scenes or [])
    columns = table(["column", "origin", "read from", "type", "PII", "treatment"], (
        [f"<code>{e(c.name)}</code>", e(c.origin),
         a(cat.url(f"tag:{c.ref}") if c.origin == "tag" else cat.url(f"column:{c.ref}") if c.origin == "source" else None,
           c.ref), e(c.type), pill("PII", "pii") if c.pii else "", e(c.treatment or "")] for c in export.columns))
    dests = table(["destination", "kind", "settings"], (
        [e(d.name), e(d.kind), e(compact_json(d.model_dump(exclude={"name", "kind"}, exclude_defaults=True)))]
        for d in export.destinations))
    receipts = cat.warehouse.receipts.get(export.name, [])
    deliveries = table(["date", "destination", "status", "rows", "suppressed", "files", "bytes", "where", "finished", "error"], (
        [e(r.get("dt")), e(r.get("destination")), pill(r.get("status") or "?"), fmt_int(r.get("rows_delivered")),
         fmt_int(r.get("rows_suppressed")), fmt_int(r.get("files")), fmt_int(r.get("bytes")), e(r.get("location")),
         e(r.get("finished_at")), e(r.get("error") or "")] for r in receipts[:30]),
        numeric=(3, 4, 5, 6), empty="no deliveries recorded yet")
    c = export.consumer
    body = (f"<h1>{e(export.display_name)} <small>export <code>{e(export.name)}</code></small></h1>"
            + facts([("consumer", e(f"{c.system} · team {c.team} · {c.contact}")), ("purpose", e(export.purpose)),
                     ("owner", e(export.owner)), ("lifecycle", pill(export.lifecycle)),
                     ("status", e(idle_status(export, receipts))), ("entity", e(export.entity)),
                     ("what", e(what.kind) + f": {objects}"), ("tags read", _links(cat, "tag", export.tags)),
                     ("suppression", e(compact_json(export.suppression.model_dump(exclude_defaults=True)) or "-")),
                     ("schedule", e(compact_json(export.schedule.model_dump(exclude_defaults=True)) or "every run")),
                     ("retention", e(f"{export.retention.days} days"))])
            + f"<p>{e(export.description)}</p><h2 id=\"columns\">Columns</h2>{columns}"
            + f'<h2 id="destinations">Destinations</h2>{dests}<h2 id="deliveries">Deliveries</h2>{deliveries}'
            + f'<h2 id="lineage">Lineage</h2>{lineage_svg(cat.graph, node, cat.url, max_depth=5)}'
            + _definition(cat, export.definition))
    return page(f"export {export.name}", body, crumbs=[CRUMB, ("../index.html#exports", "Exports")], built_at=cat.built_at)


def quality_runs(cat: Catalog) -> dict[str, list[Row]]:
    """Quality rows per audit (run, dataset, date), newest date first."""
    runs: dict[str, list[Row]] = {}
    for r in cat.warehouse.quality:
        runs.setdefault(slug(f"{r.get('dt')}__{r.get('dataset')}__{r.get('run_id')}"), []).append(r)
    return runs


def _verdict(rows: list[Row]) -> tuple[int, int, int, bool]:
    failed_errors = sum(1 for r in rows if not r.get("success") and r.get("severity") == "error"
                        and r.get("expectation") != "__override__")
    warnings = sum(1 for r in rows if not r.get("success") and r.get("severity") != "error")
    overridden = any(r.get("expectation") == "__override__" for r in rows)
    return len(rows), failed_errors, warnings, overridden


def quality_index_pages(cat: Catalog, runs: dict[str, list[Row]]) -> list[tuple[str, str]]:
    """The audit list as ``(file name, html)`` pages of at most ``QUALITY_INDEX_ROWS`` audits, newest
    first (``index.html`` is the first), linked by previous / next."""
    from tagfactory.catalog import model

    keys = list(runs)
    pages = chunks(keys, model.QUALITY_INDEX_ROWS)
    return [(quality_index_file(n), _quality_index(cat, runs, chunk, n, len(pages), len(keys)))
            for n, chunk in enumerate(pages, start=1)]


def _quality_index(cat: Catalog, runs: dict[str, list[Row]], keys: list[str], number: int, count: int,
                   total_runs: int) -> str:
    items = []
    for key in keys:
        rows = runs[key]
        total, errors, warnings, overridden = _verdict(rows)
        first = rows[0]
        verdict = pill("overridden", "warn") if overridden else pill("fail") if errors else pill("pass")
        items.append([e(first.get("dt")), e(first.get("dataset")), a(quality_run_file(key, 1), first.get("run_id")),
                      str(total), str(errors), str(warnings), verdict])
    where = f" <small>page {number} of {count}, {total_runs} audits</small>" if count > 1 else ""
    nav = pager(number, count, quality_index_file)
    body = (f"<h1>Quality results{where}</h1><p class=\"muted\">One row per audit (the quality gate of a profile, "
            "its sources, the audience guardrails), newest first; each links to its expectations.</p>" + nav
            + table(["date", "dataset", "run", "expectations", "failed (error)", "failed (warn)", "verdict"], items,
                    numeric=(3, 4, 5), empty="no quality results recorded yet (the quality_results table is empty)")
            + nav)
    title = "Quality results" + (f" ({number}/{count})" if count > 1 else "")
    crumbs = [CRUMB] if number == 1 else [CRUMB, ("index.html", "Quality results")]
    return page(title, body, crumbs=crumbs, built_at=cat.built_at)


def _dataset_link(cat: Catalog, dataset: str, column: Any) -> str:
    if dataset.startswith("source:"):
        return a(cat.url(dataset), dataset)
    if column and f"tag:{column}" in cat.graph.nodes and column in cat.tags:
        return a(cat.url(f"tag:{column}"), column)
    return e(column or "")


def quality_run_pages(cat: Catalog, key: str, rows: list[Row]) -> list[tuple[str, str]]:
    """One audit as ``(file name, html)`` pages of at most ``QUALITY_RUN_ROWS`` expectations, failures
    first (``<key>.html`` is the first), linked by previous / next."""
    from tagfactory.catalog import model

    ordered = sorted(rows, key=lambda r: (bool(r.get("success")), str(r.get("expectation"))))
    pages = chunks(ordered, model.QUALITY_RUN_ROWS)
    return [(quality_run_file(key, n), _quality_run_page(cat, key, rows, chunk, n, len(pages)))
            for n, chunk in enumerate(pages, start=1)]


def _quality_run_page(cat: Catalog, key: str, rows: list[Row], shown: list[Row], number: int, count: int) -> str:
    first = rows[0]
    table_rows = []
    for r in shown:
        override = r.get("expectation") == "__override__"
        verdict = pill("override", "warn") if override else pill("pass") if r.get("success") else pill("fail")
        table_rows.append([e(r.get("expectation")), e(r.get("expectation_type")),
                           _dataset_link(cat, str(r.get("dataset")), r.get("column")), e(r.get("severity")),
                           e(r.get("observed_value")), fmt_int(r.get("unexpected_count")),
                           e("" if r.get("unexpected_percent") is None else f"{r['unexpected_percent']:.2f}%"),
                           fmt_int(r.get("element_count")), verdict,
                           e(compact_json(parse_json(r.get("details"))) if override else "")])
    total, errors, warnings, overridden = _verdict(rows)
    where = f" Page {number} of {count} (failures first)." if count > 1 else ""
    nav = pager(number, count, lambda n: quality_run_file(key, n))
    body = (f"<h1>Audit of {e(first.get('dataset'))} <small>{e(first.get('dt'))} · run {e(first.get('run_id'))}</small></h1>"
            f"<p>{total} expectations, {errors} failed (error), {warnings} failed (warn)"
            f"{', gate overridden' if overridden else ''}.{where}</p>" + nav
            + table(["expectation", "type", "column", "severity", "observed", "unexpected", "unexpected %",
                     "elements", "verdict", "override"], table_rows, numeric=(5, 6, 7)) + nav)
    title = f"quality {first.get('dataset')} {first.get('dt')}" + (f" ({number}/{count})" if count > 1 else "")
    return page(title, body, crumbs=[CRUMB, ("index.html", "Quality results")], built_at=cat.built_at)
