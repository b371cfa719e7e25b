"""From the sufficient statistics to the results: the driver side of effect analysis (no Spark).

For one scene and as-of date, with :mod:`tagfactory.effects`:

1. **Health** per branch: the sample-ratio-mismatch chi-square of the exposed users per arm against
   the configured split (holdout, control, treatment or its variants by weight), the group changes
   and the users in several branches Spark counted (:func:`health_rows`).
2. **Estimates** per goal x comparison x slice (:func:`estimate`): two-proportion Wald for a
   conversion, Welch for a mean or a count, the delta method for a ratio, CUPED when the goal has a
   covariate (not for a ratio); a comparison whose arm has no counted user is ``no_users``; one
   whose arm has no spread (every user 0, or every user 1: the variance estimate is 0 and the
   interval would ignore that arm's sampling error) is ``degenerate``: shown, never significant
   and not counted in the multiple-testing family.
3. **Trust**: a branch whose SRM check failed marks its estimates ``trusted = False``.
4. **Sequential** (goals with ``sequential``): the always-valid interval and p-value of this look,
   intersected with the previous looks' (the ``effect_results`` rows of earlier dates); ``tau2`` is
   fixed at the first look (``SequentialPlan.tau2``, else :func:`tau2_for` the variance expected at
   ``horizon_days``, assuming the variance falls like 1 / days).
5. **Multiple testing** across the scene's estimates of one role and correction (goals x
   comparisons x slices): BH or Holm q-values of the p-values (the sequential ones where enabled).
   ``significant`` = ``q <= alpha``.
6. **Impact**: incremental conversions or value over the treatment users with its interval; cost
   = touches x cost per touch, per reached user and, for conversions, per incremental conversion.
   ``reach_source`` says where touches come from: ``export_receipts`` (treatment days on delivered
   dates) or ``assigned_treatment`` (every treatment assignment day).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tagfactory.analysis.arms import Cell, Pair, observed_arm, pairs, split_shares
from tagfactory.compiler.goal_manifest import GoalPlan
from tagfactory.compiler.manifest import Scene
from tagfactory.contracts.tables import table_spec
from tagfactory.effects import (
    Estimate,
    SrmResult,
    adjust,
    confidence_sequence,
    cost_per_incremental,
    cost_per_reached,
    cuped,
    difference_in_means,
    difference_in_proportions,
    incremental,
    mark_untrusted,
    ratio_difference,
    srm_check,
    tau2_for,
)
from tagfactory.effects.srm import DEFAULT_THRESHOLD

DEFAULT_HORIZON_DAYS = 30
#: every row has every column of effect_results (None where a value does not apply)
RESULT_COLUMNS = [c.name for c in table_spec("effect_results", "_").data_columns()]
NAN = float("nan")


@dataclass(frozen=True)
class SceneInputs:
    """What Spark computed for one scene (collected, small)."""

    cells: Sequence[Cell]
    exposed: Mapping[tuple[str, str | None, str | None], int]  # (branch, group, variant) -> users
    health: Mapping[str, tuple[int, int]]  # branch -> (group changes, users in several branches)
    first_date: dt.date | None  # the scene's earliest first assignment
    receipts: bool  # touches come from export receipts (delivered dates)
    previous: Sequence[Mapping[str, Any]] = ()  # earlier dates' effect_results rows of the scene


def srm_results(scene: Scene, exposed: Mapping[tuple[str, str | None, str | None], int],
                threshold: float = DEFAULT_THRESHOLD) -> list[SrmResult]:
    """One sample-ratio-mismatch check per branch with exposed users."""
    out = []
    for branch in scene.branches:
        observed: dict[str, int] = {}
        for (b, group, variant), users in exposed.items():
            if b == branch.name:
                arm = observed_arm(group, variant)
                observed[arm] = observed.get(arm, 0) + users
        if not observed:
            continue
        variants = [(v.name, float(v.weight)) for v in branch.variants or []]
        shares = split_shares(float(scene.holdout), float(branch.control), variants)
        out.append(srm_check(observed, shares, scene=scene.name, branch=branch.name, threshold=threshold))
    return out


def health_rows(scene: Scene, inputs: SceneInputs, checks: Sequence[SrmResult]) -> list[dict[str, Any]]:
    """The ``effect_health`` rows of the scene (one per branch with exposed users)."""
    rows = []
    for r in checks:
        changes, several = inputs.health.get(r.branch, (0, 0))
        rows.append({"scene": scene.name, "branch": r.branch, "users": sum(r.observed.values()),
                     "observed": json.dumps(r.observed, sort_keys=True),
                     "expected": json.dumps({k: round(v, 3) for k, v in r.expected.items()}, sort_keys=True),
                     "srm_chi2": _finite(r.chi2), "srm_df": r.df, "srm_p_value": r.p_value, "srm_passed": r.trusted,
                     "group_changes": changes, "users_in_several_branches": several})
    return rows


def estimate(goal: GoalPlan, pair: Pair) -> Estimate | None:
    """The estimate of one pair (None when an arm has no counted user)."""
    t, b = pair.treatment, pair.baseline
    if t.n == 0 or b.n == 0:
        return None
    kw: dict[str, Any] = {"metric": goal.name, "comparison": pair.comparison.name, "alpha": goal.alpha}
    if goal.metric.type == "ratio":
        est = ratio_difference(t.ratio_stats(), b.ratio_stats(), **kw)
    elif goal.covariate is not None:
        est = cuped(t.covariate_stats(), b.covariate_stats(), **kw)
    elif goal.metric.type == "conversion":
        est = difference_in_proportions(t.mean_stats(), b.mean_stats(), **kw)
    else:
        est = difference_in_means(t.mean_stats(), b.mean_stats(), **kw)
    return replace(est, scene=pair.scene, branch=pair.comparison.branch, slice_tag=pair.slice_tag,
                   slice_value=pair.slice_value)


def _key(goal: str, comparison: str, slice_tag: str | None, slice_value: str | None) -> tuple[str, str, str, str]:
    return goal, comparison, slice_tag or "", slice_value or ""


def _sequential(goal: GoalPlan, est: Estimate, previous: Mapping[tuple[str, str, str, str], Mapping[str, Any]],
                inputs: SceneInputs, as_of: dt.date) -> dict[str, Any]:
    """The always-valid interval of this look, intersected with the latest earlier look's."""
    plan = goal.sequential
    if plan is None or not math.isfinite(est.se) or est.se <= 0:
        return {"seq_ci_low": None, "seq_ci_high": None, "seq_p_value": None, "tau2": None}
    before = previous.get(_key(goal.name, est.comparison, est.slice_tag, est.slice_value))
    tau2 = before.get("tau2") if before else None
    if tau2 is None or not tau2 > 0:
        if plan.tau2 is not None:
            tau2 = plan.tau2
        else:
            elapsed = (as_of - inputs.first_date).days + 1 if inputs.first_date else 1
            horizon = plan.horizon_days or DEFAULT_HORIZON_DAYS
            tau2 = tau2_for(est.se ** 2 * min(1.0, elapsed / horizon), est.alpha)
    look = confidence_sequence([est.effect], [est.se], tau2=float(tau2), alpha=est.alpha)[0]
    low, high, p = look.ci_low, look.ci_high, look.p_value
    if before and before.get("seq_ci_low") is not None:
        low, high = max(low, before["seq_ci_low"]), min(high, before["seq_ci_high"])
        earlier = before.get("seq_p_value")
        p = min(p, float(earlier) if earlier is not None else 1.0)
    return {"seq_ci_low": low, "seq_ci_high": high, "seq_p_value": p, "tau2": float(tau2)}


def _latest_previous(rows: Sequence[Mapping[str, Any]], as_of: dt.date) -> dict[tuple[str, str, str, str], Mapping[str, Any]]:
    latest: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for r in sorted((r for r in rows if r["dt"] < as_of), key=lambda r: r["dt"]):
        latest[_key(r["goal"], r["comparison"], r.get("slice_tag"), r.get("slice_value"))] = r
    return latest


def analyse_scene(scene: Scene, inputs: SceneInputs, as_of: dt.date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``effect_results`` and ``effect_health`` rows of one scene for ``as_of``."""
    plan = scene.analysis
    checks = srm_results(scene, inputs.exposed)
    health = health_rows(scene, inputs, checks)
    if plan is None:
        return [], health
    previous = _latest_previous(inputs.previous, as_of)
    goals = {g.name: g for g in plan.goals}
    found: list[tuple[GoalPlan, Pair, Estimate | None]] = []
    for goal in plan.goals:
        for pair in pairs(inputs.cells, plan.comparisons, goal.name):
            found.append((goal, pair, estimate(goal, pair)))
    estimates = mark_untrusted([e for _, _, e in found if e is not None], checks)
    flat = {i for i, (_, pair, e) in enumerate(p for p in found if p[2] is not None) if _flat(goals[pair.goal], pair)}
    seq = {id_: _sequential(goals[e.metric], e, previous, inputs, as_of) for id_, e in enumerate(estimates)}
    # the p-value a family is corrected on: the always-valid one where the goal is sequential
    # a degenerate estimate (an arm without variance) is not tested: NaN is not counted in the family
    tested = [replace(e, p_value=NAN) if i in flat else
              replace(e, p_value=seq[i]["seq_p_value"]) if seq[i]["seq_p_value"] is not None else e
              for i, e in enumerate(estimates)]
    q_values: dict[int, float] = {}
    families: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(tested):
        goal = goals[e.metric]
        families.setdefault((goal.role, goal.correction), []).append(i)
    for (_, method), members in families.items():
        adjusted = adjust([tested[i] for i in members], method)  # type: ignore[arg-type]
        q_values.update({i: a.q_value for i, a in zip(members, adjusted, strict=True) if a.q_value is not None})
    rows = []
    index = iter(range(len(estimates)))
    for goal, pair, raw in found:
        if raw is None:
            rows.append(_row(goal, pair, None, {}, None, inputs.receipts))
            continue
        i = next(index)
        rows.append(_row(goal, pair, estimates[i], seq[i], q_values.get(i), inputs.receipts, degenerate=i in flat))
    return rows, health


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def _flat(goal: GoalPlan, pair: Pair) -> bool:
    """An arm whose users all have the same value (a 0% or 100% conversion, no spread): its variance
    estimate is 0, so a Wald or Welch interval ignores that arm's sampling error (0 of 29 control
    users converting gives a p-value near 0 where an exact test gives 0.05 or more): not tested."""
    arms = (pair.treatment, pair.baseline)
    if goal.metric.type == "ratio":
        return any(a.ratio_stats().denominator.var == 0 or a.sum("sum_den") == 0 for a in arms)
    return any(a.mean_stats().var == 0 for a in arms)


def _row(goal: GoalPlan, pair: Pair, est: Estimate | None, seq: Mapping[str, Any], q: float | None,
         receipts: bool, *, degenerate: bool = False) -> dict[str, Any]:
    c = pair.comparison
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row |= {
        "scene": pair.scene, "goal": goal.name, "role": goal.role, "metric_type": goal.metric.type,
        "comparison": c.name, "kind": c.kind, "branch": c.branch, "slice_tag": pair.slice_tag,
        "slice_value": pair.slice_value, "n_treatment": pair.treatment.n, "n_baseline": pair.baseline.n,
        "correction": goal.correction, "alpha": goal.alpha}
    if goal.cost is not None:
        row |= {"touches": pair.treatment.touches, "reach": pair.treatment.reached, "currency": goal.cost.currency,
                "reach_source": "export_receipts" if receipts else "assigned_treatment"}
    if est is None:
        return {**row, "status": "no_users", "trusted": None, "significant": False}
    degenerate = degenerate or not math.isfinite(est.se) or est.se <= 0
    sig_p = q if q is not None else NAN
    row.update({
        "method": est.method, "status": "degenerate" if degenerate else "ok",
        "mean_treatment": est.mean_treatment, "mean_baseline": est.mean_control, "effect": est.effect, "se": est.se,
        "ci_low": est.ci_low, "ci_high": est.ci_high, "p_value": est.p_value, "q_value": q,
        "relative": est.relative, "rel_ci_low": est.rel_ci_low, "rel_ci_high": est.rel_ci_high,
        "theta": est.theta, "variance_reduction": est.variance_reduction, **seq, "trusted": est.trusted,
        "significant": bool(sig_p <= goal.alpha) and not degenerate})
    if goal.metric.type != "ratio":
        inc = incremental(est)
        row.update({"incremental": inc.value, "incremental_low": inc.ci_low, "incremental_high": inc.ci_high})
        if goal.cost is not None:
            cost = goal.cost.per_touch * pair.treatment.touches
            row.update({"cost": cost, "cost_per_reached": cost_per_reached(cost, pair.treatment.reached)})
            if goal.metric.type == "conversion":
                per = cost_per_incremental(cost, inc)
                row.update({"cost_per_incremental": per.value, "cost_per_incremental_low": per.ci_low,
                            "cost_per_incremental_high": per.ci_high})
    return {k: _finite(v) if isinstance(v, float) else v for k, v in row.items()}
