"""Seeded calibration simulations of the effect statistics (vectorised numpy, each a few seconds).

* A/A with 30 daily looks: the fixed single look (the last day) rejects about 5% of the time; naive
  daily peeking (reject at any look) far more often; the always-valid mSPRT interval at most 5%.
* 95% intervals with a planted effect cover it about 95% of the time: Welch, two-proportion Wald,
  relative lift, delta-method ratio, CUPED; the confidence sequence covers it at every look at once.

The measured figures are printed (run with ``-s``) and written to ``target/effects_calibration.json``;
tagfactory/effects/README.md quotes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest

from tagfactory.effects import (
    CovariateStats,
    MeanStats,
    RatioStats,
    cuped,
    difference_in_means,
    difference_in_proportions,
    ratio_difference,
    tau2_for,
)
from tagfactory.effects.estimates import normal_kernel, welch_kernel
from tagfactory.effects.sequential import running_interval
from tests.unit.definitions import REPO

FIGURES: dict[str, dict[str, float]] = {}
LOOKS = 30
ALPHA = 0.05


def _slack(rate: float, n: int) -> float:
    """Three Monte Carlo standard errors of a rate estimated from ``n`` experiments."""
    return 3 * math.sqrt(rate * (1 - rate) / n)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    out = REPO / "target" / "effects_calibration.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print("\neffect statistics calibration:")
    for name, figures in sorted(FIGURES.items()):
        print(f"  {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))


def _peeking(name: str, effect: np.ndarray, se: np.ndarray, p: np.ndarray, planned_var: float,
             experiments: int) -> dict[str, float]:
    """Rejection rates over ``experiments`` x ``LOOKS`` cumulative looks of an A/A test."""
    tau2 = tau2_for(planned_var, ALPHA)
    low, high = running_interval(effect, se**2, tau2, ALPHA)
    figures = {
        "experiments": experiments,
        "looks": LOOKS,
        "fixed_last_look": float(np.mean(p[:, -1] < ALPHA)),
        "naive_any_look": float(np.mean((p < ALPHA).any(axis=1))),
        "sequential_any_look": float(np.mean(((low > 0) | (high < 0)).any(axis=1))),
        "sequential_last_look_halfwidth_vs_fixed": float(np.mean((high - low)[:, -1] / (2 * 1.96 * se[:, -1]))),
    }
    FIGURES[name] = figures
    return figures


def _check_peeking(figures: dict[str, float], experiments: int) -> None:
    assert 0.035 <= figures["fixed_last_look"] <= 0.065
    assert figures["naive_any_look"] > 0.12
    assert figures["sequential_any_look"] <= ALPHA + _slack(ALPHA, experiments)


def test_aa_conversion_with_daily_looks() -> None:
    """Binary 7-day conversion, 200 new users per arm and day, p = 10%, two-proportion Wald."""
    rng = np.random.default_rng(1)
    experiments, per_day, rate = 4000, 200, 0.10
    counts = rng.binomial(per_day, rate, size=(2, experiments, LOOKS)).cumsum(axis=2)
    n = per_day * np.arange(1, LOOKS + 1)
    pt, pc = counts[0] / n, counts[1] / n
    se = np.sqrt(pt * (1 - pt) / n + pc * (1 - pc) / n)
    effect = pt - pc
    _, p, _, _ = normal_kernel(effect, se, ALPHA)
    figures = _peeking("aa_conversion_wald", effect, se, np.asarray(p),
                       2 * rate * (1 - rate) / (per_day * LOOKS), experiments)
    _check_peeking(figures, experiments)


def test_aa_revenue_with_daily_looks() -> None:
    """Skewed revenue per user (log-normal), 40 new users per arm and day, Welch."""
    rng = np.random.default_rng(2)
    experiments, per_day = 2500, 40
    y = rng.lognormal(2.0, 1.0, size=(2, experiments, LOOKS, per_day))
    s, ss = y.sum(axis=3).cumsum(axis=2), (y * y).sum(axis=3).cumsum(axis=2)
    n = per_day * np.arange(1, LOOKS + 1)
    mean = s / n
    var = (ss - s * s / n) / (n - 1)
    effect, se, _, _, p, _, _ = welch_kernel(mean[0], var[0], n, mean[1], var[1], n, ALPHA)
    planned = 2 * float(np.exp(2 * 2.0 + 1.0) * (np.e - 1)) / (per_day * LOOKS)  # Var lognormal(2, 1)
    figures = _peeking("aa_revenue_welch", np.asarray(effect), np.asarray(se), np.asarray(p), planned, experiments)
    _check_peeking(figures, experiments)


def _coverage(name: str, covered: np.ndarray, **extra: float) -> float:
    rate = float(np.mean(covered))
    FIGURES[name] = {"experiments": covered.size, "coverage": rate, **extra}
    return rate


def _assert_coverage(rate: float) -> None:
    assert 0.935 <= rate <= 0.965


def test_welch_and_relative_lift_cover_a_planted_effect() -> None:
    rng = np.random.default_rng(3)
    reps, n_t, n_c = 3000, 400, 600
    y_t = rng.lognormal(2.0, 0.8, size=(reps, n_t)) * 1.15  # +15%: mean and relative lift both known
    y_c = rng.lognormal(2.0, 0.8, size=(reps, n_c))
    mu_c = math.exp(2.0 + 0.8**2 / 2)
    abs_hit, rel_hit = np.empty(reps, dtype=bool), np.empty(reps, dtype=bool)
    for i in range(reps):
        est = difference_in_means(MeanStats.from_values(y_t[i]), MeanStats.from_values(y_c[i]),
                                  metric="revenue", comparison="treatment_vs_control")
        abs_hit[i] = est.ci_low <= 0.15 * mu_c <= est.ci_high
        rel_hit[i] = est.rel_ci_low <= 0.15 <= est.rel_ci_high
    _assert_coverage(_coverage("coverage_welch_difference", abs_hit))
    _assert_coverage(_coverage("coverage_relative_lift_delta", rel_hit))


def test_wald_proportions_cover_a_planted_effect() -> None:
    rng = np.random.default_rng(4)
    reps, n = 4000, 2000
    k_t, k_c = rng.binomial(n, 0.12, reps), rng.binomial(n, 0.10, reps)
    hits = np.empty(reps, dtype=bool)
    for i, (a, b) in enumerate(zip(k_t.tolist(), k_c.tolist(), strict=True)):
        est = difference_in_proportions(MeanStats(n, a, a), MeanStats(n, b, b), metric="conversion_7d",
                                        comparison="t_vs_c")
        hits[i] = est.ci_low <= 0.02 <= est.ci_high
    _assert_coverage(_coverage("coverage_wald_proportions", hits))


def test_ratio_delta_method_covers_a_planted_effect() -> None:
    """Revenue per order: orders ~ Poisson(1.2) per user, order value mean 50 vs 45."""
    rng = np.random.default_rng(5)
    reps, n = 3000, 800
    hits = np.empty(reps, dtype=bool)
    orders = rng.poisson(1.2, size=(2, reps, n))
    value = rng.gamma(4.0, np.array([50.0, 45.0])[:, None, None] / 4.0, size=(2, reps, n))
    revenue = orders * value
    for i in range(reps):
        est = ratio_difference(RatioStats.from_values(revenue[0, i], orders[0, i]),
                               RatioStats.from_values(revenue[1, i], orders[1, i]),
                               metric="revenue_per_order", comparison="t_vs_c")
        hits[i] = est.ci_low <= 5.0 <= est.ci_high
    _assert_coverage(_coverage("coverage_ratio_delta", hits))


def test_cuped_covers_a_planted_effect_with_less_variance() -> None:
    rng = np.random.default_rng(6)
    reps, n = 3000, 500
    x = rng.gamma(3.0, 2.0, size=(2, reps, n))
    y = 1.0 + 0.7 * x + rng.normal(0, 1.5, size=(2, reps, n))
    y[0] += 0.3
    hits, reduction = np.empty(reps, dtype=bool), np.empty(reps)
    for i in range(reps):
        est = cuped(CovariateStats.from_values(y[0, i], x[0, i]), CovariateStats.from_values(y[1, i], x[1, i]),
                    metric="m", comparison="t_vs_c")
        hits[i] = est.ci_low <= 0.3 <= est.ci_high
        reduction[i] = est.variance_reduction or 0.0
    rate = _coverage("coverage_cuped", hits, mean_variance_reduction=float(reduction.mean()))
    _assert_coverage(rate)
    explained = 0.49 * 12.0 / (0.49 * 12.0 + 2.25)
    assert reduction.mean() == pytest.approx(explained, abs=0.02)


def test_confidence_sequence_covers_a_planted_effect_at_every_look() -> None:
    rng = np.random.default_rng(7)
    experiments, per_day = 4000, 200
    counts_t = rng.binomial(per_day, 0.12, size=(experiments, LOOKS)).cumsum(axis=1)
    counts_c = rng.binomial(per_day, 0.10, size=(experiments, LOOKS)).cumsum(axis=1)
    n = per_day * np.arange(1, LOOKS + 1)
    pt, pc = counts_t / n, counts_c / n
    se = np.sqrt(pt * (1 - pt) / n + pc * (1 - pc) / n)
    tau2 = tau2_for(float((0.12 * 0.88 + 0.1 * 0.9) / (per_day * LOOKS)), ALPHA)
    low, high = running_interval(pt - pc, se**2, tau2, ALPHA)
    covered_always = ((low <= 0.02) & (0.02 <= high)).all(axis=1)
    rate = _coverage("coverage_sequence_all_looks", covered_always,
                     power_last_look_sequential=float(np.mean(low[:, -1] > 0)),
                     power_last_look_fixed=float(np.mean((pt - pc - 1.96 * se)[:, -1] > 0)))
    assert rate >= 1 - ALPHA - _slack(ALPHA, experiments)
