"""Treatment-vs-control estimates from sufficient statistics (driver-side, numpy/scipy only).

Each public function takes the two arms' :mod:`~tagfactory.effects.suffstats` and returns an
:class:`Estimate`; the ``*_kernel`` functions underneath are the same formulas on numpy arrays (for
the calibration simulations and for many cells at once). Distributions come from ``scipy.special``'s
ufuncs (the t and normal cdfs and their inverses: what ``scipy.stats`` evaluates, without its per-call
overhead). Formulas and references: README.md here.

* :func:`difference_in_means` — Welch: unpooled standard error, Welch–Satterthwaite df, t interval.
* :func:`difference_in_proportions` — two-proportion Wald: ``p(1-p)/n`` variances, normal interval.
* :func:`ratio_difference` — ratio of sums per arm (revenue per order) by the delta method.
* relative lift ``mean_t / mean_c - 1`` of every estimate, with a delta-method normal interval.

Degenerate cells (an empty arm, zero variance) give NaN statistics rather than an exception: a slice
with a handful of users must not stop the daily job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tagfactory.effects.suffstats import MeanStats, RatioStats

Num = float | NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """One comparison of one metric: treatment minus control, absolute and relative."""

    metric: str
    comparison: str
    method: str  # welch | wald | delta_ratio | cuped
    effect: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float
    df: float  # inf for normal (z) intervals
    alpha: float
    mean_treatment: float
    mean_control: float
    n_treatment: int
    n_control: int
    relative: float
    rel_ci_low: float
    rel_ci_high: float
    theta: float | None = None  # CUPED only
    variance_reduction: float | None = None  # CUPED only: 1 - var(adjusted) / var(unadjusted)
    q_value: float | None = None  # filled by tagfactory.effects.multiple
    trusted: bool = True  # False once the sample-ratio-mismatch check fails
    scene: str = ""
    branch: str = ""  # "" for an estimate over the whole scene
    slice_tag: str | None = None
    slice_value: str | None = None

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (at the estimate's own alpha, before any multiplicity correction)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def scalar(x: Num) -> float:
    return float(np.asarray(x))


def welch_kernel(mean_t: Num, var_t: Num, n_t: Num, mean_c: Num, var_c: Num, n_c: Num,
                 alpha: float = 0.05) -> tuple[Num, Num, Num, Num, Num, Num, Num]:
    """Welch difference ``mean_t - mean_c`` from sample variances: (effect, se, df, t, p, low, high)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a, b = np.divide(var_t, n_t), np.divide(var_c, n_c)
        effect = np.subtract(mean_t, mean_c)
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / np.subtract(n_t, 1) + b * b / np.subtract(n_c, 1))
        t = effect / se
        p = 2 * special.stdtr(df, -np.abs(t))  # Student t cdf
        half = special.stdtrit(df, 1 - alpha / 2) * se  # its inverse
    return effect, se, df, t, p, effect - half, effect + half


def normal_kernel(effect: Num, se: Num, alpha: float = 0.05) -> tuple[Num, Num, Num, Num]:
    """Normal (z) test and interval of an effect with a standard error: (z, p, low, high)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.divide(effect, se)
        p = 2 * special.ndtr(-np.abs(z))  # standard normal cdf
        half = special.ndtri(1 - alpha / 2) * np.asarray(se)  # its inverse
    return z, p, np.subtract(effect, half), np.add(effect, half)


def relative_kernel(mean_t: Num, var_mean_t: Num, mean_c: Num, var_mean_c: Num,
                    alpha: float = 0.05) -> tuple[Num, Num, Num]:
    """Relative lift ``mean_t / mean_c - 1`` of two independent means whose variances (of the means,
    not of the users) are given, by the delta method: (lift, low, high).

    ``Var(m_t / m_c) ~= Var(m_t) / m_c^2 + m_t^2 Var(m_c) / m_c^4`` (first-order Taylor expansion)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mt, mc = np.asarray(mean_t, dtype=float), np.asarray(mean_c, dtype=float)
        lift = mt / mc - 1
        se = np.sqrt(np.asarray(var_mean_t) / mc**2 + mt**2 * np.asarray(var_mean_c) / mc**4)
        half = special.ndtri(1 - alpha / 2) * se
    return lift, lift - half, lift + half


def ratio_var_kernel(n: Num, mean_num: Num, mean_den: Num, var_num: Num, var_den: Num, cov: Num) -> Num:
    """Delta-method variance of a ratio of sums ``sum a / sum b`` over ``n`` independent users:
    ``(Var a / b^2 - 2 a Cov(a, b) / b^3 + a^2 Var b / b^4) / n`` with ``a``, ``b`` the per-user means."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a, b = np.asarray(mean_num, dtype=float), np.asarray(mean_den, dtype=float)
        v = (np.asarray(var_num) / b**2 - 2 * a * np.asarray(cov) / b**3 + a**2 * np.asarray(var_den) / b**4)
        return np.maximum(v, 0.0) / np.asarray(n)


def difference_in_means(treatment: MeanStats, control: MeanStats, *, metric: str, comparison: str,
                        alpha: float = 0.05) -> Estimate:
    """Welch difference in means (any per-user value, also 0/1), with a relative lift."""
    effect, se, df, t, p, lo, hi = welch_kernel(treatment.mean, treatment.var, treatment.n,
                                                control.mean, control.var, control.n, alpha)
    rel, rlo, rhi = relative_kernel(treatment.mean, _div(treatment.var, treatment.n),
                                    control.mean, _div(control.var, control.n), alpha)
    return Estimate(metric, comparison, "welch", scalar(effect), scalar(se), scalar(lo), scalar(hi), scalar(p), scalar(t), scalar(df),
                    alpha, treatment.mean, control.mean, treatment.n, control.n, scalar(rel), scalar(rlo), scalar(rhi))


def difference_in_proportions(treatment: MeanStats, control: MeanStats, *, metric: str, comparison: str,
                              alpha: float = 0.05) -> Estimate:
    """Two-proportion Wald difference (``sum`` counts the converted users), with a relative lift."""
    for arm in (treatment, control):
        if arm.n and not 0 <= arm.sum <= arm.n:
            raise ValueError(f"{metric}: a proportion needs 0 <= converted <= n, got {arm.sum} of {arm.n}")
    pt, pc = treatment.mean, control.mean
    vt, vc = _div(pt * (1 - pt), treatment.n), _div(pc * (1 - pc), control.n)
    effect = pt - pc
    se = float(np.sqrt(vt + vc))
    z, p, lo, hi = normal_kernel(effect, se, alpha)
    rel, rlo, rhi = relative_kernel(pt, vt, pc, vc, alpha)
    return Estimate(metric, comparison, "wald", effect, se, scalar(lo), scalar(hi), scalar(p), scalar(z), float("inf"),
                    alpha, pt, pc, treatment.n, control.n, scalar(rel), scalar(rlo), scalar(rhi))


def ratio_difference(treatment: RatioStats, control: RatioStats, *, metric: str, comparison: str,
                     alpha: float = 0.05) -> Estimate:
    """Difference of two ratios of sums (e.g. revenue per order) by the delta method, normal interval."""
    vt, vc = (_ratio_var(arm) for arm in (treatment, control))
    effect = treatment.ratio - control.ratio
    se = float(np.sqrt(vt + vc))
    z, p, lo, hi = normal_kernel(effect, se, alpha)
    rel, rlo, rhi = relative_kernel(treatment.ratio, vt, control.ratio, vc, alpha)
    return Estimate(metric, comparison, "delta_ratio", effect, se, scalar(lo), scalar(hi), scalar(p), scalar(z), float("inf"),
                    alpha, treatment.ratio, control.ratio, treatment.n, control.n, scalar(rel), scalar(rlo), scalar(rhi))


def _ratio_var(arm: RatioStats) -> float:
    num, den = arm.numerator, arm.denominator
    return scalar(ratio_var_kernel(arm.n, num.mean, den.mean, num.var, den.var, arm.cov))


def _div(a: float, b: float) -> float:
    return a / b if b else float("nan")
