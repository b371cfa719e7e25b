"""Rule audiences: a rule tree compiled, node by node with YAML locations, to one sqlglot condition.

The condition is over the profile snapshot's columns and two-valued: a condition on a null value
is false (see docs/audiences.md). ``include`` / ``exclude`` nodes become the ``_ext`` membership
of the audience they name, marked with its name (:data:`.model.AUDIENCE_REF`) so that
:func:`.references.resolve_tree` can inline rule audiences there.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlglot import exp

from tagfactory.compiler.audience.context import AudienceContext
from tagfactory.compiler.audience.model import AUDIENCE_REF, ext_lookup
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import did_you_mean
from tagfactory.compiler.guards import INT64
from tagfactory.compiler.parse import kind_of, report
from tagfactory.compiler.sqlbuild import day_offset
from tagfactory.compiler.types import NUMERIC_TYPES

NODE_KEYS = ("all", "any", "not", "include", "exclude", "tag")
LEAF_KEYS = ("tag", "op", "value", "days")
NULL_OPS = ("is_null", "is_not_null")
COMPARE = ("=", "!=", ">", ">=", "<", "<=")
OPERATORS: dict[str, tuple[str, ...]] = {
    "integer": (*COMPARE, "between", "in", "not_in"),
    "double": (*COMPARE, "between", "in", "not_in"),
    "string": ("=", "!=", "in", "not_in", "contains", "starts_with"),
    "enum": ("=", "!=", "in", "not_in"),
    "boolean": ("=", "!="),
    "date": (*COMPARE, "before", "after", "between", "within_last"),
    "array<string>": ("contains",),
}
ALL_OPERATORS = tuple(dict.fromkeys(o for ops in OPERATORS.values() for o in ops)) + NULL_OPS
_SQL_OP = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<=", "before": "<", "after": ">"}
MAX_DEPTH = 64


def compile_rule(ctx: AudienceContext, rule: Any) -> exp.Expr | None:
    """The condition of the rule tree ``rule`` of ``ctx``'s audience; None when it is invalid
    (each problem reported through ``ctx``, the tags and audiences it reads recorded there)."""
    return RuleTree(ctx).node(rule, ("rule",), 0)


class RuleTree:
    """Compiles one audience's rule tree; problems go to the audience's context."""

    def __init__(self, ctx: AudienceContext):
        self.ctx = ctx

    def node(self, node: Any, path: tuple[str | int, ...], depth: int) -> exp.Expr | None:
        if depth > MAX_DEPTH:
            self.ctx.error(path, Code.E701, f"the rule tree is nested deeper than {MAX_DEPTH} levels",
                           "flatten it, or split it into audiences referenced with `include`")
            return None
        if not isinstance(node, dict) or not node:
            self.ctx.error(path, Code.E701, f"each rule node must be a mapping with one of {', '.join(NODE_KEYS)}; "
                           f"got {kind_of(node)}", "e.g. `{tag: orders_30d, op: '>=', value: 1}` or `all: [...]`")
            return None
        keys = [k for k in node if k in NODE_KEYS]
        if "tag" in node:
            return self.leaf(node, path)
        unknown = [k for k in node if k not in NODE_KEYS]
        for k in unknown:
            self.ctx.error(path + (k,), Code.E701, f"unknown rule key `{k}`",
                           did_you_mean(str(k), NODE_KEYS + LEAF_KEYS) or f"a node has one of: {', '.join(NODE_KEYS)}",
                           key=True)
        if len(keys) != 1:
            if not unknown:
                self.ctx.error(path, Code.E701, f"a rule node has exactly one of {', '.join(NODE_KEYS[:5])} or a "
                               f"`tag` condition; got {', '.join(f'`{k}`' for k in keys)}",
                               "wrap several conditions in `all: [...]` or `any: [...]`")
            return None
        kind = keys[0]
        value = node[kind]
        if kind in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.ctx.error(path + (kind,), Code.E701, f"`{kind}` needs a non-empty list of rule nodes, got {kind_of(value)}",
                               f"write `{kind}:` followed by `- ...` items")
                return None
            parts = [self.node(child, path + (kind, i), depth + 1) for i, child in enumerate(value)]
            if any(p is None for p in parts):
                return None
            wrapped = [exp.Paren(this=p) for p in parts if p is not None]
            return exp.and_(*wrapped) if kind == "all" else exp.or_(*wrapped)
        if kind == "not":
            inner = self.node(value, path + ("not",), depth + 1)
            return None if inner is None else exp.Not(this=exp.Paren(this=inner))
        return self.reference(kind, value, path)

    def reference(self, kind: str, name: Any, path: tuple[str | int, ...]) -> exp.Expr | None:
        where = path + (kind,)
        if not isinstance(name, str):
            self.ctx.error(where, Code.E701, f"`{kind}` takes an audience name, got {kind_of(name)}", "")
            return None
        target = self.ctx.known.audiences.get(name)
        if target is None:
            self.ctx.error(where, Code.E703, f"`{kind}` names unknown audience `{name}`",
                           did_you_mean(name, self.ctx.known.audiences) or "declare it under `audiences:`")
            return None
        if target.model.entity != self.ctx.spec.entity:
            self.ctx.error(where, Code.E703, f"`{kind}: {name}` is an audience of entity `{target.model.entity}`, "
                           f"not `{self.ctx.spec.entity}`", "audiences can only reference audiences of the same entity")
            return None
        if self.ctx.spec.built and not target.model.built:
            self.ctx.error(where, Code.E502, f"references `{name}`, which is a draft "
                           f"({target.file}:{target.loc('name').line}) and is not built",
                           f"activate `{name}` or make `{self.ctx.spec.name}` a draft too")
            return None
        if target.model.lifecycle == "deprecated" and self.ctx.spec.lifecycle == "active":
            report(self.ctx.item, where, Code.W501, f"active audience `{self.ctx.spec.name}` references deprecated audience "
                   f"`{name}`", f"move `{self.ctx.spec.name}` off `{name}` before it is removed", self.ctx.sink, warning=True)
        self.ctx.refs.append(name)
        # the reference node, marked with the audience it names: resolve_tree inlines rule audiences
        # there by that mark; list and SQL audiences stay the _ext lookup
        member = ext_lookup(name)
        member.meta[AUDIENCE_REF] = name
        return member if kind == "include" else exp.Not(this=exp.Paren(this=member))

    def leaf(self, node: dict[str, Any], path: tuple[str | int, ...]) -> exp.Expr | None:
        for k in node:
            if k not in LEAF_KEYS:
                self.ctx.error(path + (k,), Code.E701, f"unknown key `{k}` in a tag condition",
                               did_you_mean(str(k), LEAF_KEYS) or "a condition has `tag`, `op` and `value` (or `days`)",
                               key=True)
        name, op = node.get("tag"), node.get("op")
        if not isinstance(name, str):
            self.ctx.error(path + ("tag",), Code.E701, f"`tag` must be a tag name, got {kind_of(name)}", "")
            return None
        tag = self.ctx.project.tags.get(name)
        if tag is None or tag.model.entity != self.ctx.spec.entity:
            hint = did_you_mean(name, [t for t, v in self.ctx.project.tags.items() if v.model.entity == self.ctx.spec.entity])
            self.ctx.error(path + ("tag",), Code.E702, f"unknown tag `{name}`" +
                           (f" (it belongs to entity `{tag.model.entity}`)" if tag is not None else ""),
                           hint or "conditions read the tags of the audience's entity")
            return None
        if not tag.model.built:
            self.ctx.error(path + ("tag",), Code.E502, f"reads tag `{name}`, which is a draft "
                           f"({tag.file}:{tag.loc('name').line}) and is not built",
                           f"activate `{name}` (lifecycle: active)")
            return None
        if tag.model.lifecycle == "deprecated" and self.ctx.spec.lifecycle == "active":
            report(self.ctx.item, path + ("tag",), Code.W501, f"active audience `{self.ctx.spec.name}` reads deprecated tag "
                   f"`{name}` ({tag.file}:{tag.loc('name').line})", f"move it off `{name}` before `{name}` is removed",
                   self.ctx.sink, warning=True)
        self.ctx.tags.append(name)
        ttype = tag.model.type
        if "op" not in node:
            self.ctx.error(path, Code.E701, f"the condition on `{name}` has no `op`",
                           f"operators for {_a(ttype)} tag: {', '.join(OPERATORS[ttype] + NULL_OPS)}")
            return None
        allowed = OPERATORS[ttype] + NULL_OPS
        if op not in allowed:
            known = op in ALL_OPERATORS
            self.ctx.error(path + ("op",), Code.E704,
                           f"operator `{op}` is not valid for `{name}`, {_a(ttype)} tag" if known else f"unknown operator `{op}`",
                           (did_you_mean(str(op), allowed) if not known else "") or f"operators for {_a(ttype)} tag: {', '.join(allowed)}")
            return None
        column = exp.column(name, quoted=True)
        if op in NULL_OPS:
            if "value" in node or "days" in node:
                self.ctx.error(path + ("value" if "value" in node else "days",), Code.E705, f"`{op}` takes no value",
                               "remove the value", key=True)
                return None
            return exp.Is(this=column, expression=exp.null()) if op == "is_null" else \
                exp.Not(this=exp.Is(this=column, expression=exp.null()))
        if op == "within_last":
            days = node.get("days")
            if "value" in node:
                self.ctx.error(path + ("value",), Code.E705, "`within_last` takes `days: N`, not `value`",
                               "write `days: 7`", key=True)
                return None
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
                self.ctx.error(path + (("days",) if "days" in node else ()), Code.E705,
                               f"`within_last` needs `days: N` with 1 <= N <= 3650, got {days!r}", "e.g. `days: 7`")
                return None
            cond: exp.Expr = exp.Between(this=column, low=day_offset(-(days - 1)), high=day_offset(0))
            return exp.func("coalesce", cond, exp.false())
        if "days" in node:
            self.ctx.error(path + ("days",), Code.E705, f"`days` belongs to `within_last`, not `{op}`", "use `value`", key=True)
            return None
        if "value" not in node:
            self.ctx.error(path, Code.E705, f"the condition `{name} {op}` has no `value`", "add `value: ...`")
            return None
        value = node["value"]
        vpath = path + ("value",)
        if op in ("in", "not_in", "between") or (op == "contains" and ttype == "array<string>" and isinstance(value, list)):
            if not isinstance(value, list) or not value or (op == "between" and len(value) != 2):
                need = "a list `[low, high]`" if op == "between" else "a non-empty list"
                self.ctx.error(vpath, Code.E705, f"`{op}` needs {need}, got {kind_of(value)}", f"e.g. `value: {_example(op, ttype, tag.model.values)}`")
                return None
            lits = [self.literal(v, ttype, tag.model.values, vpath + (i,), name) for i, v in enumerate(value)]
            if any(v is None for v in lits):
                return None
            items = [v for v in lits if v is not None]
            if op == "between":
                if _comparable(value[0]) is not None and _comparable(value[1]) is not None and \
                        _comparable(value[0]) > _comparable(value[1]):  # type: ignore[operator]
                    self.ctx.error(vpath, Code.E705, f"`between` bounds are reversed: {value[0]!r} > {value[1]!r}",
                                   "write `[low, high]`")
                    return None
                cond = exp.Between(this=column, low=items[0], high=items[1])
            elif op == "contains":
                cond = exp.func("arrays_overlap", column, exp.Array(expressions=items))
            else:
                cond = exp.In(this=column, expressions=items)
                if op == "not_in":
                    cond = exp.Not(this=cond)
            return exp.func("coalesce", cond, exp.false())
        lit = self.literal(value, "string" if ttype == "array<string>" else ttype, tag.model.values, vpath, name)
        if lit is None:
            return None
        if op == "contains":
            fn = "array_contains" if ttype == "array<string>" else "contains"
            cond = exp.func(fn, column, lit)
        elif op == "starts_with":
            cond = exp.func("startswith", column, lit)
        else:
            cond = _binary(_SQL_OP[op], column, lit)
        return exp.func("coalesce", cond, exp.false())

    def literal(self, value: Any, ttype: str, values: list[str] | None, path: tuple[str | int, ...],
                tag: str) -> exp.Expr | None:
        if ttype in NUMERIC_TYPES:
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                self.ctx.error(path, Code.E705, f"`{tag}` is {_a(ttype)} tag: the value must be a number, got {kind_of(value)} {value!r}",
                               "write the number without quotes")
                return None
            if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
                self.ctx.error(path, Code.E409, f"`{tag}`: the value {value} does not fit a 64-bit integer",
                               "compare with a number Spark can hold")
                return None
            return exp.Literal.number(value)
        if ttype == "boolean":
            if not isinstance(value, bool):
                self.ctx.error(path, Code.E705, f"`{tag}` is a boolean tag: the value must be true or false, got {value!r}",
                               "write `value: true` or `value: false` (no quotes)")
                return None
            return exp.Boolean(this=value)
        if ttype == "date":
            day = _date_value(value)
            if day is None:
                self.ctx.error(path, Code.E705, f"`{tag}` is a date tag: the value must be an ISO date (2026-01-31) or "
                               f"`{{days_ago: N}}`, got {value!r}", "e.g. `value: {days_ago: 30}`")
                return None
            if isinstance(day, int):
                return day_offset(-day)
            return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"))
        if not isinstance(value, str):
            self.ctx.error(path, Code.E705, f"`{tag}` is {_a(ttype)} tag: the value must be a string, got {kind_of(value)} {value!r}",
                           "quote the value")
            return None
        if ttype == "enum" and values is not None and value not in values:
            self.ctx.error(path, Code.E302, f"`{tag}` has no value `{value}`; its values are {', '.join(values)}",
                           did_you_mean(value, values) or "use one of the tag's declared values")
            return None
        return exp.Literal.string(value)


def _binary(op: str, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    cls = {"=": exp.EQ, "<>": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}[op]
    return cls(this=left, expression=right)


def _date_value(value: Any) -> dt.date | int | None:
    """An absolute date, or days ago (int) for ``{days_ago: N}``; None when malformed."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dict) and list(value) == ["days_ago"]:
        days = value["days_ago"]
        if isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= 36500:
            return days
    return None


def _comparable(value: Any) -> Any:
    """A sort key for a between bound, or None when it cannot be compared statically."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    day = _date_value(value)
    if isinstance(day, dt.date):
        return day.toordinal()
    return None


def _example(op: str, ttype: str, values: list[str] | None) -> str:
    if ttype in ("enum",) and values:
        return f"[{', '.join(values[:2])}]"
    if ttype == "date":
        return "[2026-01-01, {days_ago: 7}]"
    return "[1, 10]" if op == "between" else "[1, 2, 3]"


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
