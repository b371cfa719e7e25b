"""Scenes: each branch names an audience of the scene's entity; branch and variant names are unique."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tagfactory.compiler.audience.model import AudienceSet
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.models import SceneSpec
from tagfactory.compiler.parse import Located, report

if TYPE_CHECKING:
    from tagfactory.compiler.resolve import Project


def check_scene(item: Located[SceneSpec], project: Project, known: AudienceSet, sink: DiagnosticSink) -> None:
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
