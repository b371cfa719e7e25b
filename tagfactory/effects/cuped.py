"""CUPED (Deng, Xu, Kohavi & Walker 2013): a pre-period covariate removes variance from the effect.

``theta`` is the pooled within-arm regression slope of the metric on the covariate,
``sum_k Sxy_k / sum_k Sxx_k`` — the covariate coefficient of the OLS ``y ~ 1 + treatment + x`` — so
the adjusted effect ``(ybar_t - ybar_c) - theta (xbar_t - xbar_c)`` equals that regression's treatment
coefficient. Each arm's adjusted mean is ``ybar_k - theta (xbar_k - xbar)`` (``xbar`` over both arms);
its variance per user ``Var y - 2 theta Cov(x, y) + theta^2 Var x``; the interval is Welch's on those.
A constant covariate has ``Sxx = 0``: theta is 0 and the estimate is the unadjusted one.
"""

from __future__ import annotations

from tagfactory.effects.estimates import Estimate, relative_kernel, scalar, welch_kernel
from tagfactory.effects.suffstats import CovariateStats

# a covariate whose pooled centred sum of squares is below this share of sum x^2 counts as constant
_CONSTANT = 1e-12


def theta(treatment: CovariateStats, control: CovariateStats) -> float:
    """The pooled within-arm slope of the metric on the covariate (0 for a constant covariate)."""
    sxx = treatment.sxx + control.sxx
    scale = treatment.sum_x_sq + control.sum_x_sq
    if sxx <= _CONSTANT * max(scale, 1.0):
        return 0.0
    return (treatment.sxy + control.sxy) / sxx


def _adjusted_var(arm: CovariateStats, th: float) -> float:
    return max(arm.metric.var - 2 * th * arm.cov + th * th * arm.covariate.var, 0.0)


def cuped(treatment: CovariateStats, control: CovariateStats, *, metric: str, comparison: str,
          alpha: float = 0.05) -> Estimate:
    """The CUPED-adjusted Welch difference in means, with theta and the variance reduction achieved
    (``1 - se_adjusted^2 / se_unadjusted^2``)."""
    th = theta(treatment, control)
    n = treatment.n + control.n
    xbar = (treatment.sum_x + control.sum_x) / n if n else 0.0
    means = [arm.metric.mean - th * (arm.covariate.mean - xbar) for arm in (treatment, control)]
    variances = [_adjusted_var(arm, th) for arm in (treatment, control)]
    effect, se, df, t, p, lo, hi = welch_kernel(means[0], variances[0], treatment.n,
                                                means[1], variances[1], control.n, alpha)
    raw_se = welch_kernel(treatment.metric.mean, treatment.metric.var, treatment.n,
                          control.metric.mean, control.metric.var, control.n, alpha)[1]
    reduction = 1 - scalar(se) ** 2 / scalar(raw_se) ** 2 if scalar(raw_se) > 0 else 0.0
    rel, rlo, rhi = relative_kernel(means[0], variances[0] / treatment.n if treatment.n else float("nan"),
                                    means[1], variances[1] / control.n if control.n else float("nan"), alpha)
    return Estimate(metric, comparison, "cuped", scalar(effect), scalar(se), scalar(lo), scalar(hi), scalar(p), scalar(t), scalar(df),
                    alpha, means[0], means[1], treatment.n, control.n, scalar(rel), scalar(rlo), scalar(rhi),
                    theta=th, variance_reduction=reduction)
