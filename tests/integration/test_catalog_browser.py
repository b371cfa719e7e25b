"""The tag catalog in a real browser: headless Chromium (Debian's ``chromium``) opens it from file://
and over HTTP (``tagfactory catalog --serve``'s server).

The catalog is built from the shipped definitions and a tiny warehouse written with delta-rs (no
Spark). Checked: no console messages (errors, failed loads), the index lists every category, the
search (JavaScript, driven by ``index.html?q=...``) finds a tag by its Chinese display name, a tag
page shows its charts and lineage and links to its source's page, a scene page its effect over time
(the interval charts and the latest results of the tiny warehouse's ``effect_results_user``).
Screenshots are saved under ``target/catalog-screenshots/``. Install the browser with
``tests/servers/ensure_chromium.sh`` (``make test`` runs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagfactory.catalog.model import category_label
from tagfactory.catalog.site import build_catalog
from tests.unit.definitions import REPO
from tests.unit.test_catalog_model import compiled, settings_for, write_tables

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = REPO / "target" / "catalog-screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1400,1000"]
CONSOLE = re.compile(r":INFO:CONSOLE[^\]]*\] (.*)")

if CHROMIUM is None:
    pytest.skip("chromium is not installed: run tests/servers/ensure_chromium.sh", allow_module_level=True)


def chromium(url: str, tmp: Path, *extra: str) -> tuple[str, list[str]]:
    """(stdout, console messages) of headless Chromium opening ``url`` (a fresh profile each time)."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    done = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, CONSOLE.findall(done.stderr)


def dom(url: str, tmp: Path) -> str:
    html, console = chromium(url, tmp, "--dump-dom")
    assert console == [], f"console messages on {url}: {console}"
    assert "data-js-errors" not in html
    return html


def screenshot(url: str, tmp: Path, name: str, height: int = 1000) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    chromium(url, tmp, f"--screenshot={path}", f"--window-size=1400,{height}")
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("catalog-browser")
    write_tables(tmp / "wh")
    build_catalog(settings_for(tmp, tmp / "wh"), tmp / "out", manifest_file=compiled(tmp / "target"))
    return tmp / "out"


@pytest.fixture()
def tmp(tmp_path: Path) -> Path:
    return tmp_path


def test_the_index_lists_every_category_without_console_errors(site: Path, tmp: Path) -> None:
    html = dom((site / "index.html").as_uri(), tmp)
    for top in ("basic", "behavior", "consumption", "marketing", "service", "risk"):
        assert f'data-category="{top}"' in html and category_label(top) in html
    assert re.search(r'data-search-ready="\d{3}"', html), "the search script did not run"
    screenshot((site / "index.html").as_uri(), tmp, "index.png")


def test_search_finds_a_tag_by_its_chinese_display_name(site: Path, tmp: Path) -> None:
    url = (site / "index.html").as_uri() + "?q=" + urllib.parse.quote("近一年消费金额")
    html = dom(url, tmp)
    results = html.split('<ul id="results">', 1)[1].split("</ul>", 1)[0]
    assert 'href="tag/gmv_365d.html"' in results
    assert "1 result" in html or "results for" in html
    screenshot(url, tmp, "search.png", height=600)
    # audiences and exports by name or description words
    html = dom((site / "index.html").as_uri() + "?q=" + urllib.parse.quote("CRM upload"), tmp)
    assert 'href="export/crm_high_value_daily.html"' in html.split('<ul id="results">', 1)[1]


def test_a_tag_page_shows_its_charts_and_lineage_and_links_its_source(site: Path, tmp: Path) -> None:
    page = site / "tag" / "gmv_365d.html"
    html = dom(page.as_uri(), tmp)
    assert html.count('<svg class="line"') >= 4 and '<svg class="bars"' in html
    assert '<svg class="lineage"' in html and "orders.amount" in html
    assert 'href="../source/orders.html"' in html
    screenshot(page.as_uri(), tmp, "tag_gmv_365d.png", height=2400)
    source = dom((page.parent / "../source/orders.html").resolve().as_uri(), tmp)
    assert 'href="../tag/gmv_365d.html"' in source and "orders.amount.mean_in_cny_range" in source


def test_a_scene_page_shows_the_effect_over_time(site: Path, tmp: Path) -> None:
    page = site / "scene" / "home_popup.html"
    html = dom(page.as_uri(), tmp)
    section = html.split('id="effects"', 1)[1].split('id="lineage"', 1)[0]
    assert section.count('<svg class="interval"') == 2 and section.count('<polygon class="band"') == 2
    assert 'class="zero"' in section and "always valid" in section and "guardrail" in section
    screenshot(page.as_uri() + "#effects", tmp, "scene_home_popup.png", height=1800)


@pytest.fixture()
def served(site: Path) -> Iterator[str]:
    from tagfactory.catalog.serve import make_server

    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_served_catalog_works_over_http(served: str, tmp: Path) -> None:
    html = dom(f"{served}/index.html?q=" + urllib.parse.quote("性别"), tmp)
    assert 'href="tag/gender.html"' in html.split('<ul id="results">', 1)[1]
    html = dom(f"{served}/audience/high_value_customers.html", tmp)
    assert '<svg class="line"' in html and 'href="../scene/home_popup.html"' in html
