"""Additive sufficient statistics of one analysis cell (scene x comparison arm x optional slice value).

Spark computes these with one ``groupBy`` (sums only, so cells add up: the slices of a tag add up to
the total, and daily increments add up to the cumulative figure); every estimate in
:mod:`tagfactory.effects.estimates` is a function of them. Variances use ``n - 1`` (sample) and are
clamped at 0 against floating-point cancellation.

* :class:`MeanStats` — a per-user value ``y`` (0/1 conversion, a revenue, a count): n, sum y, sum y^2.
* :class:`RatioStats` — a ratio of sums such as revenue per order: per user a numerator ``a`` and a
  denominator ``b``: n, sum a, sum b, sum a^2, sum b^2, sum a*b.
* :class:`CovariateStats` — a metric ``y`` and a pre-period covariate ``x`` for CUPED: n, sum y,
  sum y^2, sum x, sum x^2, sum x*y.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike


def _var(n: float, s: float, ss: float) -> float:
    """Sample variance from n, sum and sum of squares (0 for n < 2)."""
    if n < 2:
        return 0.0
    return max((ss - s * s / n) / (n - 1), 0.0)


def _cov(n: float, sa: float, sb: float, sab: float) -> float:
    """Sample covariance from n, the two sums and the sum of products (0 for n < 2)."""
    if n < 2:
        return 0.0
    return (sab - sa * sb / n) / (n - 1)


@dataclass(frozen=True)
class CellKey:
    """Where a cell sits: the scene, the comparison arm (treatment, control, holdout or a variant
    name) and, for a slice, the slicing tag and its value (``None`` for the total)."""

    scene: str
    arm: str
    slice_tag: str | None = None
    slice_value: str | None = None


@dataclass(frozen=True)
class MeanStats:
    """n, sum and sum of squares of a per-user value."""

    n: int
    sum: float
    sum_sq: float

    def __add__(self, other: MeanStats) -> MeanStats:
        if not isinstance(other, MeanStats):
            return NotImplemented
        return MeanStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)

    @classmethod
    def zero(cls) -> MeanStats:
        return cls(0, 0.0, 0.0)

    @classmethod
    def from_values(cls, y: ArrayLike) -> MeanStats:
        a = np.asarray(y, dtype=float)
        return cls(int(a.size), float(a.sum()), float((a * a).sum()))

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else float("nan")

    @property
    def var(self) -> float:
        return _var(self.n, self.sum, self.sum_sq)


@dataclass(frozen=True)
class RatioStats:
    """Per-user numerator ``a`` and denominator ``b`` of a ratio of sums (e.g. revenue / orders)."""

    n: int
    sum_num: float
    sum_den: float
    sum_num_sq: float
    sum_den_sq: float
    sum_num_den: float

    def __add__(self, other: RatioStats) -> RatioStats:
        if not isinstance(other, RatioStats):
            return NotImplemented
        return RatioStats(self.n + other.n, self.sum_num + other.sum_num, self.sum_den + other.sum_den,
                          self.sum_num_sq + other.sum_num_sq, self.sum_den_sq + other.sum_den_sq,
                          self.sum_num_den + other.sum_num_den)

    @classmethod
    def zero(cls) -> RatioStats:
        return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_values(cls, num: ArrayLike, den: ArrayLike) -> RatioStats:
        a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
        if a.shape != b.shape:
            raise ValueError("numerator and denominator need one value per user each")
        return cls(int(a.size), float(a.sum()), float(b.sum()), float((a * a).sum()), float((b * b).sum()),
                   float((a * b).sum()))

    @property
    def ratio(self) -> float:
        return self.sum_num / self.sum_den if self.sum_den else float("nan")

    @property
    def numerator(self) -> MeanStats:
        return MeanStats(self.n, self.sum_num, self.sum_num_sq)

    @property
    def denominator(self) -> MeanStats:
        return MeanStats(self.n, self.sum_den, self.sum_den_sq)

    @property
    def cov(self) -> float:
        """Sample covariance of numerator and denominator across users."""
        return _cov(self.n, self.sum_num, self.sum_den, self.sum_num_den)


@dataclass(frozen=True)
class CovariateStats:
    """A metric ``y`` with a pre-period covariate ``x`` (CUPED)."""

    n: int
    sum_y: float
    sum_y_sq: float
    sum_x: float
    sum_x_sq: float
    sum_xy: float

    def __add__(self, other: CovariateStats) -> CovariateStats:
        if not isinstance(other, CovariateStats):
            return NotImplemented
        return CovariateStats(self.n + other.n, self.sum_y + other.sum_y, self.sum_y_sq + other.sum_y_sq,
                              self.sum_x + other.sum_x, self.sum_x_sq + other.sum_x_sq,
                              self.sum_xy + other.sum_xy)

    @classmethod
    def zero(cls) -> CovariateStats:
        return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_values(cls, y: ArrayLike, x: ArrayLike) -> CovariateStats:
        a, b = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        if a.shape != b.shape:
            raise ValueError("metric and covariate need one value per user each")
        return cls(int(a.size), float(a.sum()), float((a * a).sum()), float(b.sum()), float((b * b).sum()),
                   float((a * b).sum()))

    @property
    def metric(self) -> MeanStats:
        return MeanStats(self.n, self.sum_y, self.sum_y_sq)

    @property
    def covariate(self) -> MeanStats:
        return MeanStats(self.n, self.sum_x, self.sum_x_sq)

    @property
    def cov(self) -> float:
        """Sample covariance of metric and covariate across users."""
        return _cov(self.n, self.sum_y, self.sum_x, self.sum_xy)

    @property
    def sxx(self) -> float:
        """Centred sum of squares of the covariate, sum (x - mean x)^2."""
        return max(self.sum_x_sq - self.sum_x * self.sum_x / self.n, 0.0) if self.n else 0.0

    @property
    def sxy(self) -> float:
        """Centred sum of cross products, sum (x - mean x)(y - mean y)."""
        return self.sum_xy - self.sum_x * self.sum_y / self.n if self.n else 0.0


Stats = TypeVar("Stats", MeanStats, RatioStats, CovariateStats)


def total(cells: Iterable[Stats], empty: Stats) -> Stats:
    """The sum of cells of one kind (``empty`` is that kind's zero, returned for no cells)."""
    out = empty
    for cell in cells:
        out = out + cell
    return out
