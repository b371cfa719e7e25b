"""The catalog's model: the manifest, its lineage graph and the warehouse rows, indexed for the pages.

:func:`load_catalog` reads ``target/manifest.json`` (the typed manifest; a ``column_lineage`` key
is read as plain dicts, so this works before and after the manifest carries it), the Delta tables
(:mod:`tagfactory.catalog.warehouse`) and the YAML definitions (for the file:line snippets).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagfactory.catalog.lineage import Graph, build_graph
from tagfactory.catalog.warehouse import Row, Warehouse, parse_json
from tagfactory.compiler.manifest import (
    MANIFEST_FORMAT,
    Audience,
    Entity,
    Export,
    Manifest,
    Scene,
    Source,
    Tag,
)
from tagfactory.errors import ManifestError
from tagfactory.quality.psi_math import PSI_TYPE, population_stability_index

CATEGORY_LABELS = {"basic": "Basic attributes", "behavior": "Behaviour", "behaviour": "Behaviour",
                   "consumption": "Consumption", "marketing": "Marketing", "service": "Service", "risk": "Risk"}
CATEGORY_ORDER = ["basic", "behavior", "behaviour", "consumption", "marketing", "service", "risk"]
CATEGORY_PAGE_ROWS = 200
"""Tags per category page: a bigger category is split into pages linked by previous / next (a
page of 1,000 table rows took 2 s to open in headless Chromium)."""
QUALITY_INDEX_ROWS = 50
"""Audits per page of ``quality/index.html`` (newest first; ``page-2.html`` ... hold the older ones)."""
QUALITY_RUN_ROWS = 200
"""Expectations per page of one audit (failures first; ``<run>--p2.html`` ... hold the rest), like
:data:`CATEGORY_PAGE_ROWS`: a profile audit of 2,000 tags has a row per drift-checked tag."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def slug(name: str) -> str:
    """A file name for an object name (names are identifiers; run ids may hold ``:`` or ``+``)."""
    return _UNSAFE.sub("_", name) or "_"


def category_file(top: str, number: int) -> str:
    """File name of page ``number`` (1-based) of a top-level category: ``<top>.html``, ``<top>--p2.html`` ..."""
    return f"{slug(top)}.html" if number == 1 else f"{slug(top)}--p{number}.html"


def quality_index_file(number: int) -> str:
    """File name (in ``quality/``) of page ``number`` of the audit list: ``index.html``, ``page-2.html`` ..."""
    return "index.html" if number == 1 else f"page-{number}.html"


def quality_run_file(key: str, number: int) -> str:
    """File name (in ``quality/``) of page ``number`` of one audit: ``<key>.html``, ``<key>--p2.html`` ..."""
    return f"{key}.html" if number == 1 else f"{key}--p{number}.html"


def category_label(top: str) -> str:
    return CATEGORY_LABELS.get(top, top.replace("_", " ").capitalize())


def read_manifest_lenient(path: Path) -> tuple[Manifest, list[dict[str, Any]]]:
    """The manifest at ``path`` and its column lineage (``[]`` without one).

    Keys the typed manifest does not know (``column_lineage`` before it is a field) are set aside
    instead of refused; the digest is not checked (the catalog runs nothing).
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc}; run `tagfactory compile`") from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path} is not a manifest of format {MANIFEST_FORMAT}: run `tagfactory compile` again")
    lineage = raw.get("column_lineage") or []
    known = {k: v for k, v in raw.items() if k in Manifest.model_fields}
    try:
        manifest = Manifest.model_validate(known)
    except ValueError as exc:
        raise ManifestError(f"{path}: not a valid manifest ({str(exc).splitlines()[0]}): "
                            "run `tagfactory compile` again") from None
    return manifest, [e for e in lineage if isinstance(e, dict)]


class Definitions:
    """YAML snippets of the definitions by ``file:line`` (each file read once)."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self._files: dict[str, list[str] | None] = {}

    def _lines(self, file: str) -> list[str] | None:
        if file not in self._files:
            self._files[file] = None
            for root in self.roots:
                candidate = Path(file) if Path(file).is_absolute() else root / file
                if candidate.is_file():
                    self._files[file] = candidate.read_text(encoding="utf-8").splitlines()
                    break
        return self._files[file]

    def snippet(self, where: str, max_lines: int = 80) -> tuple[str, int, str | None]:
        """(file, line, the YAML item starting at that line or None when the file is not here)."""
        file, _, line_text = where.rpartition(":")
        if not file or not line_text.isdigit():
            return where, 0, None
        line = int(line_text)
        lines = self._lines(file)
        if not lines or line < 1 or line > len(lines):
            return file, line, None
        first = lines[line - 1]
        indent = len(first) - len(first.lstrip(" "))
        out = [first]
        for text in lines[line:line - 1 + max_lines]:
            stripped = text.strip()
            if stripped and len(text) - len(text.lstrip(" ")) <= indent:
                break
            out.append(text)
        while out and not out[-1].strip():
            out.pop()
        return file, line, "\n".join(t[indent:] if t[:indent].strip() == "" else t for t in out)


@dataclass
class Catalog:
    """Everything the pages show."""

    manifest: Manifest
    graph: Graph
    warehouse: Warehouse
    definitions: Definitions
    column_lineage: list[dict[str, Any]] = field(default_factory=list)
    built_at: str = ""
    tags: dict[str, tuple[Entity, Tag]] = field(default_factory=dict)
    sources: dict[str, tuple[Entity, Source]] = field(default_factory=dict)
    audiences: dict[str, tuple[Entity, Audience]] = field(default_factory=dict)
    scenes: dict[str, tuple[Entity, Scene]] = field(default_factory=dict)
    exports: dict[str, Export] = field(default_factory=dict)
    _tree: dict[str, dict[str, list[Tag]]] | None = field(default=None, init=False, repr=False)
    _pages: dict[str, list[list[tuple[str, list[Tag], bool]]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for entity in self.manifest.entities:
            self.tags.update({t.name: (entity, t) for t in entity.tags})
            self.sources.update({s.name: (entity, s) for s in entity.sources})
            self.audiences.update({a.name: (entity, a) for a in entity.audiences})
            self.scenes.update({s.name: (entity, s) for s in entity.scenes})
        self.exports = {x.name: x for x in self.manifest.exports}

    # links (every page but the index lives one folder down: links start with ../)
    def url(self, node: str, prefix: str = "../") -> str | None:
        kind, _, name = node.partition(":")
        if kind == "column":
            source, _, column = name.partition(".")
            return f"{prefix}source/{slug(source)}.html#col-{slug(column)}" if source in self.sources else None
        objects: dict[str, dict[str, Any]] = {"tag": self.tags, "source": self.sources, "audience": self.audiences,
                                              "scene": self.scenes, "export": self.exports}
        known = objects.get(kind)
        if known is None or name not in known:
            return None
        return f"{prefix}{kind}/{slug(name)}.html"

    def category_pages(self, top: str) -> list[list[tuple[str, list[Tag], bool]]]:
        """The pages of a top-level category: each ``[(sub, tags, continued), ...]`` with at most
        :data:`CATEGORY_PAGE_ROWS` tags; ``continued``: the sub-category began on an earlier page."""
        if top not in self._pages:
            pages: list[list[tuple[str, list[Tag], bool]]] = [[]]
            room = CATEGORY_PAGE_ROWS
            for sub, tags in self.category_tree().get(top, {}).items():
                start = 0
                while start < len(tags):
                    if room == 0:
                        pages.append([])
                        room = CATEGORY_PAGE_ROWS
                    chunk = tags[start:start + room]
                    pages[-1].append((sub, chunk, start > 0))
                    start += len(chunk)
                    room -= len(chunk)
            self._pages[top] = pages
        return self._pages[top]

    def category_url(self, top: str, sub: str | None = None, prefix: str = "../") -> str:
        """The category page (its first page, or the page where ``sub`` begins, with its anchor)."""
        if sub is None:
            return f"{prefix}category/{category_file(top, 1)}"
        for number, chunks in enumerate(self.category_pages(top), start=1):
            if any(s == sub and not continued for s, _, continued in chunks):
                return f"{prefix}category/{category_file(top, number)}#{slug(sub or top)}"
        return f"{prefix}category/{category_file(top, 1)}"

    def category_tree(self) -> dict[str, dict[str, list[Tag]]]:
        """Top-level category -> sub-category path ('' for tags right under it) -> tags, in a stable order."""
        if self._tree is None:
            self._tree = self._category_tree()
        return self._tree

    def _category_tree(self) -> dict[str, dict[str, list[Tag]]]:
        tree: dict[str, dict[str, list[Tag]]] = {}
        for _, tag in self.tags.values():
            top, _, rest = tag.category.partition("/")
            tree.setdefault(top, {}).setdefault(rest, []).append(tag)
        rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
        return {top: {sub: sorted(tags, key=lambda t: t.name) for sub, tags in sorted(subs.items())}
                for top, subs in sorted(tree.items(), key=lambda kv: (rank.get(kv[0], 99), kv[0]))}

    def uses(self, node: str, kind: str) -> list[str]:
        """Names of the ``kind`` objects downstream of ``node`` (any distance)."""
        return sorted(self.graph.nodes[n].name for n in self.graph.walk(node, "down")
                      if self.graph.nodes[n].kind == kind)

    # statistics
    def psi_series(self, entity: Entity, tag: Tag) -> tuple[list[tuple[str, float | None]], str]:
        """PSI per snapshot: the quality gate's when it checked drift, else computed from the top
        values against the previous snapshot (categorical tags); ([], '') without either."""
        gate = sorted(((str(r["dt"]), r) for r in self.warehouse.quality_by(entity.profile_table, tag.name)
                       if r.get("expectation_type") == PSI_TYPE), key=lambda p: p[0])
        if gate:
            by_date: dict[str, float | None] = {}
            for date, row in gate:
                value = parse_json(row.get("observed_value"))
                by_date[date] = float(value) if isinstance(value, (int, float)) else None
            return sorted(by_date.items()), "quality gate"
        rows = self.warehouse.tag_stats.get(tag.name, [])
        points: list[tuple[str, float | None]] = []
        for previous, current in zip(rows, rows[1:], strict=False):
            a, b = _shares(previous), _shares(current)
            points.append((str(current["dt"]), population_stability_index(a, b) if a and b else None))
        if any(v is not None for _, v in points):
            return points, "top values vs the previous snapshot"
        return [], ""


def _shares(row: Row) -> dict[str, float]:
    top = parse_json(row.get("top_values"))
    non_null = int(row.get("non_null") or 0)
    if not isinstance(top, list) or non_null <= 0:
        return {}
    out = {str(v): float(c) / non_null for v, c in top if c is not None}
    rest = 1.0 - sum(out.values())
    if rest > 1e-9:
        out["__other__"] = rest
    return out


def load_catalog(manifest_file: Path, read: Callable[[Manifest], Warehouse] | None = None) -> Catalog:
    """The catalog of the manifest at ``manifest_file`` with the warehouse rows ``read`` gives (none
    without ``read``)."""
    manifest, column_lineage = read_manifest_lenient(manifest_file)
    definitions = Path(manifest.definitions)
    roots = [definitions.parent, Path.cwd(), manifest_file.resolve().parent.parent]
    return Catalog(manifest=manifest, graph=build_graph(manifest, column_lineage),
                   warehouse=read(manifest) if read else Warehouse(), definitions=Definitions(roots),
                   column_lineage=column_lineage,
                   built_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
