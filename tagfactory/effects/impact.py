"""What an effect is worth: incremental conversions or revenue, and the cost per reached user and per
incremental conversion.

The incremental total is the per-user effect times the treated users (intention to treat: every user
assigned to treatment, touched or not), so its interval is the effect's interval times that count. The
cost per incremental conversion inverts the incremental interval; where the interval reaches 0 or below
the bound is unbounded (``inf``): the data cannot rule out that the money bought nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tagfactory.effects.estimates import Estimate


@dataclass(frozen=True)
class Interval:
    """A value with its confidence interval (``inf`` for an unbounded side)."""

    value: float
    ci_low: float
    ci_high: float


def incremental(estimate: Estimate, treated: int | None = None) -> Interval:
    """Incremental conversions (a proportion's effect) or revenue (a mean's effect) over ``treated``
    users, by default the estimate's treatment n."""
    n = estimate.n_treatment if treated is None else treated
    return Interval(estimate.effect * n, estimate.ci_low * n, estimate.ci_high * n)


def cost_per_reached(cost: float, reached: int) -> float:
    """Total cost of the delivered touches divided by the users they reached (NaN for nobody)."""
    return cost / reached if reached else float("nan")


def cost_per_incremental(cost: float, increment: Interval) -> Interval:
    """Cost per incremental conversion: ``cost / increment`` with the interval inverted; a side whose
    increment is 0 or negative is ``inf`` (no conversion was bought for certain)."""

    def per(x: float) -> float:
        return cost / x if x > 0 else float("inf")

    return Interval(per(increment.value), per(increment.ci_high), per(increment.ci_low))
