"""The effect-analysis tables (issue 19, point 4): exposures, sufficient statistics, results, health.

Written by ``jobs/analyze_effects.py`` (:mod:`tagfactory.analysis.job`) for one as-of date ``dt``:
every table is partitioned by ``dt`` and the job replaces the date's partition (a re-run of a date
gives the same rows; earlier dates stay, so ``effect_results`` is the cumulative daily time series).
Registered through :func:`tagfactory.contracts.tables.table_spec`, so the manifest lists them with
the entity's other tables and ``maintain_tables`` compacts and vacuums them.

* ``effect_exposures_<e>``: one row per scene and key: the first assignment date and the branch,
  group and variant of that first assignment (frozen), as of ``dt``;
* ``effect_stats_<e>``: the additive sufficient statistics of every cell (scene, goal, branch,
  group, variant, slice) over the users whose goal window matured by ``dt`` (the contract of
  ``tagfactory/effects/README.md``);
* ``effect_results_<e>``: one row per scene, goal, comparison and slice: estimate, intervals,
  p- and q-values, SRM trust, sequential interval, incremental conversions or revenue and cost;
* ``effect_health_<e>``: per scene and branch: the sample-ratio-mismatch check, users whose group
  changed (must be 0) and users seen in several branches.
"""

from __future__ import annotations

from collections.abc import Callable

from tagfactory.contracts.tables import Column, Kind, TableSpec, column

_DT = column("dt", "date", "as-of date of the analysis (partition)", nullable=False)
_SCENE = column("scene", "string", "scene name", nullable=False)
_GOAL = column("goal", "string", "goal name", nullable=False)
_SLICE = [column("slice_tag", "string", "the slicing tag; null for the total"),
          column("slice_value", "string", "the slice value (top values, the rest \"(other)\")")]


def _exposures(key: str) -> list[Column]:
    return [_SCENE,
            column(key, "string", f"the entity key ({key}) as a string", nullable=False),
            column("first_date", "date", "the key's first assignment date in the scene (the anchor)", nullable=False),
            column("branch", "string", "branch of the first assignment (frozen)", nullable=False),
            column("group", "string", "treatment | control | holdout of the first assignment (frozen)"),
            column("variant", "string", "variant of the first assignment (frozen)"),
            column("days_assigned", "bigint", "assignment dates of the key in the scene up to dt"), _DT]


def _stats(key: str) -> list[Column]:
    return [_SCENE, _GOAL,
            column("metric_type", "string", "conversion | mean | count | ratio", nullable=False),
            column("branch", "string", "frozen branch", nullable=False),
            column("group", "string", "frozen group"),
            column("variant", "string", "frozen variant"),
            *_SLICE,
            column("n", "bigint", "users of the cell whose window matured (or every user: include_in_progress)",
                   nullable=False),
            column("sum_y", "double", "sum of the per-user value y (conversion, mean, count)"),
            column("sum_y_sq", "double", "sum of y^2"),
            column("sum_x", "double", "sum of the CUPED covariate x (goals with a covariate)"),
            column("sum_x_sq", "double", "sum of x^2"),
            column("sum_xy", "double", "sum of x*y"),
            column("sum_num", "double", "ratio: sum of the per-user numerator a"),
            column("sum_den", "double", "ratio: sum of the per-user denominator b"),
            column("sum_num_sq", "double", "ratio: sum of a^2"),
            column("sum_den_sq", "double", "ratio: sum of b^2"),
            column("sum_num_den", "double", "ratio: sum of a*b"),
            column("cap", "double", "the cap applied to y (the percentile over the scene's counted users)"),
            column("touches", "bigint", "goals with a cost: treatment assignment days of the cell's users inside "
                   "their windows (on delivered dates when the scene has export receipts)"),
            column("reached", "bigint", "goals with a cost: users of the cell with at least one touch"),
            _DT]


def _results(key: str) -> list[Column]:
    d = "double"
    return [_SCENE, _GOAL,
            column("role", "string", "primary | guardrail"),
            column("metric_type", "string", "conversion | mean | count | ratio"),
            column("comparison", "string", "<branch>:<treatment>_vs_<baseline>", nullable=False),
            column("kind", "string", "treatment_vs_control | treatment_vs_holdout | variant_vs_variant"),
            column("branch", "string", "the comparison's branch"),
            *_SLICE,
            column("method", "string", "wald | welch | delta_ratio | cuped"),
            column("status", "string", "ok | no_users (no matured user in an arm yet) | degenerate"),
            column("n_treatment", "bigint"), column("n_baseline", "bigint"),
            column("mean_treatment", d, "treatment mean (CUPED: adjusted; ratio: the ratio)"),
            column("mean_baseline", d, "baseline mean"),
            column("effect", d, "treatment - baseline"), column("se", d, "standard error"),
            column("ci_low", d), column("ci_high", d), column("p_value", d),
            column("q_value", d, "p-value adjusted across the scene's family (goals x comparisons x slices)"),
            column("correction", "string", "bh | holm | none"), column("alpha", d),
            column("relative", d, "relative lift treatment / baseline - 1"),
            column("rel_ci_low", d), column("rel_ci_high", d),
            column("theta", d, "CUPED theta"), column("variance_reduction", d, "CUPED: 1 - se^2 adjusted / unadjusted"),
            column("seq_ci_low", d, "always-valid (mSPRT) interval, intersected over the daily looks"),
            column("seq_ci_high", d), column("seq_p_value", d, "always-valid p-value (running minimum)"),
            column("tau2", d, "mixing variance of the sequence (fixed at its first look)"),
            column("trusted", "boolean", "False: the scene's or branch's sample-ratio-mismatch check failed"),
            column("significant", "boolean", "the interval excludes 0 and q <= alpha (the sequential one when enabled)"),
            column("incremental", d, "incremental conversions (conversion) or value (mean, count) over the "
                   "treatment users"), column("incremental_low", d), column("incremental_high", d),
            column("touches", "bigint", "treatment touches counted for the cost"),
            column("reach", "bigint", "treatment users reached"),
            column("reach_source", "string", "export_receipts | assigned_treatment"),
            column("cost", d, "touches x cost per touch"), column("currency", "string"),
            column("cost_per_reached", d), column("cost_per_incremental", d, "cost / incremental (conversion goals)"),
            column("cost_per_incremental_low", d), column("cost_per_incremental_high", d, "inf: unbounded"),
            _DT]


def _health(key: str) -> list[Column]:
    return [_SCENE,
            column("branch", "string", "branch (frozen at the first assignment)", nullable=False),
            column("users", "bigint", "exposed users of the branch", nullable=False),
            column("observed", "string", "JSON {arm: users} (holdout, control, treatment or its variants)"),
            column("expected", "string", "JSON {arm: users} expected from the configured split"),
            column("srm_chi2", "double", "Pearson chi-square of observed against expected"),
            column("srm_df", "bigint"),
            column("srm_p_value", "double", "p below the threshold (0.001) marks the branch's results untrusted"),
            column("srm_passed", "boolean"),
            column("group_changes", "bigint", "users whose group or variant changed within the branch (must be 0)",
                   nullable=False),
            column("users_in_several_branches", "bigint", "users of the branch also assigned to another branch "
                   "of the scene on some date (they count in their first branch)", nullable=False),
            _DT]


_SPECS: dict[str, tuple[str, Callable[[str], list[Column]]]] = {
    "effect_exposures": ("One row per scene and key as of dt: the first assignment date and the branch, group and "
                         "variant of that first assignment (frozen).", _exposures),
    "effect_stats": ("Additive sufficient statistics per scene, goal, frozen branch, group, variant and slice over "
                     "the users whose goal window matured by dt.", _stats),
    "effect_results": ("Effect of every scene goal per comparison and slice as of dt (the daily cumulative series): "
                       "estimates, intervals, q-values, trust, incremental value and cost.", _results),
    "effect_health": ("Per scene and branch as of dt: sample-ratio mismatch, group changes (must be 0), users in "
                      "several branches.", _health),
}


def effect_table_spec(kind: Kind, name: str, *, key: str = "user_id") -> TableSpec:
    """The spec of one effect-analysis table (``kind`` one of ``EFFECT_KINDS``)."""
    description, columns = _SPECS[kind]
    return TableSpec(name=name, kind=kind, description=description, columns=columns(key), produced_by="analyze_effects")
