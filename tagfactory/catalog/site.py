"""Writing the catalog: one HTML page per object, the search index and the local assets.

Layout of ``out`` (default ``<target>/catalog``)::

    index.html              category tree, search box, sources, audiences, scenes, exports
    search-index.js         the search entries (loaded by index.html only)
    assets/catalog.css|js   the stylesheet and the search script
    category/<top>.html     the tags of a top-level category (<top>--p2.html ...: 200 tags a page)
    tag|source|audience|scene|export/<name>.html
    quality/index.html      the audits, newest first (page-2.html ...: 50 audits a page);
                            quality/<date>__<dataset>__<run>.html their expectations (--p2.html ...: 200 a page)

Pages hold their own data (charts and lineage are drawn into them), so they open from ``file://``
(where a page may not ``fetch()`` local files) and behind any static web server alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tagfactory.catalog import pages_tags, pages_use
from tagfactory.catalog.assets import CSS, JS
from tagfactory.catalog.model import Catalog, load_catalog, slug
from tagfactory.catalog.search import index_script
from tagfactory.catalog.warehouse import read_warehouse
from tagfactory.compiler.manifest import manifest_path
from tagfactory.settings import Settings

MARKER = ".tagfactory-catalog"
OWNED = ("assets", "category", "tag", "source", "audience", "scene", "export", "quality")


@dataclass
class BuildResult:
    out: Path
    pages: int
    seconds: float
    read_seconds: float
    tables: list[str]
    compiled: bool

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def ensure_manifest(settings: Settings) -> tuple[Path, bool]:
    """The manifest under the settings' target, compiled first when there is none (True: compiled)."""
    path = manifest_path(settings.target)
    if path.exists():
        return path, False
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project

    project, _ = load_project(settings.definitions)
    return write_manifest(build_manifest(project, settings.definitions), settings.target), True


def _remove_stale(out: Path, written: set[Path]) -> None:
    """Remove the pages an earlier build wrote that this one did not (only in a folder this module
    made: it has the marker). Pages are written over in place: deleting them all first cost more
    than the rendering on a slow disk."""
    if not (out / MARKER).exists():
        return
    for name in OWNED:
        for path in (out / name).glob("*"):
            if path.is_file() and path not in written:
                path.unlink()


def write_site(cat: Catalog, out: Path) -> int:
    """Write every page of ``cat`` under ``out``; the number of files written."""
    written: set[Path] = set()
    folders: set[Path] = set()

    def put(rel: str, text: str) -> None:
        path = out / rel
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        path.write_text(text, encoding="utf-8")
        written.add(path)

    out.mkdir(parents=True, exist_ok=True)
    put("assets/catalog.css", CSS)
    put("assets/catalog.js", JS)
    put("search-index.js", index_script(cat))
    put("index.html", pages_tags.index_page(cat))
    for top in cat.category_tree():
        for name, html in pages_tags.category_pages(cat, top):
            put(f"category/{name}", html)
    for entity, tag in cat.tags.values():
        put(f"tag/{slug(tag.name)}.html", pages_tags.tag_page(cat, entity, tag))
    for name, (entity, _) in cat.sources.items():
        put(f"source/{slug(name)}.html", pages_tags.source_page(cat, entity, name))
    for entity, audience in cat.audiences.values():
        put(f"audience/{slug(audience.name)}.html", pages_use.audience_page(cat, entity, audience))
    for entity, scene in cat.scenes.values():
        put(f"scene/{slug(scene.name)}.html", pages_use.scene_page(cat, entity, scene))
    for export in cat.exports.values():
        put(f"export/{slug(export.name)}.html", pages_use.export_page(cat, export))
    runs = pages_use.quality_runs(cat)
    for name, html in pages_use.quality_index_pages(cat, runs):
        put(f"quality/{name}", html)
    for key, rows in runs.items():
        for name, html in pages_use.quality_run_pages(cat, key, rows):
            put(f"quality/{name}", html)
    _remove_stale(out, written)
    (out / MARKER).write_text(f"manifest {cat.manifest.digest}\nbuilt {cat.built_at}\n", encoding="utf-8")
    return len(written)


def build_catalog(settings: Settings, out: str | Path | None = None, *, manifest_file: str | Path | None = None,
                  snapshots: int = 30) -> BuildResult:
    """Build the catalog of the compiled manifest (compiled first when missing) and the warehouse tables."""
    started = time.perf_counter()
    compiled = False
    if manifest_file is None:
        path, compiled = ensure_manifest(settings)
    else:
        path = Path(manifest_file)
    target = Path(out) if out is not None else Path(settings.target) / "catalog"
    read_started = time.perf_counter()
    cat = load_catalog(path, lambda manifest: read_warehouse(settings, manifest, snapshots))
    read_seconds = time.perf_counter() - read_started
    pages = write_site(cat, target)
    return BuildResult(target, pages, time.perf_counter() - started, read_seconds, cat.warehouse.tables_read,
                       compiled)
