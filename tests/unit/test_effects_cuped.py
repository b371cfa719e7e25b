"""CUPED against an ordinary least squares fit of ``y ~ 1 + treatment + (x - mean x)`` (statsmodels),
and its invariances: a constant covariate changes nothing, an uncorrelated one hardly anything."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from tagfactory.effects import CovariateStats, MeanStats, cuped, difference_in_means
from tagfactory.effects.cuped import theta


def _world(seed: int, n_t: int = 3000, n_c: int = 2000, effect: float = 0.4, rho: float = 0.8):
    rng = np.random.default_rng(seed)
    x_t, x_c = rng.gamma(3.0, 2.0, n_t), rng.gamma(3.0, 2.0, n_c)  # a pre-period tag value
    noise = np.sqrt(1 - rho**2) * 2.0
    y_t = 1.0 + rho * x_t + effect + rng.normal(0, noise, n_t)
    y_c = 1.0 + rho * x_c + rng.normal(0, noise, n_c)
    return y_t, x_t, y_c, x_c


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cuped_effect_and_se_match_ols_with_the_centred_covariate(seed: int) -> None:
    y_t, x_t, y_c, x_c = _world(seed)
    est = cuped(CovariateStats.from_values(y_t, x_t), CovariateStats.from_values(y_c, x_c),
                metric="revenue_7d", comparison="treatment_vs_control")
    y = np.concatenate([y_t, y_c])
    x = np.concatenate([x_t, x_c])
    treated = np.concatenate([np.ones(y_t.size), np.zeros(y_c.size)])
    design = np.column_stack([np.ones(y.size), treated, x - x.mean()])
    fit = sm.OLS(y, design).fit()
    assert est.effect == pytest.approx(fit.params[1], rel=1e-9)
    assert est.theta == pytest.approx(fit.params[2], rel=1e-9)
    # the adjusted means are the fit's predictions at the mean covariate
    assert est.mean_control == pytest.approx(fit.params[0], rel=1e-9)
    assert est.mean_treatment == pytest.approx(fit.params[0] + fit.params[1], rel=1e-9)
    # Welch-type (unpooled) standard error: close to OLS's, and to the heteroscedasticity-robust one
    assert est.se == pytest.approx(fit.bse[1], rel=0.03)
    assert est.se == pytest.approx(sm.OLS(y, design).fit(cov_type="HC2").bse[1], rel=0.01)
    raw = difference_in_means(MeanStats.from_values(y_t), MeanStats.from_values(y_c), metric="m", comparison="c")
    assert est.variance_reduction == pytest.approx(1 - est.se**2 / raw.se**2)
    # the share of Var y the covariate explains: Var(rho x) / (Var(rho x) + noise^2), x ~ Gamma(3, 2)
    explained = 0.8**2 * 12.0 / (0.8**2 * 12.0 + (1 - 0.8**2) * 4.0)
    assert est.variance_reduction == pytest.approx(explained, abs=0.03)
    assert est.ci_low < 0.4 < est.ci_high


def test_a_constant_covariate_leaves_the_estimate_unchanged() -> None:
    y_t, _, y_c, _ = _world(7)
    t = CovariateStats.from_values(y_t, np.full(y_t.size, 5.0))
    c = CovariateStats.from_values(y_c, np.full(y_c.size, 5.0))
    est = cuped(t, c, metric="m", comparison="c")
    raw = difference_in_means(t.metric, c.metric, metric="m", comparison="c")
    assert theta(t, c) == 0.0 and est.theta == 0.0
    assert est.variance_reduction == pytest.approx(0.0, abs=1e-12)
    for field in ("effect", "se", "ci_low", "ci_high", "p_value", "df", "relative", "rel_ci_low", "rel_ci_high"):
        assert getattr(est, field) == pytest.approx(getattr(raw, field), rel=1e-12), field


def test_an_unrelated_covariate_reduces_almost_nothing() -> None:
    y_t, _, y_c, _ = _world(8)
    rng = np.random.default_rng(9)
    est = cuped(CovariateStats.from_values(y_t, rng.normal(size=y_t.size)),
                CovariateStats.from_values(y_c, rng.normal(size=y_c.size)), metric="m", comparison="c")
    assert abs(est.variance_reduction) < 0.01
