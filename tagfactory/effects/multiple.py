"""Multiple-testing corrections across goal metrics x comparisons x slices.

* Benjamini & Hochberg (1995): step-up adjusted p-values (q-values) controlling the false discovery
  rate; ``q_(i) = min_{j >= i} m p_(j) / j`` over the ascending p-values, capped at 1.
* Holm (1979): step-down adjusted p-values controlling the family-wise error;
  ``p'_(i) = max_{j <= i} (m - j + 1) p_(j)``, capped at 1.

NaN p-values (degenerate cells) stay NaN and do not count in ``m``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tagfactory.effects.estimates import Estimate

Method = Literal["bh", "holm", "none"]


def _prepare(p_values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64]]:
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("p-values must be one-dimensional")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    return p, order, p[order]


def bh(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values, in the input order."""
    p, order, sorted_p = _prepare(p_values)
    m = sorted_p.size
    out = np.full(p.shape, np.nan)
    if m:
        ranked = sorted_p * m / np.arange(1, m + 1)
        out[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return out


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm adjusted p-values, in the input order."""
    p, order, sorted_p = _prepare(p_values)
    m = sorted_p.size
    out = np.full(p.shape, np.nan)
    if m:
        ranked = sorted_p * (m - np.arange(m))
        out[order] = np.minimum(np.maximum.accumulate(ranked), 1.0)
    return out


def adjust(estimates: Sequence[Estimate], method: Method = "bh") -> list[Estimate]:
    """The estimates (one family: a scene's goal metrics x comparisons x slices) with ``q_value``
    set to their adjusted p-value (``none``: the raw p-value)."""
    p = [e.p_value for e in estimates]
    if method == "bh":
        q = bh(p)
    elif method == "holm":
        q = holm(p)
    elif method == "none":
        q = np.asarray(p, dtype=float)
    else:
        raise ValueError(f"unknown correction {method!r}: bh, holm or none")
    return [replace(e, q_value=float(v)) for e, v in zip(estimates, q, strict=True)]
