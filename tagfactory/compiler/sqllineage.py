"""Column lineage of the SQL snippets of definitions, from their sqlglot trees (no Spark, no plans).

Two shapes are read:

* an **expression** (attribute, derived and rule tags, aggregate filters): every free column is
  an input; a column in the condition of a ``CASE WHEN`` / ``IF`` is INDIRECT/CONDITIONAL, any
  other is DIRECT (IDENTITY when the expression is the column itself, else TRANSFORMATION);
* a **query** (sql tags, sql audiences): the scopes of the query (CTEs, derived tables,
  subqueries, unions) are walked from the output column down to the tables it reads. A column of
  the projection that reaches the output is DIRECT (AGGREGATION under an aggregate function,
  IDENTITY when passed as is, else TRANSFORMATION); columns of ``WHERE`` / ``HAVING`` /
  ``QUALIFY`` are INDIRECT/FILTER, of ``GROUP BY`` GROUP_BY, of a join condition JOIN, of
  ``ORDER BY`` SORT, of a window's ``PARTITION BY`` / ``ORDER BY`` WINDOW, and a subquery's
  columns (``IN (SELECT ...)``, ``EXISTS``) FILTER. Row-level inputs of a scope apply to every
  column it outputs.

Combining two hops along a path (:func:`combine`): DIRECT only if both are; the subtype of the
outer INDIRECT hop, else of the inner one, else the stronger DIRECT subtype (AGGREGATION >
TRANSFORMATION > IDENTITY); masking if either masks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, build_scope

_DIRECT_RANK = {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}
_CLAUSES = {"where": "FILTER", "having": "FILTER", "qualify": "FILTER", "group": "GROUP_BY", "joins": "JOIN",
            "order": "SORT", "laterals": "TRANSFORMATION"}


@dataclass(frozen=True, order=True)
class Edge:
    """An input column and how it is used: an OpenLineage transformation (type, subtype, masking)."""

    node: str
    column: str
    type: str
    subtype: str
    masking: bool = False

    def through(self, inner: Edge) -> Edge:
        """The edge from this edge's output to ``inner``'s input (this edge is the outer hop)."""
        return combine(self, inner)


def combine(outer: Edge, inner: Edge) -> Edge:
    """The transformation along two hops; the input is ``inner``'s (see the module docstring)."""
    if outer.type == "INDIRECT":
        kind, subtype = "INDIRECT", outer.subtype
    elif inner.type == "INDIRECT":
        kind, subtype = "INDIRECT", inner.subtype
    else:
        kind = "DIRECT"
        subtype = max(outer.subtype, inner.subtype, key=lambda s: _DIRECT_RANK.get(s, 1))
    return Edge(inner.node, inner.column, kind, subtype, outer.masking or inner.masking)


def hop(kind: str, subtype: str, masking: bool = False) -> Edge:
    """A hop with no input of its own (the outer part of :func:`combine`)."""
    return Edge("", "", kind, subtype, masking)


# --- expressions -------------------------------------------------------------------------------

def expression_inputs(tree: exp.Expr, resolve: Callable[[str], Edge | None]) -> list[Edge]:
    """Inputs of one expression; ``resolve`` maps a column name to its input (None: not an input,
    e.g. ``snapshot_date``). The edge it returns is DIRECT/IDENTITY; its type is set here."""
    root = _unwrap(tree)
    out: list[Edge] = []
    for column, conditional in _columns(tree):
        base = resolve(column.name)
        if base is None:
            continue
        if conditional:
            out.append(hop("INDIRECT", "CONDITIONAL").through(base))
        else:
            out.append(hop("DIRECT", "IDENTITY" if column is root else "TRANSFORMATION").through(base))
    return unique(out)


def _unwrap(tree: exp.Expr) -> exp.Expr:
    while isinstance(tree, exp.Paren | exp.Alias):
        tree = tree.this
    return tree


def _columns(tree: exp.Expr) -> Iterator[tuple[exp.Column, bool]]:
    """The free columns of ``tree`` (as :func:`expressions.free_columns`: not lambda variables),
    each with whether it sits in the condition of a CASE / IF (or is a simple CASE's operand);
    one walk from the root, so deep trees stay linear."""
    stack: list[tuple[exp.Expr, bool, frozenset[str]]] = [(tree, False, frozenset())]
    while stack:
        node, conditional, bound = stack.pop()
        if isinstance(node, exp.Column):
            if node.args.get("db") or node.args.get("catalog") or (
                    node.table and node.table not in bound) or (not node.table and node.name not in bound):
                yield node, conditional
            continue
        if isinstance(node, exp.Lambda):
            bound = bound | {p.name for p in node.expressions}
        condition_of = isinstance(node, exp.If | exp.Case)
        for key, value in node.args.items():
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, exp.Expr):
                    stack.append((child, conditional or (condition_of and key == "this"), bound))


# --- queries -----------------------------------------------------------------------------------

TableResolver = Callable[[str, str], Edge | None]
"""``(table, column) -> `` the input of a table's column (DIRECT/IDENTITY), None when not a node."""


def query_inputs(tree: exp.Query, output: str | int, schema: dict[str, dict[str, str]],
                 resolve: TableResolver) -> list[Edge]:
    """Inputs of the output column ``output`` (a name or a position) of a query, rows included."""
    return query_columns(tree, [output], schema, resolve)[0]


def query_columns(tree: exp.Query, outputs: list[str | int], schema: dict[str, dict[str, str]],
                  resolve: TableResolver) -> list[list[Edge]]:
    """:func:`query_inputs` of several output columns, the query qualified and walked once."""
    try:
        root = build_scope(tree)
    except (SqlglotError, RecursionError, KeyError, ValueError):
        root = None
    if root is None:
        return [_fallback(tree, schema, resolve) for _ in outputs]
    found, rows = _Walker(resolve, schema).scope(root)
    names = list(found)
    result = []
    for output in outputs:
        key = output if isinstance(output, str) else (names[output] if output < len(names) else "")
        result.append(unique([*found.get(key, []), *rows]))
    return result


def _fallback(tree: exp.Query, schema: dict[str, dict[str, str]], resolve: TableResolver) -> list[Edge]:
    """Every column of a read table that the query names: INDIRECT/TRANSFORMATION (used somehow)."""
    out: list[Edge] = []
    tables = [t.name for t in tree.find_all(exp.Table) if t.name in schema]
    for column in tree.find_all(exp.Column):
        for table in tables:
            if column.name in schema[table] and (base := resolve(table, column.name)) is not None:
                out.append(hop("INDIRECT", "TRANSFORMATION").through(base))
    return unique(out)


class _Walker:
    """Outputs and row-level inputs of each scope, memoized."""

    def __init__(self, resolve: TableResolver, schema: dict[str, dict[str, str]]):
        self.resolve = resolve
        self.schema = {t: {c.lower() for c in cols} for t, cols in schema.items()}
        self.done: dict[int, tuple[dict[str, list[Edge]], list[Edge]]] = {}

    def scope(self, scope: Scope) -> tuple[dict[str, list[Edge]], list[Edge]]:
        found = self.done.get(id(scope))
        if found is None:
            found = self._union(scope) if scope.set_operation_scopes else self._select(scope)
            self.done[id(scope)] = found
        return found

    def _union(self, scope: Scope) -> tuple[dict[str, list[Edge]], list[Edge]]:
        parts = [self.scope(s) for s in scope.set_operation_scopes]
        names = list(parts[0][0])
        outputs: dict[str, list[Edge]] = {n: [] for n in names}
        rows: list[Edge] = []
        for part_outputs, part_rows in parts:
            for name, edges in zip(names, part_outputs.values(), strict=False):
                outputs[name].extend(edges)
            rows.extend(part_rows)
        return outputs, rows

    def _select(self, scope: Scope) -> tuple[dict[str, list[Edge]], list[Edge]]:
        select = scope.expression
        outputs: dict[str, list[Edge]] = {}
        rows: list[Edge] = []
        if not isinstance(select, exp.Select):
            return outputs, rows
        mine = {id(c) for c in scope.columns}
        for projection in select.expressions:
            name = projection.alias_or_name
            value = _unwrap(projection)
            edges: list[Edge] = []
            for column in projection.find_all(exp.Column):
                if id(column) not in mine:
                    continue
                outer = self._projection_hop(column, value, projection)
                edges.extend(outer.through(e) for e in self._column(scope, column))
            outputs[name] = edges
        for column in scope.columns:
            clause = _clause(column, select)
            if clause is None or clause == "expressions":
                continue
            outer = hop("INDIRECT", _CLAUSES.get(clause, "FILTER"))
            rows.extend(outer.through(e) for e in self._column(scope, column))
        for child in [*scope.subquery_scopes]:
            child_outputs, child_rows = self.scope(child)
            filter_hop = hop("INDIRECT", "FILTER")
            rows.extend(filter_hop.through(e) for edges in child_outputs.values() for e in edges)
            rows.extend(filter_hop.through(e) for e in child_rows)
        for source in scope.sources.values():
            if isinstance(source, Scope):
                rows.extend(self.scope(source)[1])
        return outputs, rows

    def _projection_hop(self, column: exp.Column, value: exp.Expr, projection: exp.Expr) -> Edge:
        node: exp.Expr = column
        aggregated = False
        while node is not projection and node.parent is not None:
            parent = node.parent
            if isinstance(parent, exp.If | exp.Case) and node.arg_key == "this":
                return hop("INDIRECT", "CONDITIONAL")
            if isinstance(parent, exp.Window) and node.arg_key in ("partition_by", "order"):
                return hop("INDIRECT", "WINDOW")
            if isinstance(parent, exp.AggFunc):
                aggregated = True
            node = parent
        if aggregated:
            return hop("DIRECT", "AGGREGATION")
        return hop("DIRECT", "IDENTITY" if column is value else "TRANSFORMATION")

    def _column(self, scope: Scope, column: exp.Column) -> list[Edge]:
        """The inputs a column of ``scope`` stands for (a table column, or a child scope's output); an
        unqualified column belongs to the source of the scope that has it."""
        source = scope.sources.get(column.table) if column.table else self._owner(scope, column.name)
        if isinstance(source, exp.Table):
            base = self.resolve(source.name, column.name)
            return [base] if base is not None else []
        if isinstance(source, Scope):
            return list(self.scope(source)[0].get(column.name, []))
        return []


    def _owner(self, scope: Scope, name: str) -> exp.Table | Scope | None:
        # the scope's own FROM / JOIN sources first (``sources`` also holds the CTEs in reach)
        selected = [s for _, s in scope.selected_sources.values()]
        for source in [*selected, *(s for s in scope.sources.values() if s not in selected)]:
            if isinstance(source, exp.Table) and name.lower() in self.schema.get(source.name, set()):
                return source
            if isinstance(source, Scope) and name in self.scope(source)[0]:
                return source
        return None


def _clause(column: exp.Expr, select: exp.Select) -> str | None:
    """The clause of ``select`` that holds ``column`` (``expressions``, ``where``, ``group`` ...)."""
    node = column
    while node.parent is not None and node.parent is not select:
        node = node.parent
    return node.arg_key if node.parent is select else None


def unique(edges: Iterable[Edge]) -> list[Edge]:
    """``edges`` without repeats, in first-seen order."""
    return list(dict.fromkeys(edges))
