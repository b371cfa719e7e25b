"""The catalog's pages: SVG charts, escaping, and a whole site built from the shipped definitions (with
and without a warehouse): every page there, every local link resolves, nothing loads from the network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tagfactory.catalog import charts
from tagfactory.catalog.render import a, e, table
from tagfactory.catalog.site import MARKER, build_catalog
from tests.unit.test_catalog_model import compiled, settings_for, write_tables

LINK = re.compile(r'(?:href|src)="([^"]+)"')


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
    again = build_catalog(settings, tmp_path / "out")
    assert not again.compiled and again.pages == result.pages


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
        for link in LINK.findall(html):
            if link.startswith(("data:", "#")) or "?" in link:
                continue
            target, _, anchor = link.partition("#")
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.name} links {link}"
            if anchor:
                assert f'id="{anchor}"' in path.read_text(encoding="utf-8"), f"{page.name} links {link}"
    first = (out / "category" / split[0].name.replace("--p2", "")).read_text(encoding="utf-8")
    assert f'href="{split[0].name}"' in first and "next ›" in first
    # every tag is on exactly one category page, and the index and tag pages link where its sub-category is
    listed = [m for p in pages for m in re.findall(r'href="\.\./tag/([^"]+)\.html"', p.read_text(encoding="utf-8"))]
    assert sorted(listed) == sorted(p.stem for p in (out / "tag").glob("*.html"))
    index = (out / "index.html").read_text(encoding="utf-8")
    for link in re.findall(r'href="(category/[^"]+)"', index):
        target, _, anchor = link.partition("#")
        assert (out / target).is_file() and (not anchor or f'id="{anchor}"' in (out / target).read_text("utf-8"))
