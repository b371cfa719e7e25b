"""The lineage of one object as a small inline SVG graph, laid out at build time.

Columns by distance from the object: upstream to the left (tags, source columns, sources),
downstream to the right (tags, audiences, scenes, exports). Each node links to its page; a
column holding more than :data:`MAX_PER_COLUMN` nodes shows the first ones and "+N more".
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from tagfactory.catalog.lineage import Graph

MAX_PER_COLUMN = 12
NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 150, 22, 46, 8, 8
KIND_ORDER = {"source": 0, "column": 1, "tag": 2, "audience": 3, "scene": 4, "export": 5}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _longest(start: str, nodes: set[str], adjacency: dict[str, set[str]]) -> dict[str, int]:
    """Longest distance from ``start`` to each of ``nodes`` (a DAG): inputs read by deep and shallow
    nodes alike go to the far column, so sources line up on the left."""
    depth = {start: 0}
    for _ in range(len(nodes) + 1):
        changed = False
        for node in list(depth):
            for nxt in adjacency.get(node, ()):
                if nxt in nodes and depth.get(nxt, -1) < depth[node] + 1 <= len(nodes):
                    depth[nxt] = depth[node] + 1
                    changed = True
        if not changed:
            break
    depth.pop(start)
    return depth


def lineage_svg(g: Graph, focus: str, url: Callable[[str], str | None], *, max_depth: int = 4) -> str:
    """The upstream and downstream graph of ``focus`` (``url(node)``: the link of a node, or None)."""
    up = {n: d for n, d in g.walk(focus, "up").items() if d <= max_depth}
    down = {n: d for n, d in g.walk(focus, "down").items() if d <= max_depth and n not in up}
    layers: dict[int, list[str]] = {0: [focus]}
    for nodes, sign, adjacency in ((up, -1, g.up), (down, 1, g.down)):
        for node, depth in _longest(focus, set(nodes), adjacency).items():
            layers.setdefault(sign * depth, []).append(node)
    if len(layers) == 1:
        return '<p class="empty">No lineage: nothing upstream or downstream of this object.</p>'
    shown: dict[str, tuple[float, float]] = {}
    extra: dict[int, int] = {}
    order = sorted(layers)
    tallest = 0
    for col, layer in enumerate(order):
        column = sorted(layers[layer], key=lambda n: (KIND_ORDER.get(g.nodes[n].kind, 9), n))
        if len(column) > MAX_PER_COLUMN:
            extra[layer] = len(column) - MAX_PER_COLUMN
            column = column[:MAX_PER_COLUMN]
        for row, node in enumerate(column):
            shown[node] = (PAD + col * (NODE_W + COL_GAP), PAD + row * (NODE_H + ROW_GAP))
        tallest = max(tallest, len(column) + (1 if layer in extra else 0))
    width = PAD * 2 + len(order) * NODE_W + (len(order) - 1) * COL_GAP
    height = PAD * 2 + tallest * (NODE_H + ROW_GAP)
    parts = [f'<svg class="lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="lineage"><title>lineage of {_e(g.nodes[focus].name)}</title>']
    pairs = sorted((src, dst) for dst in shown for src in g.up.get(dst, ()) if src in shown)
    for src, dst in pairs:
        label = g.edges.get((src, dst), "")
        (x1, y1), (x2, y2) = shown[src], shown[dst]
        if x1 == x2:
            continue
        if x1 > x2:
            (x1, y1), (x2, y2) = (x2, y2), (x1, y1)
        ax, ay, bx, by = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        mid = (ax + bx) / 2
        tip = f"<title>{_e(label)}</title>" if label else ""
        parts.append(f'<path class="edge" d="M{ax:.0f},{ay:.0f} C{mid:.0f},{ay:.0f} {mid:.0f},{by:.0f} '
                     f'{bx:.0f},{by:.0f}">{tip}</path>')
    for node, (x, y) in shown.items():
        n = g.nodes[node]
        text = n.name if n.kind in ("column", "source") else n.label
        short = text if len(text) <= 22 else text[:21] + "…"
        cls = f"node {n.kind}" + (" focus" if node == focus else "")
        box = (f'<g class="{cls}"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
               f'<text x="{x + 6}" y="{y + 15}">{_e(short)}</text><title>{_e(n.kind)} {_e(n.name)}'
               f'{(" — " + _e(n.label)) if n.label != n.name else ""}</title></g>')
        link = url(node) if node != focus else None
        parts.append(f'<a href="{_e(link)}">{box}</a>' if link else box)
    for layer, count in extra.items():
        col = order.index(layer)
        y = PAD + MAX_PER_COLUMN * (NODE_H + ROW_GAP)
        parts.append(f'<text class="more" x="{PAD + col * (NODE_W + COL_GAP) + 6}" y="{y + 15}">+{count} more</text>')
    parts.append("</svg>")
    legend = " ".join(f'<span class="key {k}">{k}</span>' for k in KIND_ORDER)
    return f'<div class="lineage-wrap">{"".join(parts)}</div><p class="legend">{legend}</p>'
