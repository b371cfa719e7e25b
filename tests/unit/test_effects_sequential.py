"""The mixture sequential test: its likelihood ratio in Johari et al.'s two-sample form, the interval
as the set of effects it does not reject, monotone looks, and the tuned mixing variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from tagfactory.effects import confidence_sequence, tau2_for
from tagfactory.effects.sequential import halfwidth, p_value


def test_p_value_is_johari_et_al_two_sample_mixture_ratio() -> None:
    # Johari, Koomen, Pekelis & Walsh (2017), eq. for two normal streams with n users per arm and known
    # per-user variance sigma^2: Lambda = sqrt(2s2 / (2s2 + n tau2)) exp(n^2 tau2 d^2 / (4 s2 (2s2 + n tau2)))
    sigma2, tau2 = 4.0, 0.05
    for n, d in ((100, 0.3), (1000, 0.1), (5000, 0.02), (20000, -0.08)):
        lam = math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
            n**2 * tau2 * d**2 / (4 * sigma2 * (2 * sigma2 + n * tau2)))
        assert float(p_value(d, 2 * sigma2 / n, tau2)) == pytest.approx(min(1.0, 1 / lam), rel=1e-12)


def test_the_interval_is_where_the_test_does_not_reject() -> None:
    v, tau2, alpha = 0.004, 0.01, 0.05
    h = float(halfwidth(v, tau2, alpha))
    # at the edge of the interval the p-value of "effect = edge" is exactly alpha
    assert float(p_value(h, v, tau2)) == pytest.approx(alpha, rel=1e-9)
    assert float(p_value(0.99 * h, v, tau2)) > alpha > float(p_value(1.01 * h, v, tau2))
    # always wider than the fixed-horizon interval
    assert h > 1.96 * math.sqrt(v)


def test_looks_are_monotone_and_p_values_never_rise() -> None:
    rng = np.random.default_rng(11)
    effects = 0.05 + rng.normal(0, 0.02, 30) / np.sqrt(np.arange(1, 31))
    ses = 0.1 / np.sqrt(np.arange(1, 31))
    looks = confidence_sequence(effects.tolist(), ses.tolist(), tau2=0.01)
    assert [look.look for look in looks] == list(range(1, 31))
    assert all(a.ci_low <= b.ci_low and a.ci_high >= b.ci_high for a, b in zip(looks, looks[1:], strict=False))
    assert all(a.p_value >= b.p_value for a, b in zip(looks, looks[1:], strict=False))
    assert looks[0].ci_low == pytest.approx(effects[0] - float(halfwidth(ses[0] ** 2, 0.01)))
    with pytest.raises(ValueError):
        confidence_sequence([0.1], [0.1, 0.2], tau2=0.01)
    with pytest.raises(ValueError):
        halfwidth(0.1, 0.0)


def test_tau2_for_minimises_the_width_at_the_planned_variance() -> None:
    v = 0.0025
    tau2 = tau2_for(v)
    best = optimize.minimize_scalar(lambda t: float(halfwidth(v, t)), bounds=(1e-8, 1.0), method="bounded",
                                    options={"xatol": 1e-12})
    assert float(halfwidth(v, tau2)) == pytest.approx(float(halfwidth(v, best.x)), rel=1e-6)
    assert float(halfwidth(v, tau2)) < min(float(halfwidth(v, tau2 * 3)), float(halfwidth(v, tau2 / 3)))
