"""Benchmark: `tagfactory catalog` for 2,000 tags and 100 audiences (targets: build < 30 s, a page opens < 1 s).

Generates the definitions with the validate benchmark's generator (benchmarks/validate_2000.py:
the repository's sources and 2,000 tags of every kind) plus 100 rule audiences over them (the
generator of benchmarks/audiences_100.py), compiles them (untimed), writes synthetic statistics
with delta-rs (``--snapshots`` dates of tag statistics, audience sizes and quality results; untimed),
then times:

* the catalog build in-process (``build_catalog``: manifest and Delta reads, every page written),
  best of ``--repeat``, and the reads alone;
* opening pages in headless Chromium (index with a search query, category, tags, a source, an
  audience, the quality index and the largest quality page): with the DevTools protocol when the ``websockets`` package is importable (navigation
  to the load event, one browser), else the wall time of ``chromium --dump-dom`` minus that of a
  blank page.

Prints times against the targets; asserts nothing. Usage:
    python benchmarks/catalog_build.py [--tags 2000] [--audiences 100] [--snapshots 30] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
BUILD_TARGET, PAGE_TARGET = 30.0, 1.0
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]


def definitions(out: Path, n_tags: int, n_audiences: int) -> Path:
    """Generated definitions compiled under ``out/target``; the manifest file."""
    from audiences_100 import audiences
    from validate_2000 import generate

    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project

    defs = out / "definitions"
    generate(defs, n_tags)
    project, _ = load_project(defs)
    tags = build_manifest(project, defs).entities[0].tags
    picked = [t for t in tags if t.type in ("integer", "double", "boolean", "enum")]
    (defs / "audiences").mkdir(exist_ok=True)
    (defs / "audiences" / "bench.yaml").write_text(
        yaml.safe_dump({"audiences": audiences(picked, n_audiences)}, allow_unicode=True), encoding="utf-8")
    project, _ = load_project(defs)
    return write_manifest(build_manifest(project, defs), out / "target")


def statistics(manifest_file: Path, warehouse: Path, snapshots: int) -> int:
    """Synthetic tag statistics, audience sizes and drift results for ``snapshots`` dates; rows written."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from tagfactory.compiler.manifest import read_manifest
    from tagfactory.contracts.tables import table_spec
    from tagfactory.lakehouse.schemas import arrow_schema

    entity = read_manifest(manifest_file).entities[0]
    rng = random.Random(3)
    days = [dt.date(2026, 11, 24) - dt.timedelta(days=i) for i in range(snapshots)][::-1]
    stats, sizes, quality = [], [], []
    for i, day in enumerate(days):
        rows = 1_000_000 + 1000 * i
        for tag in entity.tags:
            nn = int(rows * rng.uniform(0.6, 1.0))
            top = (json.dumps([[f"v{k}", int(nn / (k + 2))] for k in range(6)])
                   if tag.type in ("string", "enum", "boolean") else None)
            hist = (json.dumps({"edges": [float(k * 10) for k in range(1, 10)],
                                "shares": {f"b{k}": 0.1 for k in range(10)}}) if tag.type in ("integer", "double") else None)
            stats.append({"tag": tag.name, "value_type": tag.type, "category": tag.category, "rows": rows,
                          "non_null": nn, "null_count": rows - nn, "coverage": nn / rows,
                          "approx_distinct": rng.randint(2, 50_000), "min_value": "0", "max_value": "999",
                          "mean": rng.uniform(1, 500) if tag.type in ("integer", "double") else None,
                          "top_values": top, "histogram": hist, "dt": day})
            if tag.type in ("integer", "double"):
                quality.append({"run_id": f"run-{day}", "dataset": entity.profile_table, "suite": entity.profile_table,
                                "expectation": f"{tag.name}.drift", "expectation_type": "expect_column_psi_to_be_less_than",
                                "column": tag.name, "severity": "warn", "success": True,
                                "observed_value": str(rng.uniform(0, 0.2)), "unexpected_count": None,
                                "unexpected_percent": None, "element_count": rows, "details": None,
                                "recorded_at": dt.datetime.combine(day, dt.time(3), dt.UTC), "dt": day})
        for audience in entity.audiences:
            sizes.append({"audience": audience.name, "kind": audience.kind, "size": rng.randint(1000, 90_000),
                          "previous_dt": None, "previous_size": None, "added": rng.randint(0, 900),
                          "removed": rng.randint(0, 900), "change": None, "list_unknown": None, "dt": day})
    for name, kind, rows_ in (("tag_stats_user", "tag_stats", stats), ("audience_stats_user", "audience_stats", sizes),
                              ("quality_results", "quality_results", quality)):
        schema = arrow_schema(table_spec(kind, "user"))  # type: ignore[arg-type]
        write_deltalake(str(warehouse / name), pa.Table.from_pylist(rows_, schema=schema), partition_by=["dt"])
    return len(stats) + len(sizes) + len(quality)


def _cdp_times(chromium: str, urls: list[str], profile: Path) -> list[float] | None:
    """Seconds from navigation to the load event of each url in one headless browser (None: no websockets)."""
    try:
        from websockets.sync.client import connect
    except ImportError:
        return None
    proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        while True:
            line = proc.stderr.readline()
            if not line:
                return None
            if "DevTools listening on ws://" in line:
                port = urllib.parse.urlparse(line.split("listening on ", 1)[1].strip()).port
                break
        for _ in range(50):
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list").read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            time.sleep(0.1)
        out = []
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            ids = iter(range(1, 10_000))

            def call(method: str, **params: Any) -> int:
                i = next(ids)
                ws.send(json.dumps({"id": i, "method": method, "params": params}))
                return i

            call("Page.enable")
            for url in urls:
                started = time.perf_counter()
                call("Page.navigate", url=url)
                while json.loads(ws.recv()).get("method") != "Page.loadEventFired":
                    pass
                out.append(time.perf_counter() - started)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _launch_times(chromium: str, urls: list[str], profile: Path) -> list[float]:
    def run(url: str) -> float:
        started = time.perf_counter()
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                       capture_output=True, check=True, timeout=120)
        return time.perf_counter() - started

    blank = min(run("about:blank") for _ in range(2))
    return [max(0.0, run(url) - blank) for url in urls]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--audiences", type=int, default=100)
    parser.add_argument("--snapshots", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()

    from tagfactory.catalog.site import build_catalog
    from tagfactory.settings import load_settings

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        started = time.perf_counter()
        manifest = definitions(work, args.tags, args.audiences)
        rows = statistics(manifest, work / "warehouse", args.snapshots)
        print(f"setup (untimed): {args.tags} tags, {args.audiences} audiences compiled, {rows:,} statistics rows "
              f"in {time.perf_counter() - started:.1f}s")
        settings = load_settings(None, {"definitions": str(work / "definitions"), "target": str(work / "target"),
                                        "warehouse": str(work / "warehouse"), "sources_root": str(work / "none")})
        results = [build_catalog(settings, work / "catalog", manifest_file=manifest, snapshots=args.snapshots)
                   for _ in range(args.repeat)]
        best = min(results, key=lambda r: r.seconds)
        size = sum(p.stat().st_size for p in (work / "catalog").rglob("*") if p.is_file())
        largest = max(((work / "catalog").rglob("*.html")), key=lambda p: p.stat().st_size)
        print(f"build: best {best.seconds:.2f}s of {args.repeat} (target {BUILD_TARGET:.0f}s: "
              f"{'met' if best.seconds < BUILD_TARGET else 'NOT met'}); Delta reads {best.read_seconds:.2f}s; "
              f"{best.pages} files, {size / 1e6:.1f} MB; largest page {largest.relative_to(work / 'catalog')} "
              f"{largest.stat().st_size / 1e3:.0f} kB; search index "
              f"{(work / 'catalog' / 'search-index.js').stat().st_size / 1e3:.0f} kB")
        chromium = shutil.which("chromium")
        if chromium is None:
            print("pages: chromium not installed (tests/servers/ensure_chromium.sh); not timed")
            return 0
        site = work / "catalog"
        tag = sorted((site / "tag").glob("*.html"))
        biggest = max((site / "category").glob("*.html"), key=lambda p: p.stat().st_size)
        quality = max((site / "quality").glob("*.html"), key=lambda p: p.stat().st_size)
        pages = [site / "index.html", site / "category" / "consumption.html", biggest, tag[0], tag[len(tag) // 2],
                 site / "source" / "orders.html", next(iter(sorted((site / "audience").glob("*.html")))),
                 site / "quality" / "index.html", quality]
        urls = [p.as_uri() for p in pages]
        urls[0] += "?q=" + urllib.parse.quote("标签 t1")
        times = _cdp_times(chromium, urls, work / "profile")
        how = "DevTools: navigation to the load event"
        if times is None:
            times, how = _launch_times(chromium, urls, work / "profile2"), "chromium --dump-dom minus a blank page"
        print(f"pages in headless Chromium ({how}; target < {PAGE_TARGET:.0f}s each):")
        for page, seconds in zip(pages, times, strict=True):
            print(f"  {seconds:6.3f}s  {page.relative_to(site)} ({page.stat().st_size / 1e3:.0f} kB)"
                  f"{'' if seconds < PAGE_TARGET else '  NOT met'}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
