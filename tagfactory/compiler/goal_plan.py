"""A scene's analysis plan: its goals and comparisons checked, then compiled for the manifest.

A scene lists ``goals`` (each a checked goal of the scene's entity; their guardrails join the plan
as ``role: guardrail``) and ``comparisons``. Without ``comparisons``, every comparison the scene's
splits allow: treatment vs control in each branch with ``control > 0``, treatment vs holdout in
each branch when ``holdout > 0``, and every other variant against the first in each branch with
two variants or more. A written comparison the scene cannot make is an error (E906).

The compiled goal (:class:`~tagfactory.compiler.goal_manifest.GoalPlan`) carries its source, its
window in days, its snippets as Spark SQL (identifiers quoted, like every compiled tag filter) and
``events_sql``: the qualifying events as of ``:snapshot_date``, checked by the SQL policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from tagfactory.compiler.assemble import source_manifest
from tagfactory.compiler.codes import Code
from tagfactory.compiler.diagnostics import DiagnosticSink, did_you_mean
from tagfactory.compiler.goal_manifest import (
    ArmPlan,
    ComparisonPlan,
    CostPlan,
    GoalPlan,
    MetricPlan,
    SceneAnalysis,
    SequentialPlan,
    SlicePlan,
    TagInput,
    WindowPlan,
)
from tagfactory.compiler.goal_models import ComparisonSpec, Sequential
from tagfactory.compiler.goals import CheckedGoal, GoalSet
from tagfactory.compiler.models import Branch, SceneSpec
from tagfactory.compiler.parse import Located, report
from tagfactory.compiler.pointintime import before_next_day
from tagfactory.compiler.sqlbuild import and_all, cast, col, to_sql
from tagfactory.compiler.sqlpolicy import check_compiled

if TYPE_CHECKING:
    from tagfactory.compiler.resolve import Project


def plan_scenes(project: Project, goals: GoalSet, sink: DiagnosticSink) -> dict[str, SceneAnalysis]:
    """Check every scene's goals and comparisons; the analysis plan of each valid scene with goals."""
    out: dict[str, SceneAnalysis] = {}
    if project.audiences is None:
        return out
    for name, item in project.audiences.scenes.items():
        if item.model.entity not in project.entities:
            continue  # reported by the scene check (E205)
        plan = _SceneCheck(item, project, goals, sink).run()
        if plan is not None:
            out[name] = plan
    return out


class _SceneCheck:
    def __init__(self, item: Located[SceneSpec], project: Project, goals: GoalSet, sink: DiagnosticSink) -> None:
        self.item, self.project, self.goals, self.sink = item, project, goals, sink
        self.spec = item.model
        self.ok = True

    def error(self, path: tuple[str | int, ...], code: Code, message: str, hint: str = "") -> None:
        self.ok = False
        report(self.item, path, code, f"scene `{self.spec.name}`: {message}", hint, self.sink)

    def run(self) -> SceneAnalysis | None:
        spec = self.spec
        if not spec.goals:
            if spec.comparisons is not None:
                self.error(("comparisons",), Code.E906, "`comparisons` without `goals`: there is nothing to compare",
                           "list the scene's goals under `goals:`")
            return None
        primary = self._goals()
        comparisons = self._comparisons()
        if not self.ok or not primary:
            return None
        plans = [goal_plan(self.project, g, "primary") for g in primary]
        names = [g.spec.name for g in primary]
        guards: dict[str, list[str]] = {}
        for goal in primary:
            for guard in goal.spec.guardrails:
                if guard not in names:
                    guards.setdefault(guard, []).append(goal.spec.name)
        for guard, of in guards.items():
            checked = self.goals.checked.get(guard)
            if checked is None:
                return None  # an invalid guardrail: its own errors are reported
            if checked.spec.entity != spec.entity:
                self.error(("goals",), Code.E907, f"guardrail `{guard}` (of {', '.join(of)}) is a goal of entity "
                           f"`{checked.spec.entity}`, the scene of `{spec.entity}`")
                return None
            plans.append(goal_plan(self.project, checked, "guardrail", guardrail_of=of))
        return SceneAnalysis(goals=plans, comparisons=comparisons)

    def _goals(self) -> list[CheckedGoal]:
        out: list[CheckedGoal] = []
        seen: set[str] = set()
        for i, name in enumerate(self.spec.goals):
            if name in seen:
                self.error(("goals", i), Code.E201, f"goal `{name}` listed twice", "remove one of them")
                continue
            seen.add(name)
            if name not in self.goals.goals:
                self.error(("goals", i), Code.E901, f"unknown goal `{name}`",
                           did_you_mean(name, self.goals.goals) or "declare it under `goals:` (e.g. goals.yaml)")
                continue
            checked = self.goals.checked.get(name)
            if checked is None:
                self.ok = False  # the goal's own errors are reported
                continue
            if checked.spec.entity != self.spec.entity:
                self.error(("goals", i), Code.E907, f"goal `{name}` is of entity `{checked.spec.entity}`, the scene "
                           f"of `{self.spec.entity}`")
                continue
            out.append(checked)
        return out

    # --- comparisons ------------------------------------------------------------------------

    def _comparisons(self) -> list[ComparisonPlan]:
        spec = self.spec
        out: dict[str, ComparisonPlan] = {}
        if spec.comparisons is None:
            for kind in ("treatment_vs_control", "treatment_vs_holdout", "variant_vs_variant"):
                for plan in self._expand(ComparisonSpec(kind=kind), None):
                    out.setdefault(plan.name, plan)
            if not out:
                self.error(("goals",), Code.E906, "the scene has goals but nothing to compare them in: no branch has "
                           "a control group or two variants, and there is no holdout",
                           "add `control: 0.1` to a branch or `holdout: 0.05` to the scene")
            return list(out.values())
        for i, comparison in enumerate(spec.comparisons):
            for plan in self._expand(comparison, i):
                out.setdefault(plan.name, plan)
        return list(out.values())

    def _expand(self, comparison: ComparisonSpec, index: int | None) -> list[ComparisonPlan]:
        """The comparison in each branch it applies to; errors for a written one that cannot apply."""
        spec = self.spec
        path: tuple[str | int, ...] = ("comparisons", index) if index is not None else ("name",)
        kind = comparison.kind
        if comparison.baseline is not None and kind != "variant_vs_variant":
            self.error((*path, "baseline"), Code.E906, f"`baseline` names a variant; a {kind} comparison has none",
                       "remove `baseline`, or use `kind: variant_vs_variant`")
        if kind == "treatment_vs_holdout" and spec.holdout == 0:
            if index is not None:
                self.error((*path, "kind"), Code.E906, "treatment_vs_holdout, but the scene has no holdout "
                           "(holdout: 0)", "add `holdout: 0.05` to the scene, or drop the comparison")
            return []
        by_name = {b.name: b for b in spec.branches}
        if comparison.branches is not None:
            branches: list[Branch] = []
            for j, name in enumerate(comparison.branches):
                if name not in by_name:
                    self.error((*path, "branches", j), Code.E906, f"{kind}: unknown branch `{name}`",
                               did_you_mean(name, by_name) or f"branches: {', '.join(by_name)}")
                else:
                    branches.append(by_name[name])
            explicit = True
        else:
            branches, explicit = list(spec.branches), False
        out: list[ComparisonPlan] = []
        for j, branch in enumerate(branches):
            where = (*path, "branches", j) if explicit else (*path, "kind")
            out += self._in_branch(comparison, branch, where, report_impossible=index is not None and explicit)
        if index is not None and not explicit and not out and self.ok:
            need = {"treatment_vs_control": "a control group (`control: 0.1`)",
                    "variant_vs_variant": "two variants or more"}.get(kind, "")
            self.error((*path, "kind"), Code.E906, f"{kind}: no branch has {need}",
                       "add it to a branch, or drop the comparison")
        return out

    def _in_branch(self, comparison: ComparisonSpec, branch: Branch, path: tuple[str | int, ...],
                   *, report_impossible: bool) -> list[ComparisonPlan]:
        kind = comparison.kind
        treatment = ArmPlan(group="treatment")
        if kind == "treatment_vs_holdout":
            return [_comparison(kind, branch.name, treatment, ArmPlan(group="holdout"))]
        if kind == "treatment_vs_control":
            if branch.control > 0:
                return [_comparison(kind, branch.name, treatment, ArmPlan(group="control"))]
            if report_impossible:
                self.error(path, Code.E906, f"treatment_vs_control: branch `{branch.name}` has no control group "
                           "(control: 0)", f"add `control: 0.1` to branch `{branch.name}`, or drop it here")
            return []
        variants = [v.name for v in branch.variants or []]
        if len(variants) < 2:
            if report_impossible:
                self.error(path, Code.E906, f"variant_vs_variant: branch `{branch.name}` has "
                           f"{'one variant' if variants else 'no variants'}", "compare a branch with two variants or more")
            return []
        baseline = comparison.baseline or variants[0]
        if baseline not in variants:
            self.error(path, Code.E906, f"variant_vs_variant: `{baseline}` "
                       f"is not a variant of branch `{branch.name}`",
                       did_you_mean(baseline, variants) or f"variants: {', '.join(variants)}")
            return []
        base = ArmPlan(group="treatment", variant=baseline)
        return [_comparison(kind, branch.name, ArmPlan(group="treatment", variant=v), base)
                for v in variants if v != baseline]


def _comparison(kind: str, branch: str, treatment: ArmPlan, baseline: ArmPlan) -> ComparisonPlan:
    left, right = treatment.variant or treatment.group, baseline.variant or baseline.group
    return ComparisonPlan.model_validate({"name": f"{branch}:{left}_vs_{right}", "kind": kind, "branch": branch,
                                          "treatment": treatment, "baseline": baseline})


# --- compiling a goal ------------------------------------------------------------------------

def goal_plan(project: Project, goal: CheckedGoal, role: str, *, guardrail_of: list[str] | None = None) -> GoalPlan:
    """The manifest entry of a checked goal (for one scene)."""
    spec = goal.spec
    metric = spec.metric
    seq = spec.sequential
    sequential = (SequentialPlan(tau2=seq.tau2, horizon_days=seq.horizon_days) if isinstance(seq, Sequential)
                  else SequentialPlan() if seq else None)
    values = {n: to_sql(t, pretty=False) for n, t in goal.values.items()}
    return GoalPlan.model_validate({
        "name": spec.name, "display_name": spec.display_name or spec.name, "description": spec.description,
        "owner": spec.owner, "definition": f"{goal.item.file}:{goal.item.loc('name').line}",
        "role": role, "guardrail_of": guardrail_of or [], "guardrails": list(spec.guardrails),
        "source": source_manifest(goal.source),
        "where_sql": to_sql(goal.where, pretty=False) if goal.where is not None else None,
        "events_sql": to_sql(events_query(project, goal)),
        "window": WindowPlan(anchor=spec.window.anchor, delay_days=goal.delay_days, length_days=goal.length_days),
        "metric": MetricPlan(type=metric.type, value_sql=values.get("value"), numerator_sql=values.get("numerator"),
                             denominator_sql=values.get("denominator"), cap_percentile=metric.cap_percentile),
        "covariate": TagInput(tag=goal.covariate.name, type=goal.covariate.type,
                              default=_scalar(goal.covariate.default)) if goal.covariate is not None else None,
        "slices": [SlicePlan(tag=t.name, type=t.type, default=_scalar(t.default), top=top) for t, top in goal.slices],
        "cost": CostPlan(per_touch=spec.cost.per_touch, currency=spec.cost.currency) if spec.cost else None,
        "alpha": spec.alpha, "correction": spec.correction, "sequential": sequential,
        "include_in_progress": spec.include_in_progress,
    })


def _scalar(value: object) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool) else None


def events_query(project: Project, goal: CheckedGoal) -> exp.Select:
    """The goal's qualifying events as of ``:snapshot_date``: key, event time and the metric's values."""
    source = goal.source
    key = project.entities[goal.spec.entity].model.key
    selects: list[exp.Expr] = [exp.alias_(col(source.entity_key), key),
                               exp.alias_(col(source.time_column or ""), "event_time")]
    for name in ("value", "numerator", "denominator"):
        tree = goal.values.get(name)
        selects.append(exp.alias_(cast(tree.copy() if tree is not None else exp.null(), "double"), name))
    condition = and_all(exp.Not(this=exp.Is(this=col(source.entity_key), expression=exp.null())),
                        before_next_day(source), exp.Paren(this=goal.where.copy()) if goal.where is not None else None)
    query = exp.select(*selects).from_(source.name)
    if condition is not None:
        query = query.where(condition)
    check_compiled(query, {source.name}, f"goal `{goal.spec.name}`")
    return query
