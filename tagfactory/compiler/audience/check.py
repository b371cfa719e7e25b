"""Check every audience and scene of a definitions folder; compile each audience.

Each audience is checked on its own (:func:`check_audience`: its kind, entity and guardrails,
then its rule tree, list file or SQL), then the references between them (cycles, inlined size),
then the scenes using them.
"""

from __future__ import annotations

from tagfactory.compiler.audience.context import AudienceContext
from tagfactory.compiler.audience.model import AudienceSet, CompiledAudience
from tagfactory.compiler.audience.references import check_cycles, check_inlined_depth
from tagfactory.compiler.audience.rules import compile_rule
from tagfactory.compiler.audience.scenes import check_scene
from tagfactory.compiler.audience.sql import check_sql
from tagfactory.compiler.audience.uploaded import check_list
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.guards import no_substitution
from tagfactory.compiler.parse import ParsedDefinitions
from tagfactory.compiler.resolve import Project
from tagfactory.compiler.sqlbuild import to_sql
from tagfactory.compiler.validate import unique_by_name


def check_audiences(parsed: ParsedDefinitions, project: Project, sink: DiagnosticSink) -> AudienceSet:
    """Check every audience and scene against the project's tags and sources; compile audiences."""
    result = AudienceSet()
    result.audiences = unique_by_name(parsed, "audiences", sink)
    result.scenes = unique_by_name(parsed, "scenes", sink)
    for scene in result.scenes.values():
        no_substitution(scene, f"scene `{scene.model.name}`", sink)
    for name, audience in result.audiences.items():
        before = len(sink.errors)
        no_substitution(audience, f"audience `{name}`", sink)
        if len(sink.errors) > before:
            continue
        compiled = check_audience(AudienceContext(audience, project, result, sink, parsed.root))
        if compiled is not None:
            result.compiled[name] = compiled
    check_cycles(result, sink)
    check_inlined_depth(result, sink)
    for scene in result.scenes.values():
        check_scene(scene, project, result, sink)
    return result


def check_audience(ctx: AudienceContext) -> CompiledAudience | None:
    """Check and compile one audience; None when it is invalid."""
    spec = ctx.spec
    given = [k for k, v in (("rule", spec.rule), ("list", spec.list_), ("sql", spec.sql)) if v is not None]
    if len(given) != 1:
        ctx.error(("name",), Code.E707, f"needs exactly one of `rule`, `list` or `sql`, got "
                  f"{', '.join(f'`{g}`' for g in given) or 'none'}",
                  "a rule tree over tags, an uploaded list file, or a SELECT returning entity keys")
        return None
    if spec.entity not in ctx.project.entities:
        ctx.error(("entity",), Code.E205, f"unknown entity `{spec.entity}`",
                  did_you_mean(spec.entity, ctx.project.entities) or
                  f"declared entities: {', '.join(ctx.project.entities)}")
        return None
    _check_guardrails(ctx)
    _check_profile_tags(ctx)
    compiled = CompiledAudience(spec.name, spec.kind, spec.entity)
    if spec.rule is not None:
        condition = compile_rule(ctx, spec.rule)
        compiled.tree = condition
        compiled.condition = to_sql(condition, pretty=False) if condition is not None else None
    elif spec.list_ is not None:
        check_list(ctx, compiled)
    else:
        check_sql(ctx, compiled)
    compiled.tags = list(dict.fromkeys(ctx.tags))
    compiled.refs = list(dict.fromkeys(ctx.refs))
    return compiled if ctx.ok else None


def _check_guardrails(ctx: AudienceContext) -> None:
    g = ctx.spec.guardrails
    if g.min_size is not None and g.max_size is not None and g.min_size > g.max_size:
        ctx.error(("guardrails",), Code.E711, f"guardrails: min_size {g.min_size:,} > max_size {g.max_size:,}",
                  "swap them")


def _check_profile_tags(ctx: AudienceContext) -> None:
    for i, name in enumerate(ctx.spec.profile_tags or []):
        tag = ctx.project.tags.get(name)
        if tag is None or tag.model.entity != ctx.spec.entity or not tag.model.built:
            ctx.error(("profile_tags", i), Code.E702, f"profile_tags: unknown or unbuilt tag `{name}`",
                      did_you_mean(name, ctx.project.tags) or "list tags of the audience's entity")
        elif tag.model.type == "array<string>":
            ctx.error(("profile_tags", i), Code.E712, f"profile_tags: `{name}` is an array tag, which is not profiled",
                      "profile enum, boolean, string, integer, double or date tags")
