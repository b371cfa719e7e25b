"""As-written models of goals (section ``goals``) and of a scene's comparisons (issue 19, point 1).

A **goal** says what "the scene worked" means for one metric: which events of a declared fact or
event source count (``source`` + ``where``), in which window after the user's first assignment
(``window``), and how the events of one user become one number (``metric``). A scene lists its
goals and the **comparisons** to make between its arms (docs/effects.md).

These models only check shapes. Everything that needs the other definitions (sources, columns,
tags, PII, the SQL policy, value types, ranges with an explanation) is checked with YAML locations
by :mod:`tagfactory.compiler.goals`; ranges are deliberately not pydantic constraints, so that the
message can say what the number means (``alpha`` 0.5 is "a 50% false-positive rate").
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from tagfactory.compiler.base import Name, Strict

METRIC_TYPES = ("conversion", "mean", "count", "ratio")
MetricType = Literal["conversion", "mean", "count", "ratio"]
CORRECTIONS = ("bh", "holm", "none")
COMPARISON_KINDS = ("treatment_vs_control", "treatment_vs_holdout", "variant_vs_variant")
ComparisonKind = Literal["treatment_vs_control", "treatment_vs_holdout", "variant_vs_variant"]
#: a window length or delay: ``Nd``, N days
DAYS_RE = re.compile(r"^([0-9]{1,4})d$")
MAX_GOAL_DAYS = 365
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
DEFAULT_SLICE_TOP = 10
MAX_SLICE_TOP = 50


class GoalWindow(Strict):
    """When a user's events count: from ``anchor`` + ``delay`` for ``length`` days.

    ``length: 7d`` with no delay is the day of the first assignment and the six days after it.
    """

    anchor: Literal["first_assignment"] = "first_assignment"
    delay: str = "0d"
    length: str


class Metric(Strict):
    """How the qualifying events of one user in the window become one number.

    * ``conversion``: 1 when the user has any qualifying event, else 0 (takes no value);
    * ``mean``: the sum of ``value`` over the user's events (0 without events), averaged over users;
      optionally capped per user at the ``cap_percentile``-th percentile;
    * ``count``: the number of qualifying events (optionally capped);
    * ``ratio``: sum of ``numerator`` over sum of ``denominator`` across users (``denominator: "1"``
      counts events: revenue per order).
    """

    type: MetricType
    value: str | None = Field(default=None, min_length=1)
    numerator: str | None = Field(default=None, min_length=1)
    denominator: str | None = Field(default=None, min_length=1)
    cap_percentile: float | None = None


class Covariate(Strict):
    """CUPED covariate: the tag's value on the day before the user's first assignment."""

    tag: Name


class Slice(Strict):
    """Break the results down by a tag's value on the day before the first assignment: the ``top``
    most frequent values, the rest as ``(other)``."""

    tag: Name
    top: int = DEFAULT_SLICE_TOP


class Cost(Strict):
    """What one delivered touch costs (for cost per reached user and per incremental conversion)."""

    per_touch: float
    currency: str = "CNY"  # an ISO 4217 code, checked in compiler/goals.py


class Sequential(Strict):
    """Always-valid (mSPRT) intervals with settings; ``sequential: true`` uses the defaults."""

    tau2: float | None = None
    horizon_days: int | None = None


class GoalSpec(Strict):
    """A goal metric of effect analysis (section ``goals``, docs/effects.md)."""

    name: Name
    display_name: str = ""
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    entity: Name = "user"
    source: Name
    where: str | None = Field(default=None, min_length=1)
    window: GoalWindow
    metric: Metric
    covariate: Covariate | None = None
    guardrails: list[Name] = Field(default_factory=list)
    slices: list[Slice] = Field(default_factory=list)
    cost: Cost | None = None
    alpha: float = 0.05
    correction: Literal["bh", "holm", "none"] = "bh"
    sequential: bool | Sequential = False
    include_in_progress: bool = False


class ComparisonSpec(Strict):
    """One comparison of a scene's arms, per branch (intention to treat: arms as first assigned).

    * ``treatment_vs_control``: a branch's treatment users (all variants) against its control users;
    * ``treatment_vs_holdout``: a branch's treatment users against its holdout users;
    * ``variant_vs_variant``: each other variant of a branch against its ``baseline`` variant
      (default: the first variant).

    ``branches`` limits the comparison to the named branches (default: every branch where it is
    possible); a named branch where it is impossible is an error.
    """

    kind: ComparisonKind
    branches: list[Name] | None = Field(default=None, min_length=1)
    baseline: Name | None = None


def days(text: str) -> int | None:
    """``"7d"`` -> 7; None when ``text`` is not ``Nd``."""
    match = DAYS_RE.match(text)
    return int(match.group(1)) if match else None
