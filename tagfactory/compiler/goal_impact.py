"""What a change to the definitions does to the goals (``tagfactory plan``, docs/effects.md).

A goal counts as changed when its compiled plan differs (source, window, metric, snippets,
covariate, slices, statistical settings), not when only its description, owner or display name
does; it is *affected* when it reads a changed source or a covariate or slice tag whose values
change. A change that removes a tag or a source column a goal still reads is breaking: the goal
fails validation, and :func:`goal_removal_errors` says what the change removed and how to do it
safely.
"""

from __future__ import annotations

from typing import Any

from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import Diagnostic
from tagfactory.compiler.expressions import free_columns
from tagfactory.compiler.goal_plan import goal_plan
from tagfactory.compiler.goals import CheckedGoal
from tagfactory.compiler.resolve import Project

#: fields of a compiled goal that describe it without changing what is measured
_METADATA = {"display_name", "description", "owner", "definition", "role", "guardrail_of"}


def _fingerprint(project: Project, goal: CheckedGoal) -> dict[str, Any]:
    return goal_plan(project, goal, "primary").model_dump(mode="json", exclude=_METADATA)


def goal_changes(base: Project, head: Project, tags: set[str], sources: set[str]) -> dict[str, tuple[str, str]]:
    """Goals added, removed, redefined, or reading a changed source or tag: name -> (change, why)."""
    before = base.goals.checked if base.goals is not None else {}
    after = head.goals.checked if head.goals is not None else {}
    out: dict[str, tuple[str, str]] = {}
    for name, goal in after.items():
        old = before.get(name)
        if old is None:
            out[name] = ("added", f"{goal.spec.metric.type} of `{goal.source.name}`")
        elif _fingerprint(base, old) != _fingerprint(head, goal):
            out[name] = ("modified", "definition changed")
    for name in before:
        if name not in after:
            out[name] = ("removed", "")
    if head.goals is not None:
        for name in head.goals.reading_sources(sources):
            out.setdefault(name, ("affected", f"reads source `{after[name].source.name}`, which changed"))
        for name in head.goals.reading_tags(tags):
            goal = after[name]
            read = [t.name for t, _ in goal.slices] + ([goal.covariate.name] if goal.covariate else [])
            out.setdefault(name, ("affected", "reads " + ", ".join(f"`{t}`" for t in read if t in tags)))
    return out


def goal_removal_errors(base: Project, head: Project) -> list[Diagnostic]:
    """Errors for head goals that still read a tag or source column this change removes."""
    if base.goals is None or head.goals is None:
        return []
    out: list[Diagnostic] = []
    for name, item in head.goals.goals.items():
        was = base.goals.checked.get(name)
        if was is None or name in head.goals.checked:
            continue
        loc = item.loc("name")
        for tag in _tags_of(was):
            if tag not in head.tags:
                out.append(Diagnostic(item.file, loc.line, loc.col, Code.E503,
                                      f"goal `{name}` still uses tag `{tag}`, but this change removes it",
                                      f"keep `{tag}` (mark it `lifecycle: deprecated`), move `{name}` off it, "
                                      "then remove it"))
        source = head.sources.get(was.source.name)
        if source is None:
            continue
        for column in _columns_of(was):
            if column not in source.model.columns:
                out.append(Diagnostic(item.file, loc.line, loc.col, Code.E503,
                                      f"goal `{name}` still reads `{was.source.name}.{column}`, but this change "
                                      "removes the column", f"keep the column until `{name}` no longer reads it"))
    return out


def _tags_of(goal: CheckedGoal) -> list[str]:
    return [t.name for t, _ in goal.slices] + ([goal.covariate.name] if goal.covariate is not None else [])


def _columns_of(goal: CheckedGoal) -> list[str]:
    trees = [goal.where, *goal.values.values()]
    return list(dict.fromkeys(c.name for tree in trees if tree is not None for c in free_columns(tree)))
