"""What a change to the definitions does: the model behind ``tagfactory plan``.

Two resolved projects (the base ref and the working tree) are compared tag by tag and source by
source. A tag counts as *computed differently* only when its compiled SQL differs, so a change of
``description`` (or any other metadata) never marks a query as changed. Renames are found by
comparing everything but the metadata fields.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tagfactory.compiler.assemble import profile_table
from tagfactory.compiler.codes import Code
from tagfactory.compiler.compile import CompiledEntity, compile_project
from tagfactory.compiler.diagnostics import Diagnostic, Severity
from tagfactory.compiler.goal_impact import goal_changes
from tagfactory.compiler.models import SourceSpec, TagBase
from tagfactory.compiler.parse import Located
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.validate import Checked

# Fields that describe a tag but do not change its values.
METADATA_FIELDS = ("display_name", "description", "owner", "category")
# Fields that do not change values but do change how the tag is used.
USAGE_FIELDS = ("lifecycle", "pii")


@dataclass
class TagChange:
    """One tag that differs between base and head."""

    name: str
    change: str  # added | removed | modified | renamed
    entity: str
    kind: str
    location: str  # file:line at head (at base for removed tags)
    fields: list[str] = field(default_factory=list)
    sql_changed: bool = False
    sql_diff: str = ""
    breaking: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)
    renamed_from: str | None = None
    base_sql: str | None = None
    head_sql: str | None = None

    @property
    def values_change(self) -> bool:
        """True when the tag's values (or its column) may differ after the change."""
        return self.change != "modified" or self.sql_changed or "type" in self.fields

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the full SQL texts; the diff is included)."""
        data = asdict(self)
        data.pop("base_sql")
        data.pop("head_sql")
        data["values_change"] = self.values_change
        return data


@dataclass
class SourceChange:
    """A declared source that differs between base and head."""

    name: str
    change: str  # added | removed | modified
    fields: list[str]
    tags: list[str]  # head tags that read it, directly or through other tags

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class PlanDiff:
    """The whole comparison."""

    base: str
    head: str
    tags: list[TagChange]
    sources: list[SourceChange]
    profile_sql_changed: dict[str, bool]  # profile table -> fused query changed
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unchanged: int = 0
    # audiences: name -> (added | removed | modified | affected, why); scenes using them
    audiences: dict[str, tuple[str, str]] = field(default_factory=dict)
    scenes: list[str] = field(default_factory=list)
    # exports: name -> (added | removed | modified | affected, why); breaking changes of what they deliver
    exports: dict[str, tuple[str, str]] = field(default_factory=dict)
    export_breaking: list[tuple[str, str]] = field(default_factory=list)
    # goals: name -> (added | removed | modified | affected, why); see compiler/goal_impact.py
    goals: dict[str, tuple[str, str]] = field(default_factory=dict)
    # changed exports nobody consumes: name -> "idle since D ..." (filled by `tagfactory plan` from the registry)
    idle_exports: dict[str, str] = field(default_factory=dict)

    @property
    def breaking(self) -> list[tuple[str, str]]:
        """(tag or ``export <name>``, reason) for every breaking change."""
        return [(c.name, reason) for c in self.tags for reason in c.breaking] + self.export_breaking

    @property
    def affected(self) -> list[str]:
        """Tags not changed themselves whose values change because something upstream does."""
        changed = {c.name for c in self.tags}
        out: list[str] = []
        for c in self.tags:
            out += [d for d in c.downstream if d not in changed and d not in out]
        for s in self.sources:
            out += [t for t in s.tags if t not in changed and t not in out]
        return out

    @property
    def errors(self) -> list[Diagnostic]:
        """Errors that make the change unacceptable."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "base": self.base,
            "head": self.head,
            "summary": {
                "added": sum(c.change == "added" for c in self.tags),
                "removed": sum(c.change == "removed" for c in self.tags),
                "renamed": sum(c.change == "renamed" for c in self.tags),
                "modified": sum(c.change == "modified" for c in self.tags),
                "sql_changed": sum(c.sql_changed for c in self.tags),
                "breaking": len(self.breaking),
                "affected_downstream": len(self.affected),
                "unchanged": self.unchanged,
            },
            "tags": [c.to_dict() for c in self.tags],
            "sources": [s.to_dict() for s in self.sources],
            "affected": self.affected,
            "profile_sql_changed": self.profile_sql_changed,
            "audiences": [{"name": n, "change": c, "why": w} for n, (c, w) in self.audiences.items()],
            "scenes_affected": self.scenes,
            "exports": [{"name": n, "change": c, "why": w, **({"idle": self.idle_exports[n]}
                                                              if n in self.idle_exports else {})}
                        for n, (c, w) in self.exports.items()],
            "goals": [{"name": n, "change": c, "why": w} for n, (c, w) in self.goals.items()],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


def diff_projects(base: Project, head: Project, base_label: str = "base", head_label: str = "working tree") -> PlanDiff:
    """Compare two valid projects."""
    base_sql = compile_project(base)
    head_sql = compile_project(head)
    base_tags, head_tags = base.tags, head.tags
    removed = [n for n in base_tags if n not in head_tags]
    added = [n for n in head_tags if n not in base_tags]
    renames = _renames(base, head, removed, added)

    changes: list[TagChange] = []
    unchanged = 0
    for name, located in head_tags.items():
        tag = located.model
        if name in base_tags:
            change = _compare(name, base_tags[name], located, base_sql, head_sql, renames=renames)
            if change is None:
                unchanged += 1
                continue
        elif name in renames.values():
            old = next(o for o, n in renames.items() if n == name)
            change = _compare(name, base_tags[old], located, base_sql, head_sql, old_name=old, renames=renames)
            assert change is not None
        else:
            change = TagChange(name, "added", tag.entity, _kind(tag), _where(located),
                               head_sql=_sql_of(head_sql, tag))
            change.sql_changed = change.head_sql is not None
            change.sql_diff = _unified("", change.head_sql or "", name)
        if change.values_change:
            change.downstream = head.downstream(name)
        changes.append(change)
    for name in removed:
        if name in renames:
            continue
        located = base_tags[name]
        tag = located.model
        change = TagChange(name, "removed", tag.entity, _kind(tag), _where(located), base_sql=_sql_of(base_sql, tag))
        change.sql_changed = change.base_sql is not None
        change.sql_diff = _unified(change.base_sql or "", "", name)
        if tag.built:
            change.breaking.append(f"removed: column `{name}` disappears from `{profile_table(tag.entity)}`"
                                   + (" (it was still active; deprecate a tag before removing it)"
                                      if tag.lifecycle == "active" else ""))
        change.downstream = base.downstream(name)
        changes.append(change)

    sources = _source_changes(base, head)
    profile_changed = {
        profile_table(e): (base_sql[e].sql if e in base_sql else None) != (head_sql[e].sql if e in head_sql else None)
        for e in dict.fromkeys([*base_sql, *head_sql])
    }
    result = PlanDiff(base_label, head_label, changes, sources, profile_changed, unchanged=unchanged)
    changed_values = {c.name for c in changes if c.values_change} | set(result.affected)
    result.audiences, result.scenes = _audience_impact(base, head, changed_values)
    result.exports, result.export_breaking = export_impact(base, head, changed_values, set(result.audiences))
    result.goals = goal_changes(base, head, changed_values, {s.name for s in sources})
    for change in changes:
        if change.breaking:
            users = _delivered_by(head if change.change != "removed" else base, change.renamed_from or change.name)
            change.breaking += [f"delivered by export `{x}` as column `{col}`" for x, col in users]
    return result


def _delivered_by(project: Project, tag: str) -> list[tuple[str, str]]:
    """(export, column) for every export column that delivers ``tag``."""
    return [(x.spec.name, c.name) for x in project.exports for c in x.columns if c.origin == "tag" and c.ref == tag]


def export_impact(base: Project, head: Project, tags: set[str], audiences: set[str]
                  ) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """Exports added, removed, redefined or reading changed tags or audiences; and the breaking
    changes of what an export delivers (a column removed or retyped, the export removed)."""
    before = {x.spec.name: x for x in base.exports}
    out: dict[str, tuple[str, str]] = {}
    breaking: list[tuple[str, str]] = []
    for x in head.exports:
        name = x.spec.name
        old = before.get(name)
        if old is None:
            out[name] = ("added", f"for {x.spec.consumer.system}")
            continue
        if old.spec != x.spec:
            out[name] = ("modified", "definition changed")
            now = {c.name: c for c in x.columns}
            for c in old.columns:
                if c.name not in now:
                    breaking.append((f"export {name}", f"column `{c.name}` no longer delivered to "
                                     f"{x.spec.consumer.system} ({x.spec.consumer.contact})"))
                elif now[c.name].type != c.type or now[c.name].treatment != c.treatment:
                    breaking.append((f"export {name}", f"column `{c.name}` changes from {c.type}"
                                     f"{f' ({c.treatment})' if c.treatment else ''} to {now[c.name].type}"
                                     f"{f' ({now[c.name].treatment})' if now[c.name].treatment else ''}"))
            continue
        reads = sorted((set(x.tags) | set(x.suppression_tags)) & tags)
        used = sorted({*(x.spec.what.audiences or []), *x.spec.suppression.audiences} & audiences)
        if reads or used:
            out[name] = ("affected", "reads " + ", ".join(f"`{t}`" for t in [*reads, *used]))
    for name, old in before.items():
        if name not in out and all(x.spec.name != name for x in head.exports):
            out[name] = ("removed", "")
            if old.spec.lifecycle == "active":
                breaking.append((f"export {name}", f"removed while active: {old.spec.consumer.system} "
                                 f"({old.spec.consumer.contact}) stops receiving it; retire it first"))
    return out, breaking


def _audience_impact(base: Project, head: Project, tags: set[str]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Audiences added, removed, redefined, or reading changed tags; and the scenes using them."""
    b, h = base.audiences, head.audiences
    if h is None:
        return {}, []
    before = b.compiled if b is not None else {}
    out: dict[str, tuple[str, str]] = {}
    for name, c in h.compiled.items():
        old = before.get(name)
        if old is None:
            out[name] = ("added", c.kind)
        elif (old.kind, old.condition, old.sql, old.list_ids) != (c.kind, c.condition, c.sql, c.list_ids):
            out[name] = ("modified", "definition changed")
    for name in before:
        if name not in h.compiled:
            out[name] = ("removed", "")
    for name in h.downstream_of_tags(tags):
        if name not in out:
            reads = sorted(set(h.compiled[name].tags) & tags)
            out[name] = ("affected", "reads " + ", ".join(f"`{t}`" for t in reads) if reads else
                         "references an affected audience")
    # references: an audience including a modified one changes too
    for name in h.order:
        refs = set(h.compiled[name].refs) & set(out)
        if name not in out and refs:
            out[name] = ("affected", "references " + ", ".join(f"`{r}`" for r in sorted(refs)))
    return out, h.scenes_using(set(out))


def removal_errors(base: Project | None, base_checked: Checked | None, head_checked: Checked) -> list[Diagnostic]:
    """Errors for head tags that still use a tag this change removes (or renames).

    Validation alone reports such a reference as an unknown tag; with the base at hand the
    message can say what happened and how to do it safely.
    """
    base_tags = base.tags if base is not None else (base_checked.tags if base_checked else {})
    out: list[Diagnostic] = []
    for user, names in head_checked.missing_refs.items():
        located = head_checked.tags.get(user)
        if located is None:
            continue
        for name in dict.fromkeys(names):
            if name not in base_tags:
                continue
            was = base_tags[name]
            renamed_to = next((n for n, t in head_checked.tags.items() if n not in base_tags
                               and _fingerprint(t.model) == _fingerprint(was.model)), None)
            loc = located.loc("kind")
            what = f"renames `{name}` to `{renamed_to}`" if renamed_to else f"removes `{name}`"
            hint = (f"update `{user}` to use `{renamed_to}`" if renamed_to else
                    f"keep `{name}` (mark it `lifecycle: deprecated`), move `{user}` off it, then remove it")
            out.append(Diagnostic(located.file, loc.line, loc.col, Code.E503,
                                  f"tag `{user}` still uses `{name}`, but this change {what}", hint))
    return out


# --- helpers -----------------------------------------------------------------------------------

def _kind(tag: TagBase) -> str:
    return str(getattr(tag, "kind", ""))


def _where(located: Located[TagBase]) -> str:
    return f"{located.file}:{located.loc('name').line}"


def _dump(tag: TagBase) -> dict[str, Any]:
    return tag.model_dump(by_alias=True)


def _fingerprint(tag: TagBase) -> tuple[Any, ...]:
    """Everything that determines a tag's values, except its name."""
    data = _dump(tag)
    for key in ("name", "lifecycle", *METADATA_FIELDS):
        data.pop(key, None)
    return tuple(sorted((k, repr(v)) for k, v in data.items()))


def _sql_of(compiled: dict[str, CompiledEntity], tag: TagBase) -> str | None:
    entity = compiled.get(tag.entity)
    return entity.tag_sql.get(tag.name) if entity else None


def _unified(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), f"base/{name}.sql", f"head/{name}.sql",
                                 lineterm="", n=3)
    return "\n".join(lines)


def _renames(base: Project, head: Project, removed: list[str], added: list[str]) -> dict[str, str]:
    """Old name -> new name, for removed and added tags that compute the same thing."""
    out: dict[str, str] = {}
    by_print: dict[tuple[Any, ...], list[str]] = {}
    for name in added:
        by_print.setdefault(_fingerprint(head.tags[name].model), []).append(name)
    for name in removed:
        candidates = by_print.get(_fingerprint(base.tags[name].model), [])
        if candidates:
            out[name] = candidates.pop(0)
    return out


def _compare(name: str, before: Located[TagBase], after: Located[TagBase], base_sql: dict[str, CompiledEntity],
             head_sql: dict[str, CompiledEntity], old_name: str | None = None,
             renames: dict[str, str] | None = None) -> TagChange | None:
    old, new = before.model, after.model
    a, b = _dump(old), _dump(new)
    fields = [k for k in dict.fromkeys([*a, *b]) if k != "name" and a.get(k) != b.get(k)]
    if old_name is None and not fields:
        return None
    change = TagChange(name, "renamed" if old_name else "modified", new.entity, _kind(new), _where(after),
                       fields=fields, renamed_from=old_name,
                       base_sql=_sql_of(base_sql, old), head_sql=_sql_of(head_sql, new))
    # the same computation under new names is not a change of values: compare with renames applied
    before_sql = change.base_sql
    if before_sql is not None:
        for was, now in (renames or {}).items():
            before_sql = re.sub(rf"\b{re.escape(was)}\b", now, before_sql)
    change.sql_changed = before_sql != change.head_sql
    if change.sql_changed:
        change.sql_diff = _unified(change.base_sql or "", change.head_sql or "", name)
    if old_name:
        change.breaking.append(f"renamed from `{old_name}`: readers of `{profile_table(old.entity)}.{old_name}` break")
    if old.type != new.type:
        change.breaking.append(f"type changed from `{old.type}` to `{new.type}`")
    dropped = [v for v in (old.values or []) if v not in (new.values or [])]
    if dropped and old.type == new.type == "enum":
        change.breaking.append("enum values removed: " + ", ".join(f"`{v}`" for v in dropped))
    if old.built and not new.built:
        change.breaking.append(f"no longer built (lifecycle `{new.lifecycle}`): column `{name}` disappears")
    if old.entity != new.entity:
        change.breaking.append(f"moved from entity `{old.entity}` to `{new.entity}`")
    return change


def _source_changes(base: Project, head: Project) -> list[SourceChange]:
    out: list[SourceChange] = []
    for name in dict.fromkeys([*base.sources, *head.sources]):
        old = base.sources.get(name)
        new = head.sources.get(name)
        if old is not None and new is not None:
            a, b = _source_dump(old.model), _source_dump(new.model)
            fields = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
            if not fields or set(fields) <= {"description"}:
                continue
            change = "modified"
        else:
            fields = []
            change = "added" if old is None else "removed"
        readers = [t for t, refs in head.source_refs.items() if name in refs and t in head.layer]
        tags: list[str] = []
        for reader in readers:
            for t in [reader, *head.downstream(reader)]:
                if t not in tags:
                    tags.append(t)
        out.append(SourceChange(name, change, fields, tags))
    return out


def _source_dump(source: SourceSpec) -> dict[str, Any]:
    data = source.model_dump()
    data["columns"] = {n: c.model_dump(exclude={"description"}) for n, c in source.column_specs().items()}
    return data
