"""One call from a definitions folder to a resolved project: load -> validate -> resolve."""

from __future__ import annotations

from pathlib import Path

from tagfactory.compiler.diagnostics import DefinitionError, Diagnostic, DiagnosticSink
from tagfactory.compiler.parse import parse_definitions
from tagfactory.compiler.resolve import Project, resolve
from tagfactory.compiler.validate import check_definitions


def check_project(root: str | Path) -> tuple[Project | None, list[Diagnostic]]:
    """Run every check over a definitions folder.

    Returns:
        The resolved project (None if there were errors) and all diagnostics, sorted.
    """
    sink = DiagnosticSink()
    parsed = parse_definitions(root, sink)
    checked = check_definitions(parsed, sink)
    project = resolve(checked, sink)
    diagnostics = sorted(sink.items)
    return (None if sink.errors else project), diagnostics


def load_project(root: str | Path) -> tuple[Project, list[Diagnostic]]:
    """Like :func:`check_project` but raise :class:`DefinitionError` when anything is invalid.

    Returns:
        The project and its warnings.
    """
    project, diagnostics = check_project(root)
    if project is None:
        raise DefinitionError([d for d in diagnostics if d.severity.value == "error"])
    return project, diagnostics
