"""How an effect-result value reads (standard library only): shared by ``tagfactory effects``
(:mod:`tagfactory.analysis.report`) and the catalog's scene pages (:mod:`tagfactory.catalog.pages_use`).

A conversion goal's means are percentages (``12.34%``) and its effects percentage points
(``+1.23pp``); other metrics are plain numbers with thousands separators. Missing or NaN values
read ``-``, an unbounded cost ``inf``.
"""

from __future__ import annotations

import math
from typing import Any

PERCENT = ("conversion",)


def value(x: Any, metric: str, *, signed: bool = False) -> str:
    """One value of a ``metric`` goal: a mean (``signed`` False) or a difference (``signed`` True)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if metric in PERCENT:
        return f"{x * 100:+.2f}pp" if signed else f"{x * 100:.2f}%"
    return f"{x:+,.2f}" if signed else f"{x:,.2f}"


def interval(low: Any, high: Any, metric: str) -> str:
    """``[low, high]`` of a difference (``-`` without one)."""
    if low is None:
        return "-"
    return f"[{value(low, metric, signed=True)}, {value(high, metric, signed=True)}]"


def lift(x: Any) -> str:
    """A relative lift ``+12%`` (``-`` when missing or infinite)."""
    return "-" if x is None or not math.isfinite(x) else f"{x:+.0%}"
