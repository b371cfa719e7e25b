"""The lineage graph of the catalog: sources and their columns -> tags -> audiences -> scenes -> exports.

Built from what the manifest has (``tag.sources``, ``tag.depends_on``, audience ``tags``/``refs``,
scene branches, export ``what``/``columns``/``tags``). Column edges come from the manifest's
``column_lineage`` key when it has one (read as plain dicts: ``{node, column, direct: [...],
sources: [{node, column, type, subtype, masking}]}``); without it, a tag's source columns are the
declared columns of its sources that its compiled SQL names (backquoted identifiers), marked
"inferred".

Node ids: ``source:<s>``, ``column:<s>.<c>``, ``tag:<t>``, ``audience:<a>``, ``scene:<s>``,
``export:<x>``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tagfactory.compiler.manifest import Manifest

KINDS = ("source", "column", "tag", "audience", "scene", "export")
_IDENT = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    name: str
    label: str


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    up: dict[str, set[str]] = field(default_factory=dict)  # node -> its inputs
    down: dict[str, set[str]] = field(default_factory=dict)  # node -> what reads it
    edges: dict[tuple[str, str], str] = field(default_factory=dict)  # (input, output) -> label
    column_level: bool = False  # True: column edges came from the manifest's column lineage

    def add(self, kind: str, name: str, label: str | None = None) -> str:
        node_id = f"{kind}:{name}"
        if node_id not in self.nodes:
            self.nodes[node_id] = Node(node_id, kind, name, label or name)
        return node_id

    def link(self, src: str, dst: str, label: str = "") -> None:
        if src == dst:
            return
        self.up.setdefault(dst, set()).add(src)
        self.down.setdefault(src, set()).add(dst)
        if label or (src, dst) not in self.edges:
            self.edges[(src, dst)] = label

    def walk(self, start: str, direction: str, limit: int = 400) -> dict[str, int]:
        """Nodes reachable from ``start`` (``up`` or ``down``) with their distance, ``start`` excluded."""
        adjacency = self.up if direction == "up" else self.down
        seen: dict[str, int] = {start: 0}
        queue = deque([start])
        while queue and len(seen) <= limit:
            node = queue.popleft()
            for nxt in sorted(adjacency.get(node, ())):
                if nxt not in seen:
                    seen[nxt] = seen[node] + 1
                    queue.append(nxt)
        seen.pop(start)
        return seen

    def inputs(self, node: str, kind: str | None = None) -> list[str]:
        return sorted(n for n in self.up.get(node, ()) if kind is None or self.nodes[n].kind == kind)

    def outputs(self, node: str, kind: str | None = None) -> list[str]:
        return sorted(n for n in self.down.get(node, ()) if kind is None or self.nodes[n].kind == kind)


def _split(node: str) -> tuple[str, str]:
    kind, _, name = node.partition(":")
    return kind, name


def build_graph(manifest: Manifest, column_lineage: list[dict[str, Any]] | None = None) -> Graph:
    """The lineage graph of every object of ``manifest`` (see the module doc)."""
    g = Graph()
    declared: dict[str, set[str]] = {}
    for entity in manifest.entities:
        for source in entity.sources:
            sid = g.add("source", source.name)
            declared[source.name] = {c.name for c in source.columns}
            for column in source.columns:
                g.link(sid, g.add("column", f"{source.name}.{column.name}", f"{source.name}.{column.name}"))
    by_node = _column_edges(column_lineage or [])
    g.column_level = bool(by_node)
    for entity in manifest.entities:
        for tag in entity.tags:
            tid = g.add("tag", tag.name, tag.display_name or tag.name)
            for dep in tag.depends_on:
                g.link(g.add("tag", dep), tid, "tag")
            exact = by_node.get(tid)
            if exact is not None:
                _link_inputs(g, exact, tid)
                continue
            named = set(_IDENT.findall(tag.sql))
            for source_name in tag.sources:
                cols = sorted(declared.get(source_name, set()) & named)
                for col in cols:
                    g.link(f"column:{source_name}.{col}", tid, "inferred from the SQL")
                if not cols:
                    g.link(g.add("source", source_name), tid)
        for audience in entity.audiences:
            aid = g.add("audience", audience.name, audience.display_name or audience.name)
            for tag_name in audience.tags:
                g.link(g.add("tag", tag_name), aid, "rule")
            for ref in audience.refs:
                g.link(g.add("audience", ref), aid, "include/exclude")
            for source_name in audience.sources:
                g.link(g.add("source", source_name), aid, "sql")
            if aid in by_node:
                _link_inputs(g, by_node[aid], aid)
        for scene in entity.scenes:
            sid = g.add("scene", scene.name, scene.display_name or scene.name)
            for branch in scene.branches:
                g.link(g.add("audience", branch.audience), sid, f"branch {branch.name}")
    for export in manifest.exports:
        xid = g.add("export", export.name, export.display_name or export.name)
        for audience_name in export.what.audiences or []:
            g.link(g.add("audience", audience_name), xid, "members")
        for scene_name in export.what.scenes or []:
            g.link(g.add("scene", scene_name), xid, "assignments")
        for tag_name in export.tags:
            g.link(g.add("tag", tag_name), xid, "column")
        exact = by_node.get(xid)
        if exact is not None:
            _link_inputs(g, exact, xid)
        else:
            for out_col in export.columns:
                if out_col.origin == "source":
                    label = f"{out_col.name} ({out_col.treatment})" if out_col.treatment else out_col.name
                    g.link(g.add("column", out_col.ref), xid, label)
                elif out_col.origin == "tag":
                    g.link(g.add("tag", out_col.ref), xid, out_col.name)
    return g


def _column_edges(entries: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The manifest's column lineage grouped by the node it describes."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("node"), str):
            out.setdefault(entry["node"], []).append(entry)
    return out


def _link_inputs(g: Graph, entries: list[dict[str, Any]], node: str) -> None:
    """Column lineage entries of ``node``: its source columns and the tags it reads directly."""
    for entry in entries:
        for item in entry.get("sources") or []:
            kind, name = _split(str(item.get("node", "")))
            column = item.get("column")
            label = "/".join(str(item[k]) for k in ("type", "subtype") if item.get(k))
            if item.get("masking"):
                label += " masked"
            label = f"{entry.get('column')}: {label}" if entry.get("column") and kind != "tag" else label
            if kind == "source" and column:
                cid = g.add("column", f"{name}.{column}")
                g.link(g.add("source", name), cid)
                g.link(cid, node, label.strip())
            elif kind:
                g.link(g.add(kind, name), node, label.strip())
        for item in entry.get("direct") or []:
            kind, name = _split(str(item.get("node", "")))
            if kind and kind != "source":
                g.link(g.add(kind, name), node, "/".join(str(item[k]) for k in ("type", "subtype") if item.get(k)))


def column_uses(g: Graph, source: str) -> dict[str, list[str]]:
    """Per column of ``source``: the nodes that read it (tags, audiences, exports)."""
    out: dict[str, list[str]] = {}
    for node in g.outputs(f"source:{source}", "column"):
        out[g.nodes[node].name.split(".", 1)[1]] = g.outputs(node)
    return out
