"""Audiences and scenes: checks with YAML locations, and compilation to Spark SQL.

A rule tree compiles to one boolean Spark SQL condition over the profile snapshot's columns
(two-valued: a condition on a null value is false, see docs/audiences.md); references to other
rule audiences are inlined (by the reference each ``include`` / ``exclude`` node carries, see
:func:`resolve_tree`), references to list and SQL audiences read the per-key array column
``_ext`` (the external memberships the job joins in). :mod:`audience_pass` compiles every
audience's condition into ONE query over the profile snapshot.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.expressions import parse_select
from tagfactory.compiler.guards import INT64, check_ctes, list_path, no_substitution
from tagfactory.compiler.models import AudienceSpec, SceneSpec, SourceSpec
from tagfactory.compiler.parse import Located, ParsedDefinitions, kind_of, report
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.sqlbuild import bind_snapshot, day_offset, to_sql
from tagfactory.compiler.sqlpolicy import (
    EMIT_DEPTH,
    PolicyError,
    check_compiled,
    check_emitted,
    check_shape,
)
from tagfactory.compiler.typecheck import SqlColumnError, report_unknown_column, sql_value_family
from tagfactory.compiler.validate import unique_by_name

EXT_COLUMN = "_ext"
# meta key of a reference node (`include: X` / `exclude: X`): the name of the audience it references
AUDIENCE_REF = "audience_ref"
PROFILE_VIEW = "profile"
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


@dataclass
class CompiledAudience:
    """What the job needs to materialize one audience."""

    name: str
    kind: str
    entity: str
    condition: str | None = None  # rule audiences: Spark SQL boolean over profile columns + _ext
    sql: str | None = None  # sql audiences: the query (sources cut to the snapshot's point in time)
    list_file: str | None = None  # list audiences: the list file, absolute
    list_options: dict[str, Any] = field(default_factory=dict)
    list_ids: list[str] = field(default_factory=list, repr=False)  # list audiences: normalized identifiers
    refs: list[str] = field(default_factory=list)  # audiences referenced (include / exclude)
    tags: list[str] = field(default_factory=list)  # tags read
    sources: list[str] = field(default_factory=list)  # sources read (sql audiences)
    tree: exp.Expr | None = field(default=None, repr=False, compare=False)  # rule audiences: the condition


@dataclass
class AudienceSet:
    """Checked audiences and scenes of a definitions folder."""

    audiences: dict[str, Located[AudienceSpec]] = field(default_factory=dict)
    scenes: dict[str, Located[SceneSpec]] = field(default_factory=dict)
    compiled: dict[str, CompiledAudience] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # built audiences, references first

    def downstream_of_tags(self, tags: set[str]) -> list[str]:
        """Audiences reading any of ``tags``, directly or through referenced audiences."""
        hit: set[str] = set()
        for name in self.order:
            c = self.compiled[name]
            if set(c.tags) & tags or set(c.refs) & hit:
                hit.add(name)
        return [n for n in self.order if n in hit]

    def scenes_using(self, audiences: set[str]) -> list[str]:
        """Scenes with a branch on any of ``audiences``."""
        return [n for n, s in self.scenes.items() if any(b.audience in audiences for b in s.model.branches)]


def check_audiences(parsed: ParsedDefinitions, project: Project, sink: DiagnosticSink) -> AudienceSet:
    """Check every audience and scene against the project's tags and sources; compile audiences."""
    result = AudienceSet()
    result.audiences = unique_by_name(parsed.audiences, "audience", sink)
    result.scenes = unique_by_name(parsed.scenes, "scene", sink)
    for scene in result.scenes.values():
        no_substitution(scene, f"scene `{scene.model.name}`", sink)
    for name, audience in result.audiences.items():
        before = len(sink.errors)
        no_substitution(audience, f"audience `{name}`", sink)
        if len(sink.errors) > before:
            continue
        compiled = _Checker(audience, project, result, sink, parsed.root).run()
        if compiled is not None:
            result.compiled[name] = compiled
    _check_cycles(result, sink)
    _check_inlined_depth(result, sink)
    for scene in result.scenes.values():
        _check_scene(scene, project, result, sink)
    return result


def _check_inlined_depth(result: AudienceSet, sink: DiagnosticSink) -> None:
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


class _Checker:
    """Checks and compiles one audience."""

    def __init__(self, item: Located[AudienceSpec], project: Project, known: AudienceSet, sink: DiagnosticSink,
                 root: Path | None = None):
        self.root = root
        self.item = item
        self.spec = item.model
        self.project = project
        self.known = known
        self.sink = sink
        self.ok = True
        self.tags: list[str] = []
        self.refs: list[str] = []

    def error(self, path: tuple[str | int, ...], code: Code, message: str, hint: str = "", *, key: bool = False) -> None:
        self.ok = False
        report(self.item, path, code, f"audience `{self.spec.name}`: {message}", hint, self.sink, key=key)

    def run(self) -> CompiledAudience | None:
        spec = self.spec
        given = [k for k, v in (("rule", spec.rule), ("list", spec.list_), ("sql", spec.sql)) if v is not None]
        if len(given) != 1:
            self.error(("name",), Code.E707, f"needs exactly one of `rule`, `list` or `sql`, got "
                       f"{', '.join(f'`{g}`' for g in given) or 'none'}",
                       "a rule tree over tags, an uploaded list file, or a SELECT returning entity keys")
            return None
        if spec.entity not in self.project.entities:
            self.error(("entity",), Code.E205, f"unknown entity `{spec.entity}`",
                       did_you_mean(spec.entity, self.project.entities) or
                       f"declared entities: {', '.join(self.project.entities)}")
            return None
        self._check_guardrails()
        self._check_profile_tags()
        compiled = CompiledAudience(spec.name, spec.kind, spec.entity)
        if spec.rule is not None:
            condition = self.node(spec.rule, ("rule",), 0)
            compiled.tree = condition
            compiled.condition = to_sql(condition, pretty=False) if condition is not None else None
        elif spec.list_ is not None:
            self._check_list(compiled)
        else:
            self._check_sql(compiled)
        compiled.tags = list(dict.fromkeys(self.tags))
        compiled.refs = list(dict.fromkeys(self.refs))
        return compiled if self.ok else None

    # --- rule trees ------------------------------------------------------------------------

    def node(self, node: Any, path: tuple[str | int, ...], depth: int) -> exp.Expr | None:
        if depth > MAX_DEPTH:
            self.error(path, Code.E701, f"the rule tree is nested deeper than {MAX_DEPTH} levels",
                       "flatten it, or split it into audiences referenced with `include`")
            return None
        if not isinstance(node, dict) or not node:
            self.error(path, Code.E701, f"each rule node must be a mapping with one of {', '.join(NODE_KEYS)}; "
                       f"got {kind_of(node)}", "e.g. `{tag: orders_30d, op: '>=', value: 1}` or `all: [...]`")
            return None
        keys = [k for k in node if k in NODE_KEYS]
        if "tag" in node:
            return self.leaf(node, path)
        unknown = [k for k in node if k not in NODE_KEYS]
        for k in unknown:
            self.error(path + (k,), Code.E701, f"unknown rule key `{k}`",
                       did_you_mean(str(k), NODE_KEYS + LEAF_KEYS) or f"a node has one of: {', '.join(NODE_KEYS)}",
                       key=True)
        if len(keys) != 1:
            if not unknown:
                self.error(path, Code.E701, f"a rule node has exactly one of {', '.join(NODE_KEYS[:5])} or a "
                           f"`tag` condition; got {', '.join(f'`{k}`' for k in keys)}",
                           "wrap several conditions in `all: [...]` or `any: [...]`")
            return None
        kind = keys[0]
        value = node[kind]
        if kind in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.error(path + (kind,), Code.E701, f"`{kind}` needs a non-empty list of rule nodes, got {kind_of(value)}",
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
            self.error(where, Code.E701, f"`{kind}` takes an audience name, got {kind_of(name)}", "")
            return None
        target = self.known.audiences.get(name)
        if target is None:
            self.error(where, Code.E703, f"`{kind}` names unknown audience `{name}`",
                       did_you_mean(name, self.known.audiences) or "declare it under `audiences:`")
            return None
        if target.model.entity != self.spec.entity:
            self.error(where, Code.E703, f"`{kind}: {name}` is an audience of entity `{target.model.entity}`, "
                       f"not `{self.spec.entity}`", "audiences can only reference audiences of the same entity")
            return None
        if self.spec.built and not target.model.built:
            self.error(where, Code.E502, f"references `{name}`, which is a draft "
                       f"({target.file}:{target.loc('name').line}) and is not built",
                       f"activate `{name}` or make `{self.spec.name}` a draft too")
            return None
        if target.model.lifecycle == "deprecated" and self.spec.lifecycle == "active":
            report(self.item, where, Code.W501, f"active audience `{self.spec.name}` references deprecated audience "
                   f"`{name}`", f"move `{self.spec.name}` off `{name}` before it is removed", self.sink, warning=True)
        self.refs.append(name)
        # the reference node, marked with the audience it names: resolve_tree inlines rule audiences
        # there by that mark; list and SQL audiences stay the _ext lookup
        member = ext_lookup(name)
        member.meta[AUDIENCE_REF] = name
        return member if kind == "include" else exp.Not(this=exp.Paren(this=member))

    def leaf(self, node: dict[str, Any], path: tuple[str | int, ...]) -> exp.Expr | None:
        for k in node:
            if k not in LEAF_KEYS:
                self.error(path + (k,), Code.E701, f"unknown key `{k}` in a tag condition",
                           did_you_mean(str(k), LEAF_KEYS) or "a condition has `tag`, `op` and `value` (or `days`)",
                           key=True)
        name, op = node.get("tag"), node.get("op")
        if not isinstance(name, str):
            self.error(path + ("tag",), Code.E701, f"`tag` must be a tag name, got {kind_of(name)}", "")
            return None
        tag = self.project.tags.get(name)
        if tag is None or tag.model.entity != self.spec.entity:
            hint = did_you_mean(name, [t for t, v in self.project.tags.items() if v.model.entity == self.spec.entity])
            self.error(path + ("tag",), Code.E702, f"unknown tag `{name}`" +
                       (f" (it belongs to entity `{tag.model.entity}`)" if tag is not None else ""),
                       hint or "conditions read the tags of the audience's entity")
            return None
        if not tag.model.built:
            self.error(path + ("tag",), Code.E502, f"reads tag `{name}`, which is a draft "
                       f"({tag.file}:{tag.loc('name').line}) and is not built",
                       f"activate `{name}` (lifecycle: active)")
            return None
        if tag.model.lifecycle == "deprecated" and self.spec.lifecycle == "active":
            report(self.item, path + ("tag",), Code.W501, f"active audience `{self.spec.name}` reads deprecated tag "
                   f"`{name}` ({tag.file}:{tag.loc('name').line})", f"move it off `{name}` before `{name}` is removed",
                   self.sink, warning=True)
        self.tags.append(name)
        ttype = tag.model.type
        if "op" not in node:
            self.error(path, Code.E701, f"the condition on `{name}` has no `op`",
                       f"operators for {_a(ttype)} tag: {', '.join(OPERATORS[ttype] + NULL_OPS)}")
            return None
        allowed = OPERATORS[ttype] + NULL_OPS
        if op not in allowed:
            known = op in ALL_OPERATORS
            self.error(path + ("op",), Code.E704,
                       f"operator `{op}` is not valid for `{name}`, {_a(ttype)} tag" if known else f"unknown operator `{op}`",
                       (did_you_mean(str(op), allowed) if not known else "") or f"operators for {_a(ttype)} tag: {', '.join(allowed)}")
            return None
        column = exp.column(name, quoted=True)
        if op in NULL_OPS:
            if "value" in node or "days" in node:
                self.error(path + ("value" if "value" in node else "days",), Code.E705, f"`{op}` takes no value",
                           "remove the value", key=True)
                return None
            return exp.Is(this=column, expression=exp.null()) if op == "is_null" else \
                exp.Not(this=exp.Is(this=column, expression=exp.null()))
        if op == "within_last":
            days = node.get("days")
            if "value" in node:
                self.error(path + ("value",), Code.E705, "`within_last` takes `days: N`, not `value`",
                           "write `days: 7`", key=True)
                return None
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
                self.error(path + (("days",) if "days" in node else ()), Code.E705,
                           f"`within_last` needs `days: N` with 1 <= N <= 3650, got {days!r}", "e.g. `days: 7`")
                return None
            cond: exp.Expr = exp.Between(this=column, low=day_offset(-(days - 1)), high=day_offset(0))
            return exp.func("coalesce", cond, exp.false())
        if "days" in node:
            self.error(path + ("days",), Code.E705, f"`days` belongs to `within_last`, not `{op}`", "use `value`", key=True)
            return None
        if "value" not in node:
            self.error(path, Code.E705, f"the condition `{name} {op}` has no `value`", "add `value: ...`")
            return None
        value = node["value"]
        vpath = path + ("value",)
        if op in ("in", "not_in", "between") or (op == "contains" and ttype == "array<string>" and isinstance(value, list)):
            if not isinstance(value, list) or not value or (op == "between" and len(value) != 2):
                need = "a list `[low, high]`" if op == "between" else "a non-empty list"
                self.error(vpath, Code.E705, f"`{op}` needs {need}, got {kind_of(value)}", f"e.g. `value: {_example(op, ttype, tag.model.values)}`")
                return None
            lits = [self.literal(v, ttype, tag.model.values, vpath + (i,), name) for i, v in enumerate(value)]
            if any(v is None for v in lits):
                return None
            items = [v for v in lits if v is not None]
            if op == "between":
                if _comparable(value[0]) is not None and _comparable(value[1]) is not None and \
                        _comparable(value[0]) > _comparable(value[1]):  # type: ignore[operator]
                    self.error(vpath, Code.E705, f"`between` bounds are reversed: {value[0]!r} > {value[1]!r}",
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
        if ttype in ("integer", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                self.error(path, Code.E705, f"`{tag}` is {_a(ttype)} tag: the value must be a number, got {kind_of(value)} {value!r}",
                           "write the number without quotes")
                return None
            if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
                self.error(path, Code.E409, f"`{tag}`: the value {value} does not fit a 64-bit integer",
                           "compare with a number Spark can hold")
                return None
            return exp.Literal.number(value)
        if ttype == "boolean":
            if not isinstance(value, bool):
                self.error(path, Code.E705, f"`{tag}` is a boolean tag: the value must be true or false, got {value!r}",
                           "write `value: true` or `value: false` (no quotes)")
                return None
            return exp.Boolean(this=value)
        if ttype == "date":
            day = _date_value(value)
            if day is None:
                self.error(path, Code.E705, f"`{tag}` is a date tag: the value must be an ISO date (2026-01-31) or "
                           f"`{{days_ago: N}}`, got {value!r}", "e.g. `value: {days_ago: 30}`")
                return None
            if isinstance(day, int):
                return day_offset(-day)
            return exp.cast(exp.Literal.string(day.isoformat()), exp.DataType.build("DATE"))
        if not isinstance(value, str):
            self.error(path, Code.E705, f"`{tag}` is {_a(ttype)} tag: the value must be a string, got {kind_of(value)} {value!r}",
                       "quote the value")
            return None
        if ttype == "enum" and values is not None and value not in values:
            self.error(path, Code.E302, f"`{tag}` has no value `{value}`; its values are {', '.join(values)}",
                       did_you_mean(value, values) or "use one of the tag's declared values")
            return None
        return exp.Literal.string(value)

    # --- lists, sql, guardrails ------------------------------------------------------------------

    def _check_list(self, compiled: CompiledAudience) -> None:
        # imported here: the loader is pure Python, but keep the compiler's import graph small
        from tagfactory.compiler.lists import ListFileError, read_id_list

        spec = self.spec.list_
        assert spec is not None
        base = self.item.doc.path.parent if self.item.doc.path is not None else Path(self.item.file).parent
        resolved, why = list_path(base, self.root, spec.file)
        if resolved is None:
            self.error(("list", "file"), Code.E413, f"list file: {why}",
                       "keep uploaded lists inside the definitions folder (e.g. tag_definitions/lists/)")
            return
        path = resolved
        entity = self.project.entities[self.spec.entity].model
        try:
            result = read_id_list(path, column=spec.column, sheet=spec.sheet, header=spec.header,
                                  key_type=entity.key_type, key_name=entity.key, max_rows=spec.max_rows,
                                  root=self.root or base)
        except ListFileError as exc:
            message = str(exc).replace(str(path), spec.file)
            if spec.file not in message:
                message = f"list file {spec.file}: {message}"
            if exc.line and f":{exc.line}" not in message and f"row {exc.line}" not in message:
                message += f" (row {exc.line})"
            self.error(("list", "file"), Code.E708, message,
                       exc.hint or "check the file path (relative to this YAML file) and its format")
            return
        for issue in result.malformed[:5]:
            report(self.item, ("list", "file"), Code.W708, f"audience `{self.spec.name}`: {spec.file}:{issue.line}: "
                   f"{issue.reason}: `{issue.value}` (skipped)", "fix or remove the row", self.sink, warning=True)
        if result.malformed_count > 5:
            report(self.item, ("list", "file"), Code.W708, f"audience `{self.spec.name}`: {spec.file}: "
                   f"{result.malformed_count - 5} more malformed rows skipped", "", self.sink, warning=True)
        compiled.list_file = str(path)
        compiled.list_ids = result.ids
        compiled.list_options = {"column": spec.column, "sheet": spec.sheet, "header": spec.header,
                                 "max_rows": spec.max_rows, "ids": len(result.ids),
                                 "duplicates": result.duplicates, "malformed": result.malformed_count}

    def _check_sql(self, compiled: CompiledAudience) -> None:
        spec = self.spec
        assert spec.sql is not None
        where = f"audience `{spec.name}`: sql"
        before = len(self.sink.errors)
        tree = parse_select(spec.sql, where, self.item.loc("sql"), self.item.file, self.sink)
        if tree is None or len(self.sink.errors) > before:
            self.ok = False
            return
        entity = self.project.entities[spec.entity].model
        sources = {n: s.model for n, s in self.project.sources.items() if s.model.entity == spec.entity}
        if not check_ctes(tree, {PROFILE_VIEW, *self.project.sources}, where, self.item, ("sql",), self.sink):
            self.ok = False
            return
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        used: list[str] = []
        for table in tree.find_all(exp.Table):
            name = table.name
            if table.args.get("db") or table.args.get("catalog"):
                self.error(("sql",), Code.E403, f"reads `{table.sql(dialect='spark')}`: only `profile` and declared "
                           "sources may be read, without a database prefix", "refer to them by name")
            elif name in ctes:
                continue
            elif name != PROFILE_VIEW and name not in sources:
                self.error(("sql",), Code.E403, f"reads `{name}`, which is neither `profile` nor a declared source",
                           did_you_mean(name, [PROFILE_VIEW, *sources]) or f"readable: profile, {', '.join(sources)}")
            elif name not in used:
                used.append(name)
        if not self.ok:
            return
        selects = tree.named_selects
        if len(selects) != 1 or selects[0] != entity.key:
            self.error(("sql",), Code.E709, f"must return exactly one column, the entity key `{entity.key}`; "
                       f"got {', '.join(s or '<unnamed>' for s in selects)}", f"write `SELECT {entity.key} FROM ...`")
            return
        profile_cols: dict[str, str] = {entity.key: entity.key_type}
        profile_cols.update({n: t.model.type for n, t in self.project.tags.items()
                             if t.model.entity == spec.entity and t.model.built})
        schema = {PROFILE_VIEW: profile_cols}
        schema.update({n: {c: s.type for c, s in sources[n].column_specs().items()} for n in used if n in sources})
        try:
            sql_value_family(tree, schema)
        except SqlColumnError as exc:
            self.ok = False
            report_unknown_column(exc, self.item.file, self.item.loc("sql"), schema, where, "check the column names",
                                  self.sink)
            return
        self.tags.extend(c.name for c in tree.find_all(exp.Column) if c.name in profile_cols and c.name != entity.key)
        compiled.sources = [u for u in used if u != PROFILE_VIEW]
        cut = _point_in_time(bind_snapshot(tree), {n: sources[n] for n in compiled.sources}, ctes)
        try:
            check_compiled(cut, {PROFILE_VIEW, *compiled.sources}, where)
        except PolicyError as exc:
            self.error(("sql",), Code.E406, str(exc), "report this: validate accepted what the compiler refuses")
            return
        compiled.sql = to_sql(cut)

    def _check_guardrails(self) -> None:
        g = self.spec.guardrails
        if g.min_size is not None and g.max_size is not None and g.min_size > g.max_size:
            self.error(("guardrails",), Code.E711, f"guardrails: min_size {g.min_size:,} > max_size {g.max_size:,}",
                       "swap them")

    def _check_profile_tags(self) -> None:
        for i, name in enumerate(self.spec.profile_tags or []):
            tag = self.project.tags.get(name)
            if tag is None or tag.model.entity != self.spec.entity or not tag.model.built:
                self.error(("profile_tags", i), Code.E702, f"profile_tags: unknown or unbuilt tag `{name}`",
                           did_you_mean(name, self.project.tags) or "list tags of the audience's entity")
            elif tag.model.type == "array<string>":
                self.error(("profile_tags", i), Code.E712, f"profile_tags: `{name}` is an array tag, which is not profiled",
                           "profile enum, boolean, string, integer, double or date tags")


def _point_in_time(tree: exp.Expr, sources: dict[str, SourceSpec], ctes: set[str]) -> exp.Expr:
    """Cut every source the query reads to rows before D+1 00:00 (and partitions <= D)."""

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name in sources and node.name not in ctes:
            src = sources[node.name]
            cut = exp.select("*").from_(exp.to_table(src.name))
            if src.time_column:
                cut = cut.where(exp.LT(this=exp.column(src.time_column),
                                       expression=exp.cast(day_offset(1), exp.DataType.build("TIMESTAMP"))))
            if src.partition_column:
                cut = cut.where(exp.LTE(this=exp.column(src.partition_column), expression=day_offset(0)))
            return exp.Subquery(this=cut, alias=exp.TableAlias(this=exp.to_identifier(node.alias or node.name)))
        return node

    return tree.transform(swap)


def _check_cycles(result: AudienceSet, sink: DiagnosticSink) -> None:
    graph = {n: c.refs for n, c in result.compiled.items()}
    state: dict[str, int] = {}
    order: list[str] = []
    reported: set[frozenset[str]] = set()
    bad: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                bad.update(cycle)
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    first = result.audiences[min(cycle)]
                    start = cycle.index(min(cycle))
                    ring = cycle[start:] + cycle[:start]
                    loc = first.loc("rule")
                    sink.error(first.file, loc.line, loc.col, Code.E706,
                               "audience reference cycle: " + " -> ".join(f"`{n}`" for n in ring + [ring[0]]),
                               "an audience cannot include or exclude itself through other audiences")
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2
        order.append(node)

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])
    for name in bad:
        result.compiled.pop(name, None)
    result.order = [n for n in order if n in result.compiled and result.audiences[n].model.built]


def _check_scene(item: Located[SceneSpec], project: Project, known: AudienceSet, sink: DiagnosticSink) -> None:
    spec = item.model
    if spec.entity not in project.entities:
        report(item, ("entity",), Code.E205, f"scene `{spec.name}`: unknown entity `{spec.entity}`",
               did_you_mean(spec.entity, project.entities), sink)
        return
    seen: dict[str, int] = {}
    for i, branch in enumerate(spec.branches):
        if branch.name in seen:
            report(item, ("branches", i, "name"), Code.E721, f"scene `{spec.name}`: duplicate branch `{branch.name}` "
                   f"(also branch {seen[branch.name] + 1})", "branch names must be unique within a scene", sink)
        seen.setdefault(branch.name, i)
        audience = known.audiences.get(branch.audience)
        if audience is None:
            report(item, ("branches", i, "audience"), Code.E703, f"scene `{spec.name}`: branch `{branch.name}` uses "
                   f"unknown audience `{branch.audience}`", did_you_mean(branch.audience, known.audiences)
                   or "declare it under `audiences:`", sink)
        elif audience.model.entity != spec.entity:
            report(item, ("branches", i, "audience"), Code.E703, f"scene `{spec.name}`: audience `{branch.audience}` is "
                   f"of entity `{audience.model.entity}`, the scene of `{spec.entity}`", "", sink)
        elif spec.built and not audience.model.built:
            report(item, ("branches", i, "audience"), Code.E502, f"scene `{spec.name}`: audience `{branch.audience}` "
                   "is a draft and is not built", f"activate `{branch.audience}` or make the scene a draft", sink)
        names = [v.name for v in branch.variants or []]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            report(item, ("branches", i, "variants"), Code.E721, f"scene `{spec.name}`: branch `{branch.name}` has "
                   f"variant `{dup}` twice", "variant names must be unique within a branch", sink)


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


def ext_lookup(name: str) -> exp.Expr:
    """Membership of a list or SQL audience: ``COALESCE(ARRAY_CONTAINS(_ext, '<name>'), FALSE)``."""
    member = exp.func("array_contains", exp.column(EXT_COLUMN), exp.Literal.string(name))
    return exp.func("coalesce", member, exp.false())


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
