"""Always-valid inference for daily looks: the normal-mixture sequential probability ratio test
(mSPRT; Robbins 1970, Johari, Koomen, Pekelis & Walsh 2017 "Peeking at A/B tests") and its
confidence sequence (Howard, Ramdas, McAuliffe & Sekhon 2021).

At a look the effect estimate is ``d`` with variance ``V`` (its squared standard error, e.g.
``s_t^2/n_t + s_c^2/n_c``). With a ``N(0, tau^2)`` mixture over the true effect the likelihood ratio
against "effect = theta0" is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 V (V + tau^2)))

and ``P(exists n: Lambda_n >= 1/alpha) <= alpha`` under the null (Ville's inequality), however many
looks. Inverting it gives the interval of every ``theta0`` not rejected,

    d +- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V))),

and the always-valid p-value ``min(1, 1/Lambda)`` at ``theta0 = 0``. Both are made monotone across looks
(running intersection of the intervals, running minimum of the p-values), which keeps the guarantee.
The plug-in variance makes it asymptotically valid (large n per look), as in the references.

``tau^2`` (in the effect's squared units) sets where the sequence is tightest; :func:`tau2_for` picks
the one that minimises the interval at a planned variance (e.g. the last planned look's ``V``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tagfactory.effects.estimates import Num


@dataclass(frozen=True)
class SequentialLook:
    """The always-valid interval and p-value at one look (cumulative data up to it)."""

    look: int
    effect: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float


def halfwidth(variance: Num, tau2: float, alpha: float = 0.05) -> Num:
    """Half-width of the mixture confidence sequence at variance ``V`` of the estimate."""
    if tau2 <= 0:
        raise ValueError("tau2 must be positive")
    v = np.asarray(variance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out: Num = np.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + np.log((v + tau2) / v)))
    return out


def p_value(effect: Num, variance: Num, tau2: float) -> Num:
    """The single-look mSPRT p-value ``min(1, 1/Lambda)`` against effect 0 (not yet made monotone)."""
    v = np.asarray(variance, dtype=float)
    d = np.asarray(effect, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lambda = 0.5 * np.log(v / (v + tau2)) + tau2 * d * d / (2 * v * (v + tau2))
        out: Num = np.minimum(1.0, np.exp(-log_lambda))
    return out


def tau2_for(planned_variance: float, alpha: float = 0.05) -> float:
    """The ``tau^2`` that makes the sequence narrowest at ``planned_variance`` (of the estimate):
    minimises ``(1 + s) / s * (2 log(1/alpha) + log(1 + s))`` over ``s = tau^2 / V``."""
    if planned_variance <= 0:
        raise ValueError("the planned variance must be positive")
    big_l = 2 * math.log(1 / alpha)

    def width(log_s: float) -> float:
        s = math.exp(log_s)
        return (1 + s) / s * (big_l + math.log1p(s))

    best = optimize.minimize_scalar(width, bounds=(-10.0, 10.0), method="bounded")
    return float(math.exp(best.x) * planned_variance)


def confidence_sequence(effects: Sequence[float], ses: Sequence[float], *, tau2: float,
                        alpha: float = 0.05) -> list[SequentialLook]:
    """The always-valid interval and p-value at each look, from the cumulative effect estimate and its
    standard error at that look (any of the estimators: Welch, Wald, CUPED, delta ratio)."""
    if len(effects) != len(ses):
        raise ValueError("one standard error per look")
    d = np.asarray(effects, dtype=float)
    v = np.asarray(ses, dtype=float) ** 2
    lows, highs = running_interval(d, v, tau2, alpha)
    ps = np.minimum.accumulate(np.nan_to_num(np.asarray(p_value(d, v, tau2)), nan=1.0))
    return [SequentialLook(i + 1, float(d[i]), float(math.sqrt(v[i])), float(lows[i]), float(highs[i]),
                           float(ps[i])) for i in range(len(d))]


def running_interval(effects: Num, variances: Num, tau2: float,
                     alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """The running intersection of the per-look intervals along the last axis (looks), vectorised."""
    d = np.asarray(effects, dtype=float)
    h = np.nan_to_num(np.asarray(halfwidth(variances, tau2, alpha)), nan=np.inf)
    return np.maximum.accumulate(d - h, axis=-1), np.minimum.accumulate(d + h, axis=-1)
