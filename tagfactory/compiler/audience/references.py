"""References between audiences: the cycle check, the build order, and inlining rule audiences.

A rule audience's ``include`` / ``exclude`` of another rule audience is inlined (by the mark each
reference node carries, see :mod:`.rules`); list and SQL audiences stay their ``_ext`` lookup.
"""

from __future__ import annotations

from sqlglot import exp

from tagfactory.compiler.audience.model import AUDIENCE_REF, AudienceSet, CompiledAudience
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.graph import find_cycles
from tagfactory.compiler.sqlbuild import to_sql
from tagfactory.compiler.sqlpolicy import EMIT_DEPTH, PolicyError, check_emitted, check_shape


def check_cycles(result: AudienceSet, sink: DiagnosticSink) -> None:
    """Report every reference cycle (E706), drop the audiences on one, and set ``result.order``:
    the built audiences, references first."""
    search = find_cycles({n: c.refs for n, c in result.compiled.items()})
    for ring in search.cycles:
        first = result.audiences[ring[0]]
        loc = first.loc("rule")
        sink.error(first.file, loc.line, loc.col, Code.E706,
                   "audience reference cycle: " + " -> ".join(f"`{n}`" for n in ring + [ring[0]]),
                   "an audience cannot include or exclude itself through other audiences")
    for name in search.in_cycle:
        result.compiled.pop(name, None)
    result.order = [n for n in search.order if n in result.compiled and result.audiences[n].model.built]


def check_inlined_depth(result: AudienceSet, sink: DiagnosticSink) -> None:
    """References to rule audiences are inlined: the inlined condition must stay within the limits."""
    failed: list[str] = []
    for name in result.order:
        if result.compiled[name].kind != "rule":
            continue
        try:
            resolve_condition(result.compiled, name)
        except PolicyError as exc:
            failed.append(name)
            item = result.audiences[name]
            loc = item.loc("rule")
            sink.error(item.file, loc.line, loc.col, Code.E408, f"audience `{name}`: with the audiences it "
                       f"includes or excludes inlined, its condition {exc}",
                       "flatten the rule trees, or reference fewer nested rule audiences")
    for name in failed:  # only now: an audience that references a failed one is checked with it inlined
        result.compiled.pop(name)
    result.order = [n for n in result.order if n in result.compiled]


def resolve_tree(compiled: dict[str, CompiledAudience], name: str,
                 cache: dict[str, exp.Expr] | None = None) -> exp.Expr:
    """The condition tree of a rule audience with references to other rule audiences inlined.

    References are the nodes the compiler marked with ``meta["audience_ref"]`` (an ``include`` /
    ``exclude``): one naming a rule audience is replaced by that audience's resolved condition,
    one naming a list or SQL audience stays its ``_ext`` lookup. ``cache`` (resolved trees by
    name) may be shared between calls over the same ``compiled``; the result is a fresh copy.

    Raises:
        PolicyError: the inlined condition is bigger or deeper than the SQL policy allows.
    """
    resolved = {} if cache is None else cache

    def expand(audience: str) -> exp.Expr:
        if audience in resolved:
            return resolved[audience].copy()
        tree = compiled[audience].tree
        assert tree is not None, f"rule audience {audience} has no condition tree"
        _bounded(tree)

        def swap(node: exp.Expr) -> exp.Expr:
            ref = node.meta.get(AUDIENCE_REF) if node._meta else None  # noqa: SLF001 - no meta dicts created
            if ref is not None and ref in compiled and compiled[ref].kind == "rule":
                return exp.Paren(this=expand(ref))
            return node

        out = tree.transform(swap)
        _bounded(out)
        resolved[audience] = out
        return out.copy()

    expanded = expand(name)
    violations = check_emitted(expanded, set(), set())
    if violations:
        raise PolicyError(violations[0].message)
    return expanded


def resolve_condition(compiled: dict[str, CompiledAudience], name: str) -> str:
    """The Spark SQL of :func:`resolve_tree` (one line, identifiers quoted)."""
    return to_sql(resolve_tree(compiled, name), pretty=False)


def _bounded(tree: exp.Expr) -> None:
    shape = check_shape(tree, EMIT_DEPTH)
    if shape is not None:
        raise PolicyError(shape.message)
