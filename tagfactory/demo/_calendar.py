"""Time and probability helpers: seasonal calendars, diurnal profiles, vectorised sampling."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
SECOND_US = 1_000_000
MILLI_US = 1_000
EPOCH = dt.date(1970, 1, 1)

# Share of activity per UTC hour (China is UTC+8, so the evening peak 20-23h local is 12-15h UTC).
_LOCAL_EVENT_HOURS = np.array([
    2.0, 1.2, 0.7, 0.4, 0.3, 0.4, 0.9, 2.0, 3.5, 4.5, 5.0, 5.2,
    6.0, 5.5, 4.8, 4.6, 4.8, 5.0, 5.5, 6.5, 7.5, 8.0, 7.0, 4.5,
])
_LOCAL_ORDER_HOURS = np.array([
    2.5, 1.2, 0.6, 0.3, 0.2, 0.3, 0.6, 1.5, 3.0, 4.5, 5.5, 5.8,
    6.2, 5.6, 5.0, 4.8, 4.8, 5.0, 5.4, 6.4, 7.8, 8.6, 7.6, 5.0,
])


def _utc_cdf(local_weights: np.ndarray) -> np.ndarray:
    utc = np.roll(local_weights, -8)  # local hour h is UTC hour h-8
    return np.cumsum(utc) / utc.sum()


EVENT_HOUR_CDF = _utc_cdf(_LOCAL_EVENT_HOURS)
ORDER_HOUR_CDF = _utc_cdf(_LOCAL_ORDER_HOURS)
#: Marketing sends happen in business hours: 10:00-21:00 local.
SEND_HOUR_CDF = _utc_cdf(np.array([0.0] * 10 + [1.0] * 11 + [0.0] * 3))


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def micros(day: dt.date) -> int:
    """Microseconds since the epoch at ``day`` 00:00 UTC."""
    return day_number(day) * DAY_US


@dataclass(frozen=True)
class Calendar:
    """Relative activity weight of each day of a date range.

    Attributes:
        first_day: First day covered.
        weights: One positive weight per day.
    """

    first_day: dt.date
    weights: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of days covered."""
        return len(self.weights)

    @property
    def base_us(self) -> int:
        """Microseconds at ``first_day`` 00:00 UTC."""
        return micros(self.first_day)

    @property
    def cdf(self) -> np.ndarray:
        """Cumulative weights, ``cdf[k]`` = weight of days before day ``k`` (length n_days+1)."""
        return np.concatenate([[0.0], np.cumsum(self.weights)])


def seasonal_calendar(
    first_day: dt.date, n_days: int, *, weekend: float, promo: float, growth: float = 1.0
) -> Calendar:
    """Calendar with weekend lift, Chinese shopping festivals and a linear growth trend.

    Args:
        first_day: First day covered.
        n_days: Number of days.
        weekend: Weight multiplier of Saturdays and Sundays.
        promo: Strength of festival peaks (618, Double 11, Double 12); 0 disables them.
        growth: Weight of the last day relative to the first (trend).

    Returns:
        The calendar.
    """
    days = [first_day + dt.timedelta(days=k) for k in range(n_days)]
    w = np.linspace(1.0, growth, n_days) if n_days > 1 else np.ones(n_days)
    for k, day in enumerate(days):
        if day.weekday() >= 5:
            w[k] *= weekend
        md = (day.month, day.day)
        if md == (11, 11):
            w[k] *= 1 + 3.0 * promo
        elif (11, 1) <= md <= (11, 12):
            w[k] *= 1 + 0.5 * promo
        elif md == (6, 18):
            w[k] *= 1 + 2.0 * promo
        elif (6, 1) <= md <= (6, 20):
            w[k] *= 1 + 0.3 * promo
        elif md == (12, 12):
            w[k] *= 1 + 1.0 * promo
        elif md == (2, 14) or md == (5, 20):
            w[k] *= 1 + 0.3 * promo
    return Calendar(first_day, w)


def sample_times(
    rng: np.random.Generator,
    lo: np.ndarray,
    hi: np.ndarray,
    calendar: Calendar,
    hour_cdf: np.ndarray,
    resolution_us: int = SECOND_US,
) -> np.ndarray:
    """Draw one timestamp per row in ``[lo, hi)`` following the calendar and a daily profile.

    The day is drawn with the calendar weights restricted to the row's days, the hour from the
    diurnal profile. A time that falls before ``lo`` on ``lo``'s day is squeezed into the rest of
    that day. ``hi`` must be a multiple of ``resolution_us`` and the range must be inside the
    calendar.

    Args:
        rng: Random generator.
        lo: Inclusive lower bounds (microseconds since the epoch).
        hi: Exclusive upper bounds, ``hi > lo``.
        calendar: Day weights.
        hour_cdf: Cumulative distribution over the 24 UTC hours.
        resolution_us: Timestamps are rounded up to a multiple of this.

    Returns:
        Microseconds since the epoch (int64).
    """
    n = len(lo)
    base = calendar.base_us
    cdf = calendar.cdf
    lo_day = np.clip((lo - base) // DAY_US, 0, calendar.n_days - 1)
    hi_day = np.clip((hi - 1 - base) // DAY_US, lo_day, calendar.n_days - 1)
    u = cdf[lo_day] + rng.random(n) * (cdf[hi_day + 1] - cdf[lo_day])
    day = np.clip(np.searchsorted(cdf, u, side="right") - 1, lo_day, hi_day)
    hour = np.minimum(np.searchsorted(hour_cdf, rng.random(n), side="right"), 23)
    tod = hour * HOUR_US + rng.integers(0, HOUR_US, n)
    day_start = base + day * DAY_US
    ts = day_start + tod
    below = ts < lo
    if below.any():
        room = (day_start[below] + DAY_US - lo[below]).astype(np.float64)
        ts[below] = lo[below] + (tod[below] / DAY_US * room).astype(np.int64)
    above = ts >= hi
    if above.any():
        start = np.maximum(day_start[above], lo[above])
        room = (hi[above] - start).astype(np.float64)
        ts[above] = start + (tod[above] / DAY_US * room).astype(np.int64)
    ts = -(-ts // resolution_us) * resolution_us
    return np.minimum(ts, hi - resolution_us)


def categorical(rng: np.random.Generator, probs: np.ndarray | list[float], size: int) -> np.ndarray:
    """Draw ``size`` category indices (int8) from probabilities (normalised here)."""
    p = np.asarray(probs, dtype=np.float64)
    cdf = np.cumsum(p) / p.sum()
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(p) - 1).astype(np.int8)


def categorical_by_group(
    rng: np.random.Generator, groups: np.ndarray, table: np.ndarray
) -> np.ndarray:
    """Draw one category per row, with probabilities ``table[group]`` (rows normalised here).

    Args:
        rng: Random generator.
        groups: Group index per row.
        table: Probabilities, shape ``(n_groups, n_categories)``.

    Returns:
        Category indices (int8).
    """
    table = np.asarray(table, dtype=np.float64)
    cdf = np.cumsum(table, axis=1) / table.sum(axis=1, keepdims=True)
    u = rng.random(len(groups))
    out = np.empty(len(groups), dtype=np.int8)
    for g in range(table.shape[0]):
        mask = groups == g
        if mask.any():
            out[mask] = np.searchsorted(cdf[g], u[mask], side="right")
    return np.minimum(out, table.shape[1] - 1)


def mostly(
    rng: np.random.Generator, usual: np.ndarray, p_usual: float, probs: list[float]
) -> np.ndarray:
    """Keep each row's usual category with probability ``p_usual``, else draw from ``probs``."""
    other = categorical(rng, probs, len(usual))
    return np.where(rng.random(len(usual)) < p_usual, usual, other).astype(np.int8)
