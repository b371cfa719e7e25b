"""``tagfactory lineage``: column lineage answered from the manifest, in the terminal (no Spark).

``upstream`` walks a column's inputs down to source columns (a tree with the OpenLineage
transformation of each hop), ``downstream`` finds every tag, audience, scene and export column
that reads it, directly or not (the effect-analysis tables included). The target is
``NAME[.COLUMN]``: a tag, audience, scene, export, effect table (``effect_stats_user.sum_y``) or
source (``users.email``), optionally prefixed with its kind (``tag:orders_30d``). Unknown names
and columns get a did-you-mean hint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.compiler.manifest import (
    ColumnLineage,
    LineageInput,
    Manifest,
    manifest_path,
    read_manifest,
)
from tagfactory.errors import CompileError, ManifestError

KINDS = ("tag", "audience", "scene", "export", "effect", "source")


class LineageQueryError(ManifestError):
    """A ``tagfactory lineage`` target the manifest does not know."""


@dataclass
class Graph:
    """The manifest's column lineage, indexed both ways."""

    entries: dict[tuple[str, str], ColumnLineage]
    readers: dict[tuple[str, str], list[tuple[ColumnLineage, LineageInput]]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)  # node -> its columns, in order
    pii: set[tuple[str, str]] = field(default_factory=set)  # pii source columns and tags

    @classmethod
    def of(cls, manifest: Manifest) -> Graph:
        graph = cls({(c.node, c.column): c for c in manifest.column_lineage})
        for entry in manifest.column_lineage:
            graph.columns.setdefault(entry.node, []).append(entry.column)
            for item in entry.direct:
                graph.readers.setdefault((item.node, item.column), []).append((entry, item))
                if item.node.startswith("source:"):
                    cols = graph.columns.setdefault(item.node, [])
                    if item.column not in cols:
                        cols.append(item.column)
        for entity in manifest.entities:
            for source in entity.sources:
                node = f"source:{source.name}"
                graph.columns.setdefault(node, [])
                for column in source.columns:
                    if column.name not in graph.columns[node]:
                        graph.columns[node].append(column.name)
                    if column.pii:
                        graph.pii.add((node, column.name))
            graph.pii.update((f"tag:{t.name}", t.name) for t in entity.tags if t.pii)
        return graph


def resolve_target(graph: Graph, text: str) -> list[tuple[str, str]]:
    """The ``(node, column)`` pairs ``text`` names (every column of the node when it names none)."""
    kind, colon, rest = text.partition(":")
    if not colon or kind not in KINDS:
        kind, rest = "", text
    name, dot, column = rest.partition(".")
    nodes = [f"{k}:{name}" for k in (KINDS if not kind else (kind,)) if f"{k}:{name}" in graph.columns]
    if not nodes:
        known = sorted({n.partition(":")[2] for n in graph.columns})
        hint = did_you_mean(name, known)
        raise LineageQueryError(f"unknown tag, audience, scene, export, effect table or source `{name}`"
                                + (f": {hint}" if hint else f"; the manifest has {len(known)} (e.g. "
                                   + ", ".join(known[:5]) + ")"))
    node = nodes[0]  # a tag before an audience of the same name, and so on (prefix to choose)
    columns = graph.columns[node]
    if not dot:
        own = name if node.startswith("tag:") else None
        return [(node, own)] if own in columns else [(node, c) for c in columns]
    if column not in columns:
        hint = did_you_mean(column, columns)
        raise LineageQueryError(f"{node} has no column `{column}`: " + (hint or "columns: " + ", ".join(columns)))
    return [(node, column)]


# --- trees -------------------------------------------------------------------------------------

def label(node: str, column: str) -> str:
    """``tag:orders_30d`` for a tag's own column, else ``node.column``."""
    return node if node == f"tag:{column}" else f"{node}.{column}"


def _hop(item: LineageInput) -> str:
    return f"{item.type} {item.subtype}" + (", masking" if item.masking else "")


def upstream(graph: Graph, node: str, column: str) -> dict[str, Any]:
    """The input tree of a column: each input with its transformation, down to source columns;
    a subtree already shown earlier in the walk is cut (``repeated``)."""
    shown: set[tuple[str, str]] = set()

    def walk(node: str, column: str) -> list[dict[str, Any]]:
        entry = graph.entries.get((node, column))
        out = []
        for item in sorted(entry.direct, key=_direct_first) if entry else []:
            key = (item.node, item.column)
            child: dict[str, Any] = {"node": item.node, "column": item.column, "type": item.type,
                                     "subtype": item.subtype, "masking": item.masking, "pii": key in graph.pii}
            if key in graph.entries:
                if key in shown:
                    child["repeated"] = True
                else:
                    shown.add(key)
                    child["inputs"] = walk(*key)
            out.append(child)
        return out

    entry = graph.entries.get((node, column))
    return {"node": node, "column": column, "pii": (node, column) in graph.pii, "inputs": walk(node, column),
            "sources": [s.model_dump() for s in sorted(entry.sources, key=_direct_first)] if entry else []}


def _direct_first(item: LineageInput) -> tuple[bool, str, str, str]:
    return item.type != "DIRECT", item.node, item.column, item.subtype


def downstream(graph: Graph, node: str, column: str) -> dict[str, Any]:
    """Every column that reads ``node.column``, directly or not (each reader once)."""
    shown: set[tuple[str, str]] = set()

    def walk(node: str, column: str) -> list[dict[str, Any]]:
        out = []
        for entry, item in sorted(graph.readers.get((node, column), []), key=lambda r: (r[0].node, r[0].column)):
            key = (entry.node, entry.column)
            child: dict[str, Any] = {"node": entry.node, "column": entry.column, "type": item.type,
                                     "subtype": item.subtype, "masking": item.masking}
            if key in shown:
                child["repeated"] = True
            else:
                shown.add(key)
                child["readers"] = walk(*key)
            out.append(child)
        return out

    readers = walk(node, column)
    return {"node": node, "column": column, "readers": readers,
            "reached": sorted(label(*k) for k in shown)}


def query(manifest: Manifest, target: str, *, up: bool = True, down: bool = True) -> list[dict[str, Any]]:
    """The lineage of every column ``target`` names (see the module docstring)."""
    graph = Graph.of(manifest)
    out = []
    for node, column in resolve_target(graph, target):
        item: dict[str, Any] = {"target": label(node, column)}
        if up:
            item["upstream"] = upstream(graph, node, column)
        if down:
            item["downstream"] = downstream(graph, node, column)
        out.append(item)
    return out


# --- rendering ---------------------------------------------------------------------------------

def render_text(results: list[dict[str, Any]]) -> str:
    """The trees as text (one block per column)."""
    lines: list[str] = []
    for result in results:
        if lines:
            lines.append("")
        if "upstream" in result:
            tree = result["upstream"]
            lines.append(f"{result['target']}{' (pii)' if tree['pii'] else ''}  upstream")
            _tree(lines, tree["inputs"], "inputs", "")
            if not tree["inputs"]:
                lines.append("  (reads no column: an uploaded list, or a constant)")
            if tree["sources"]:
                lines.append("  source columns:")
                lines += [f"    {label(s['node'], s['column'])}  {_hop(LineageInput(**s))}" for s in tree["sources"]]
        if "downstream" in result:
            tree = result["downstream"]
            lines.append(f"{result['target']}  downstream")
            _tree(lines, tree["readers"], "readers", "")
            if not tree["readers"]:
                lines.append("  (nothing in the manifest reads it)")
            else:
                lines.append(f"  read by {len(tree['reached'])}: " + ", ".join(tree["reached"]))
    return "\n".join(lines)


def _tree(lines: list[str], children: list[dict[str, Any]], key: str, indent: str) -> None:
    for i, child in enumerate(children):
        last = i == len(children) - 1
        mark = "(pii) " if child.get("pii") else ""
        more = "  (see above)" if child.get("repeated") else ""
        lines.append(f"{indent}{'└── ' if last else '├── '}{label(child['node'], child['column'])}  "
                     f"{mark}[{child['type']} {child['subtype']}{', masking' if child['masking'] else ''}]{more}")
        _tree(lines, child.get(key, []), key, indent + ("    " if last else "│   "))


def render_json(results: list[dict[str, Any]]) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False)


# --- the manifest, compiled when missing or stale ----------------------------------------------

def fresh_manifest(definitions: str | Path, target: str | Path) -> tuple[Manifest, bool]:
    """The manifest under ``target``, compiled from ``definitions`` first when it is missing, older
    than a definitions file, unreadable or of another format. Returns it and whether it was compiled."""
    path = manifest_path(target)
    if path.exists() and not _newer(Path(definitions), path.stat().st_mtime):
        try:
            return read_manifest(path), False
        except ManifestError:
            pass
    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.diagnostics import DefinitionError
    from tagfactory.compiler.manifest import write_manifest
    from tagfactory.compiler.project import load_project

    try:
        project, _ = load_project(definitions)
    except DefinitionError as exc:
        raise CompileError(f"the definitions do not compile:\n{exc}") from None
    manifest = build_manifest(project, definitions)
    write_manifest(manifest, target)
    return manifest, True


def _newer(root: Path, than: float) -> bool:
    if not root.exists():
        return False
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > than for p in files)
