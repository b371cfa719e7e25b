"""The effect estimates against independent computations: scipy's Welch t-test, statsmodels' Wald
interval of two proportions, a hand derivation and a bootstrap of the delta-method ratio, and the
incremental / cost arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import proportion

from tagfactory.effects import (
    Interval,
    MeanStats,
    RatioStats,
    cost_per_incremental,
    cost_per_reached,
    difference_in_means,
    difference_in_proportions,
    incremental,
    ratio_difference,
)

RNG_SEED = 20261202


@pytest.mark.parametrize("n_t,n_c,scale_t,scale_c", [(50, 80, 1.0, 3.0), (1000, 900, 2.0, 2.0),
                                                     (12, 400, 5.0, 0.5)])
def test_welch_matches_scipy_ttest_ind_from_stats(n_t: int, n_c: int, scale_t: float, scale_c: float) -> None:
    rng = np.random.default_rng(RNG_SEED + n_t)
    y_t, y_c = rng.normal(10.3, scale_t, n_t), rng.normal(10.0, scale_c, n_c)
    t, c = MeanStats.from_values(y_t), MeanStats.from_values(y_c)
    est = difference_in_means(t, c, metric="revenue", comparison="treatment_vs_control")
    ref = stats.ttest_ind_from_stats(y_t.mean(), y_t.std(ddof=1), n_t, y_c.mean(), y_c.std(ddof=1), n_c,
                                     equal_var=False)
    assert est.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # the interval from the Welch df: scipy's raw-data test gives both df and its interval
    raw = stats.ttest_ind(y_t, y_c, equal_var=False)
    assert est.df == pytest.approx(raw.df, rel=1e-9)
    ci = raw.confidence_interval(0.95)
    assert (est.ci_low, est.ci_high) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
    assert est.effect == pytest.approx(y_t.mean() - y_c.mean())
    assert (est.n_treatment, est.n_control) == (n_t, n_c)


def test_wald_two_proportions_match_hand_formula_and_statsmodels() -> None:
    count_t, n_t, count_c, n_c = 230, 2000, 180, 1900
    t, c = MeanStats(n_t, count_t, count_t), MeanStats(n_c, count_c, count_c)
    est = difference_in_proportions(t, c, metric="conversion_7d", comparison="treatment_vs_control", alpha=0.1)
    pt, pc = count_t / n_t, count_c / n_c
    se = math.sqrt(pt * (1 - pt) / n_t + pc * (1 - pc) / n_c)
    z = stats.norm.ppf(0.95)
    assert est.effect == pytest.approx(pt - pc)
    assert est.se == pytest.approx(se)
    assert (est.ci_low, est.ci_high) == (pytest.approx(pt - pc - z * se), pytest.approx(pt - pc + z * se))
    low, high = proportion.confint_proportions_2indep(count_t, n_t, count_c, n_c, method="wald", compare="diff", alpha=0.1)
    assert (est.ci_low, est.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    ref = proportion.test_proportions_2indep(count_t, n_t, count_c, n_c, method="wald", compare="diff")
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert est.df == math.inf


def test_a_proportion_outside_0_and_1_is_refused() -> None:
    with pytest.raises(ValueError, match="converted"):
        difference_in_proportions(MeanStats(10, 11, 11), MeanStats(10, 1, 1), metric="m", comparison="c")


def test_relative_lift_is_the_delta_method_by_hand() -> None:
    rng = np.random.default_rng(RNG_SEED)
    y_t, y_c = rng.exponential(12.0, 3000), rng.exponential(10.0, 2500)
    est = difference_in_means(MeanStats.from_values(y_t), MeanStats.from_values(y_c), metric="m", comparison="c")
    mt, mc = y_t.mean(), y_c.mean()
    vt, vc = y_t.var(ddof=1) / y_t.size, y_c.var(ddof=1) / y_c.size
    # gradient of f(a, b) = a / b - 1 is (1 / b, -a / b^2)
    se = math.sqrt(vt / mc**2 + vc * mt**2 / mc**4)
    assert est.relative == pytest.approx(mt / mc - 1)
    assert est.rel_ci_low == pytest.approx(mt / mc - 1 - 1.959963984540054 * se)
    assert est.rel_ci_high == pytest.approx(mt / mc - 1 + 1.959963984540054 * se)


def _ratio_hand(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """The ratio and its delta-method variance written out from the per-user arrays."""
    n = num.size
    a, b = num.mean(), den.mean()
    cov = np.cov(num, den, ddof=1)
    grad = np.array([1 / b, -a / b**2])
    return a / b, float(grad @ cov @ grad) / n


def test_ratio_delta_method_matches_hand_derivation_and_bootstrap() -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    n_t, n_c = 4000, 3500
    orders_t, orders_c = rng.poisson(1.3, n_t), rng.poisson(1.2, n_c)
    revenue_t = orders_t * rng.gamma(4.0, 12.0, n_t) + rng.normal(0, 2, n_t) * orders_t
    revenue_c = orders_c * rng.gamma(4.0, 11.0, n_c) + rng.normal(0, 2, n_c) * orders_c
    t, c = RatioStats.from_values(revenue_t, orders_t), RatioStats.from_values(revenue_c, orders_c)
    est = ratio_difference(t, c, metric="revenue_per_order", comparison="treatment_vs_control")
    (rt, vt), (rc, vc) = _ratio_hand(revenue_t, orders_t), _ratio_hand(revenue_c, orders_c)
    assert est.effect == pytest.approx(rt - rc, rel=1e-9)
    assert est.se == pytest.approx(math.sqrt(vt + vc), rel=1e-6)
    # the bootstrap (users resampled within each arm) agrees with the delta-method standard error
    boot = np.empty(1000)
    for i in range(boot.size):
        it, ic = rng.integers(0, n_t, n_t), rng.integers(0, n_c, n_c)
        boot[i] = revenue_t[it].sum() / orders_t[it].sum() - revenue_c[ic].sum() / orders_c[ic].sum()
    assert est.se == pytest.approx(boot.std(ddof=1), rel=0.1)
    assert est.mean_treatment == pytest.approx(revenue_t.sum() / orders_t.sum())


def test_degenerate_cells_give_nan_not_an_error() -> None:
    est = difference_in_means(MeanStats(1, 5.0, 25.0), MeanStats(0, 0.0, 0.0), metric="m", comparison="c")
    assert math.isnan(est.p_value) and math.isnan(est.effect)
    same = difference_in_means(MeanStats(3, 3.0, 3.0), MeanStats(3, 3.0, 3.0), metric="m", comparison="c")
    assert same.effect == 0 and math.isnan(same.p_value)


def test_incremental_conversions_and_cost_per_conversion() -> None:
    t, c = MeanStats(10_000, 1_200, 1_200), MeanStats(10_000, 1_000, 1_000)
    est = difference_in_proportions(t, c, metric="conversion_7d", comparison="treatment_vs_control")
    inc = incremental(est)
    assert inc.value == pytest.approx(200)
    assert (inc.ci_low, inc.ci_high) == (pytest.approx(est.ci_low * 10_000), pytest.approx(est.ci_high * 10_000))
    assert incremental(est, treated=5_000).value == pytest.approx(100)
    cost = cost_per_incremental(1_000.0, inc)
    assert cost.value == pytest.approx(5.0)
    assert cost.ci_low == pytest.approx(1_000 / inc.ci_high) and cost.ci_high == pytest.approx(1_000 / inc.ci_low)
    unbounded = cost_per_incremental(1_000.0, Interval(50.0, -10.0, 110.0))
    assert unbounded.ci_high == math.inf and unbounded.value == pytest.approx(20.0)
    assert cost_per_reached(1_000.0, 8_000) == pytest.approx(0.125)
    assert math.isnan(cost_per_reached(1_000.0, 0))
