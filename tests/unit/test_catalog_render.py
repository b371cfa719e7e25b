"""The catalog's pages: SVG charts, escaping, and a whole site built from the shipped definitions (with
and without a warehouse): every page there, every local link resolves, nothing loads from the network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tagfactory.catalog import charts
from tagfactory.catalog.render import a, e, table
from tagfactory.catalog.site import MARKER, build_catalog
from tests.unit.test_catalog_model import (
    DAYS,
    EFFECT_SERIES,
    compiled,
    effect_rows,
    settings_for,
    write_tables,
)

LINK = re.compile(r'(?:href|src)="([^"]+)"')
DOT = re.compile(r'<circle class="dot" cx="([\d.]+)" cy="([\d.]+)" r="2"><title>([^<]*)</title>')
PLOT_TOP, PLOT_BOTTOM = charts.PAD_T, charts.H - charts.PAD_B  # the y pixels of the range's top and bottom


def _expected_y(value: float, lo: float, hi: float) -> float:
    """Where ``value`` lies between the plot's bottom (``lo``) and top (``hi``), in SVG pixels (y grows down)."""
    return PLOT_BOTTOM - (value - lo) / (hi - lo) * (PLOT_BOTTOM - PLOT_TOP)


def _pairs(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def test_line_chart_is_inline_svg_with_gaps_and_a_threshold() -> None:
    svg = charts.line_chart([("d1", 0.5), ("d2", None), ("d3", 0.7), ("d4", 0.8)], "coverage", charts.percent,
                            y_min=0, y_max=1, threshold=0.6)
    assert svg.count("<svg") == 1 and svg.count("<polyline") == 1 and svg.count("<circle") == 2  # the isolated point and the latest
    assert 'class="threshold"' in svg and "latest 80.0%" in svg
    assert "no data" in charts.line_chart([("d1", None)], "nulls")


def test_bars_and_pairs_escape_their_labels() -> None:
    svg = charts.bar_chart([("<b>x</b>", 3.0), ("上海", 1.0)], "top values")
    assert "&lt;b&gt;" in svg and "<b>x" not in svg and "上海" in svg and svg.count("<rect") == 2
    assert charts.pair_bars([("d1", 5, 2), ("d2", 1, 0)], "moves", ("in", "out")).count("<rect") == 4
    assert charts.number(27684) == "27.7k" and charts.number(1_500_000) == "1.5M" and charts.number(0.25) == "0.25"


def test_interval_chart_draws_the_estimate_its_band_and_zero() -> None:
    points = [("d1", 0.02, -0.01, 0.05), ("d2", None, None, None), ("d3", 0.03, 0.005, 0.055),
              ("d4", 0.01, -0.02, 0.04), ("d5", -0.004, None, None)]
    fmt = lambda v: f"{v * 100:+.2f}pp"  # noqa: E731
    svg = charts.interval_chart(points, "goal <x> · b:treatment_vs_control", fmt, interval="95% interval",
                                caption="band: 95% interval")
    assert svg.count("<svg") == 1 and "<title>goal &lt;x&gt;" in svg and "<x>" not in svg
    assert "<desc>" in svg and "its 95% interval (shaded band)" in svg and "latest d5: -0.40pp" in svg
    lo, hi = -0.02, 0.055  # every value and bound, and 0
    dots = DOT.findall(svg)
    assert [t for *_, t in dots] == ["d1: +2.00pp [-1.00pp, +5.00pp]", "d3: +3.00pp [+0.50pp, +5.50pp]",
                                     "d4: +1.00pp [-2.00pp, +4.00pp]", "d5: -0.40pp"]  # one dot per date with one
    xs = [float(x) for x, _, _ in dots]
    assert xs == sorted(xs) and xs[0] == charts.PAD_L and xs[-1] == charts.W - charts.PAD_R
    for (_, cy, _), (_, v, _, _) in zip(dots, [p for p in points if p[1] is not None], strict=True):
        assert abs(float(cy) - _expected_y(v, lo, hi)) < 0.06
    # a band from high to low over d3..d4 (d1 alone: a whisker; d5 has no interval)
    [band] = re.findall(r'<polygon class="band" points="([^"]+)"', svg)
    edge = _pairs(band)
    assert [round(y, 1) for _, y in edge] == [round(_expected_y(v, lo, hi), 1) for v in (0.055, 0.04, -0.02, 0.005)]
    [whisker] = re.findall(r'<line class="whisker" x1="[\d.]+" y1="([\d.]+)" x2="[\d.]+" y2="([\d.]+)"', svg)
    assert [float(v) for v in whisker] == [round(_expected_y(v, lo, hi), 1) for v in (0.05, -0.01)]
    [zero] = re.findall(r'<line class="zero" x1="[\d.]+" y1="([\d.]+)"', svg)
    assert float(zero) == round(_expected_y(0.0, lo, hi), 1)
    [line] = re.findall(r'<polyline class="series" points="([^"]+)"', svg)  # d3..d5; d1 (before the gap): a dot
    assert _pairs(line) == [(float(x), float(y)) for x, y, _ in dots[1:]]
    assert "latest -0.40pp on d5, 4 dates · band: 95% interval" in svg
    # an all-positive series still shows zero; infinite bounds are no interval; nothing: a note
    up = charts.interval_chart([("a", 2.0, 1.0, 3.0), ("b", 4.0, 3.0, float("inf"))], "up")
    assert 'class="zero"' in up and up.count('class="whisker"') == 1 and 'y1="120.0"' in up
    assert "no data" in charts.interval_chart([("a", None, None, None)], "nothing")


def test_html_helpers_escape() -> None:
    assert e('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert a(None, "<x>") == "&lt;x&gt;" and a("p.html", "t") == '<a href="p.html">t</a>'
    assert "none" in table(["a"], [], empty="none")


def _local_links(out: Path) -> list[tuple[Path, str]]:
    found = []
    for page in out.rglob("*.html"):
        for link in LINK.findall(page.read_text(encoding="utf-8")):
            found.append((page, link))
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("catalog-site")
    manifest = compiled(tmp / "target")
    write_tables(tmp / "wh")
    result = build_catalog(settings_for(tmp, tmp / "wh"), tmp / "out", manifest_file=manifest)
    assert result.pages > 100 and (tmp / "out" / MARKER).exists()
    return tmp / "out"


def test_every_object_has_a_page(site: Path) -> None:
    for rel in ("index.html", "search-index.js", "assets/catalog.css", "assets/catalog.js", "tag/gmv_365d.html",
                "source/orders.html", "audience/high_value_customers.html", "scene/home_popup.html",
                "export/crm_high_value_daily.html", "category/basic.html", "quality/index.html"):
        assert (site / rel).is_file(), rel
    assert len(list((site / "quality").glob("*.html"))) == 1 + 6  # the index and 3 runs x 2 datasets


def test_every_local_link_resolves_and_nothing_comes_from_the_network(site: Path) -> None:
    for page, link in _local_links(site):
        assert not link.startswith(("http:", "https:", "//")), f"{page.name} links {link}"
        if link.startswith(("data:", "#")) or "?" in link:
            continue
        assert (page.parent / link.split("#")[0]).resolve().is_file(), f"{page.relative_to(site)} -> {link}"


def test_tag_page_shows_statistics_lineage_definition_and_sql(site: Path) -> None:
    html = (site / "tag" / "gmv_365d.html").read_text(encoding="utf-8")
    assert "近一年消费金额" in html and "tag_definitions/tags/consumption.yaml:" in html
    assert html.count('<svg class="line"') >= 4 and '<svg class="bars"' in html  # coverage, nulls, distinct, mean, PSI
    assert "PSI drift (quality gate)" in html and '<svg class="lineage"' in html
    assert 'href="../source/orders.html"' in html and 'href="../audience/high_value_customers.html"' in html
    assert "- name: gmv_365d" in html and "SUM(CASE WHEN" in html
    assert len(html) < 60_000  # one small page per object


def test_a_scene_page_shows_its_effect_over_time(site: Path) -> None:
    html = (site / "scene" / "home_popup.html").read_text(encoding="utf-8")
    section = html.split('<h2 id="effects">Effect over time</h2>', 1)[1].split('<h2 id="lineage">', 1)[0]
    rows = [r for r in effect_rows() if r["slice_tag"] is None]
    primary = [(goal, comparison) for goal, role, comparison, *_ in EFFECT_SERIES if role == "primary"]
    charts_html = section.split("<svg")[1:]
    assert len(charts_html) == len(primary)  # guardrails and slices have no chart
    for svg in charts_html:
        title = re.search(r"<title>([^<]*)</title>", svg)
        assert title is not None
        goal, comparison = title.group(1).split(" · ")
        mine = {r["dt"].isoformat(): r for r in rows if r["goal"] == goal and r["comparison"] == comparison}
        shown = [d for d in map(str, DAYS) if mine[d].get("effect") is not None]
        dots = DOT.findall(svg)
        assert [t.split(":")[0] for *_, t in dots] == shown  # one dot per date with an estimate
        # y follows the values: a larger effect is higher (smaller y), equal spacing over every date
        by_value = sorted(zip([mine[d]["effect"] for d in shown], [float(cy) for _, cy, _ in dots], strict=True))
        assert [y for _, y in by_value] == sorted((y for _, y in by_value), reverse=True)
        step = (charts.W - charts.PAD_R - charts.PAD_L) / (len(DAYS) - 1)
        assert [float(cx) for cx, _, _ in dots] == [charts.PAD_L + step * list(map(str, DAYS)).index(d) for d in shown]
        sequential = mine[shown[-1]].get("seq_ci_low") is not None
        low, high = ("seq_ci_low", "seq_ci_high") if sequential else ("ci_low", "ci_high")
        assert f"[{mine[shown[-1]][low] * 100:+.2f}pp, {mine[shown[-1]][high] * 100:+.2f}pp]" in dots[-1][2]
        assert ('<polygon class="band"' in svg or 'class="whisker"' in svg) and '<line class="zero"' in svg
        assert ("band: always-valid (sequential) 95% interval" if sequential else "band: 95% confidence interval") in svg
    # the latest date's table: every goal and comparison, guardrails too, values as computed
    table_html = section.split("<table>", 1)[1]
    latest = [r for r in rows if r["dt"] == DAYS[-1]]
    assert table_html.count("<tr><td>") == len(latest) and "guardrail" in table_html and "no: SRM" in table_html
    for r in latest:
        assert f"{r['effect'] * 100:+.2f}pp" in table_html and f"{r['q_value']:.3f}" in table_html
        assert f"{r['incremental']:+,.2f}" in table_html and f"n = {r['n_treatment']:,} / {r['n_baseline']:,}" in table_html
    sequential = next(r for r in latest if r.get("seq_ci_low") is not None)
    assert f"[{sequential['seq_ci_low'] * 100:+.2f}pp, {sequential['seq_ci_high'] * 100:+.2f}pp]</span><br><small " \
        'class="muted">always valid' in table_html
    finite = [r for r in latest if r["cost_per_incremental"] not in (None, float("inf"))]
    assert finite and all(f"{r['cost_per_incremental']:,.2f} CNY" in table_html for r in finite)
    assert "+50.00pp" not in section  # the slice row (effect 0.5) is not shown


def test_pii_values_are_masked(site: Path) -> None:
    html = (site / "tag" / "phone_masked.html").read_text(encoding="utf-8")
    assert "138****1234" not in html and "130****0001" not in html and "1•••" in html


def test_search_index_holds_chinese_display_names_of_tags_audiences_and_exports(site: Path) -> None:
    text = (site / "search-index.js").read_text(encoding="utf-8")
    assert text.startswith("window.TF_SEARCH = [")
    assert '"tag","gmv_365d","近一年消费金额"' in text
    assert '"audience","high_value_customers"' in text and '"export","crm_high_value_daily"' in text


def test_a_fresh_checkout_builds_without_a_warehouse(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, tmp_path / "no-warehouse")
    result = build_catalog(settings, tmp_path / "out")  # compiles the manifest first
    assert result.compiled and result.tables == []
    html = (tmp_path / "out" / "tag" / "gmv_365d.html").read_text(encoding="utf-8")
    assert "No statistics yet" in html and '<svg class="lineage"' in html
    scene = (tmp_path / "out" / "scene" / "home_popup.html").read_text(encoding="utf-8")
    effects = scene.split('<h2 id="effects">Effect over time</h2>', 1)[1].split("<h2", 1)[0]
    assert effects.startswith('<figure class="chart empty"><p>the effect analysis has not run yet')
    assert "<svg" not in effects and "<table>" not in effects
    again = build_catalog(settings, tmp_path / "out")
    assert not again.compiled and again.pages == result.pages


def _resolves(page: Path) -> None:
    """Every local link of ``page`` names a file (and its anchor, when it has one)."""
    for link in LINK.findall(page.read_text(encoding="utf-8")):
        if link.startswith(("data:", "#")) or "?" in link:
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve()
        assert path.is_file(), f"{page.name} links {link}"
        if anchor:
            assert f'id="{anchor}"' in path.read_text(encoding="utf-8"), f"{page.name} links {link}"


def test_big_categories_are_split_into_linked_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagfactory.catalog import model

    monkeypatch.setattr(model, "CATEGORY_PAGE_ROWS", 4)
    manifest = compiled(tmp_path / "target")
    out = tmp_path / "out"
    build_catalog(settings_for(tmp_path, tmp_path / "none"), out, manifest_file=manifest)
    pages = sorted((out / "category").glob("*.html"))
    split = [p for p in pages if "--p2" in p.name]
    assert split, [p.name for p in pages]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert html.count("<tr>") - html.count("<thead>") <= 4, page.name  # rows, not the header
        _resolves(page)
    first = (out / "category" / split[0].name.replace("--p2", "")).read_text(encoding="utf-8")
    assert f'href="{split[0].name}"' in first and "next ›" in first
    # every tag is on exactly one category page, and the index and tag pages link where its sub-category is
    listed = [m for p in pages for m in re.findall(r'href="\.\./tag/([^"]+)\.html"', p.read_text(encoding="utf-8"))]
    assert sorted(listed) == sorted(p.stem for p in (out / "tag").glob("*.html"))
    index = (out / "index.html").read_text(encoding="utf-8")
    for link in re.findall(r'href="(category/[^"]+)"', index):
        target, _, anchor = link.partition("#")
        assert (out / target).is_file() and (not anchor or f'id="{anchor}"' in (out / target).read_text("utf-8"))


def test_quality_results_are_split_into_linked_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import math

    from tagfactory.catalog import model
    from tests.unit.test_catalog_model import _write

    monkeypatch.setattr(model, "QUALITY_INDEX_ROWS", 3)
    monkeypatch.setattr(model, "QUALITY_RUN_ROWS", 2)
    runs, expectations = 7, 5  # 7 audits of 5 expectations; the third of each fails
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(runs)]
    rows = [{"run_id": f"run-{i}", "dataset": "profile_user", "suite": "profile_user", "expectation": f"x{k}",
             "expectation_type": "expect_column_values_to_not_be_null", "column": "gmv_365d", "severity": "error",
             "success": k != 2, "observed_value": "0", "unexpected_count": 0, "unexpected_percent": 0.0,
             "element_count": 100, "details": None, "recorded_at": dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC),
             "dt": day} for i, day in enumerate(days) for k in range(expectations)]
    _write(tmp_path / "wh" / "quality_results", "quality_results", rows)
    out = tmp_path / "out"
    build_catalog(settings_for(tmp_path, tmp_path / "wh"), out, manifest_file=compiled(tmp_path / "target"))
    quality = out / "quality"
    index_pages = [quality / "index.html", *(quality / f"page-{n}.html" for n in range(2, math.ceil(runs / 3) + 1))]
    assert {p.name for p in quality.glob("*.html") if p.name == "index.html" or p.name.startswith("page-")} == \
        {p.name for p in index_pages}  # ceil(7 / 3) = 3 pages, index.html the first
    listed = [m for p in index_pages for m in re.findall(r'href="([^"/]+__[^"/]+)\.html"', p.read_text("utf-8"))]
    keys = [f"{d}__profile_user__run-{i}" for i, d in reversed(list(enumerate(days)))]
    assert listed == keys  # every audit exactly once, newest first
    for page in quality.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert html.count("<tr>") - html.count("<thead>") <= 3, page.name
        _resolves(page)
    assert 'href="page-2.html">next ›' in index_pages[0].read_text("utf-8")
    assert 'href="index.html">‹ previous' in index_pages[1].read_text("utf-8")
    for key in keys:  # each audit: ceil(5 / 2) = 3 pages, every expectation on exactly one, the failure first
        pages = [quality / model.quality_run_file(key, n) for n in range(1, 4)]
        assert all(p.is_file() for p in pages) and not (quality / model.quality_run_file(key, 4)).exists()
        shown = [m for p in pages for m in re.findall(r"<tr><td>(x\d)</td>", p.read_text("utf-8"))]
        assert shown == ["x2", "x0", "x1", "x3", "x4"], key
        assert "5 expectations, 1 failed (error)" in pages[2].read_text("utf-8")
