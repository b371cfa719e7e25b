"""The one graph-cycle search of the compiler: tag dependencies and audience references."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class CycleSearch:
    """What a depth-first search over a reference graph found."""

    # elementary cycles, each reported once, rotated to start at its smallest name
    cycles: list[list[str]] = field(default_factory=list)
    # every node of the graph, references first (depth-first post-order from the sorted nodes)
    order: list[str] = field(default_factory=list)

    @property
    def in_cycle(self) -> set[str]:
        """The nodes on some cycle."""
        return {n for c in self.cycles for n in c}


def find_cycles(graph: Mapping[str, Sequence[str]]) -> CycleSearch:
    """Cycles of ``graph`` (node -> the nodes it references; references to nodes that are not keys
    of ``graph`` are ignored), found by depth-first search from the nodes in sorted order."""
    state: dict[str, int] = {}
    stack: list[str] = []
    seen: set[frozenset[str]] = set()
    result = CycleSearch()

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    start = cycle.index(min(cycle))
                    result.cycles.append(cycle[start:] + cycle[:start])
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2
        result.order.append(node)

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)
    return result
