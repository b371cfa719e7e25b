"""One call from a definitions folder to a resolved project: load -> validate -> resolve."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tagfactory.compiler.audience.check import check_audiences
from tagfactory.compiler.collineage import check_tag_pii, pii_paths, tag_inputs
from tagfactory.compiler.diagnostics import DefinitionError, Diagnostic, DiagnosticSink
from tagfactory.compiler.exports import check_exports
from tagfactory.compiler.goal_plan import plan_scenes
from tagfactory.compiler.goals import check_goals
from tagfactory.compiler.parse import parse_definitions
from tagfactory.compiler.resolve import Project, resolve
from tagfactory.compiler.validate import Checked, check_definitions


@dataclass
class Analysis:
    """Everything the checks learned about a definitions folder, valid or not."""

    checked: Checked
    resolved: Project
    diagnostics: list[Diagnostic]

    @property
    def project(self) -> Project | None:
        """The resolved project, or None when there are errors."""
        return None if any(d.severity.value == "error" for d in self.diagnostics) else self.resolved


def analyze(root: str | Path) -> Analysis:
    """Run every check over a definitions folder; never raises for bad definitions."""
    sink = DiagnosticSink()
    parsed = parse_definitions(root, sink)
    checked = check_definitions(parsed, sink)
    project = resolve(checked, sink)
    project.audiences = check_audiences(parsed, project, sink)
    project.tag_inputs = tag_inputs(project)
    project.pii_by_lineage = check_tag_pii(project, pii_paths(project, project.tag_inputs), sink)
    project.exports = check_exports(parsed.exports, project, sink)
    project.goals = check_goals(parsed, project, sink)
    project.analyses = plan_scenes(project, project.goals, sink)
    return Analysis(checked, project, sorted(sink.items))


def check_project(root: str | Path) -> tuple[Project | None, list[Diagnostic]]:
    """Run every check over a definitions folder.

    Returns:
        The resolved project (None if there were errors) and all diagnostics, sorted.
    """
    analysis = analyze(root)
    return analysis.project, analysis.diagnostics


def load_project(root: str | Path) -> tuple[Project, list[Diagnostic]]:
    """Like :func:`check_project` but raise :class:`DefinitionError` when anything is invalid.

    Returns:
        The project and its warnings.
    """
    project, diagnostics = check_project(root)
    if project is None:
        raise DefinitionError([d for d in diagnostics if d.severity.value == "error"])
    return project, diagnostics
