"""Resolve the checked definitions: dependency graph, cycles, build order and layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink
from tagfactory.compiler.graph import find_cycles
from tagfactory.compiler.models import EntitySpec, SourceSpec, TagBase
from tagfactory.compiler.parse import Located
from tagfactory.compiler.validate import Checked

if TYPE_CHECKING:
    from tagfactory.compiler.audience.model import AudienceSet


if TYPE_CHECKING:
    from tagfactory.compiler.exports import CheckedExport
    from tagfactory.compiler.goal_manifest import SceneAnalysis
    from tagfactory.compiler.goals import GoalSet
    from tagfactory.compiler.sqllineage import Edge


@dataclass
class Project:
    """Resolved definitions: what the compiler and plan work from."""

    entities: dict[str, Located[EntitySpec]]
    sources: dict[str, Located[SourceSpec]]
    tags: dict[str, Located[TagBase]]
    snippets: dict[tuple[str, str], exp.Expr]
    tag_refs: dict[str, list[str]]
    source_refs: dict[str, list[str]]
    # built tags in dependency order (dependencies first), and each one's projection layer:
    # 0 = computed from sources, n = computed from tags of layers < n.
    order: list[str] = field(default_factory=list)
    layer: dict[str, int] = field(default_factory=dict)
    # audiences and scenes (checked after the tags; see compiler/audience/)
    audiences: AudienceSet | None = None
    # exports without errors (checked after the audiences; see compiler/exports.py)
    exports: list[CheckedExport] = field(default_factory=list)
    # column lineage: the immediate inputs of each tag, and the tags that are pii by lineage with
    # a path to a pii source column (see compiler/collineage.py; set before the exports are checked)
    tag_inputs: dict[str, list[Edge]] = field(default_factory=dict)
    pii_by_lineage: dict[str, list[str]] = field(default_factory=dict)
    # goals (checked after the exports) and the analysis plan of each scene with goals (see
    # compiler/goals.py and compiler/goal_plan.py)
    goals: GoalSet | None = None
    analyses: dict[str, SceneAnalysis] = field(default_factory=dict)

    def built_tags(self, entity: str) -> list[TagBase]:
        """Built (active or deprecated) tags of an entity, in definition order."""
        return [t.model for t in self.tags.values() if t.model.entity == entity and t.model.built]

    def downstream(self, name: str) -> list[str]:
        """Every tag that depends on ``name``, directly or not, in build order."""
        hit = {name}
        for tag in self.order:
            if any(ref in hit for ref in self.tag_refs.get(tag, [])):
                hit.add(tag)
        return [t for t in self.order if t in hit and t != name]


def resolve(checked: Checked, sink: DiagnosticSink) -> Project:
    """Build the dependency graph, report cycles and lifecycle problems, order the tags."""
    project = Project(checked.entities, checked.sources, checked.tags, checked.snippets,
                      checked.tag_refs, checked.source_refs)
    _check_lifecycle(project, sink)
    search = find_cycles(project.tag_refs)
    for cycle in search.cycles:
        first = project.tags[cycle[0]]
        loc = first.loc("kind")
        sink.error(first.file, loc.line, loc.col, Code.E501,
                   "dependency cycle: " + " -> ".join(f"`{n}`" for n in cycle + [cycle[0]]),
                   "a tag cannot depend on itself through other tags; break the cycle")
    _order(project, search.in_cycle)
    return project


def _check_lifecycle(project: Project, sink: DiagnosticSink) -> None:
    for name, refs in project.tag_refs.items():
        tag = project.tags[name]
        if not tag.model.built:
            continue
        for ref in refs:
            dep = project.tags.get(ref)
            if dep is None:
                continue
            loc = tag.loc("kind")
            if dep.model.lifecycle == "draft":
                sink.error(tag.file, loc.line, loc.col, Code.E502,
                           f"tag `{name}` ({tag.model.lifecycle}) depends on `{ref}`, which is a draft "
                           f"({dep.file}:{dep.loc('name').line}) and is not built",
                           f"activate `{ref}` (lifecycle: active) or make `{name}` a draft too")
            elif dep.model.lifecycle == "deprecated" and tag.model.lifecycle == "active":
                sink.warning(tag.file, loc.line, loc.col, Code.W501,
                             f"active tag `{name}` depends on deprecated tag `{ref}` ({dep.file}:{dep.loc('name').line})",
                             f"move `{name}` off `{ref}` before `{ref}` is removed")


def _order(project: Project, skip: set[str]) -> None:
    layer: dict[str, int] = {}

    def depth(name: str, trail: tuple[str, ...] = ()) -> int:
        if name in layer:
            return layer[name]
        refs = [r for r in project.tag_refs.get(name, []) if r in project.tags and r not in trail]
        value = 0 if not refs else 1 + max(depth(r, trail + (name,)) for r in refs)
        layer[name] = value
        return value

    names = [n for n, t in project.tags.items() if t.model.built and n not in skip]
    for name in names:
        depth(name)
    project.layer = {n: layer[n] for n in names}
    project.order = sorted(names, key=lambda n: (layer[n], list(project.tags).index(n)))
