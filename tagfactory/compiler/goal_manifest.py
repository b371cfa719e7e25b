"""The compiled analysis plan of a scene: what the effect-analysis job must compute (issue 19).

Each built scene with goals carries a :class:`SceneAnalysis` in the manifest (``Scene.analysis``):
its goals, resolved and compiled, and its comparisons, resolved to pairs of arms. The Spark side
(a later job) only aggregates; the statistics run on the driver (:mod:`tagfactory.effects`).
What the Spark side must compute, for an as-of date ``D`` (the ``:snapshot_date`` parameter):

1. **Exposures.** From ``scene_assignments_<entity>`` (rows with ``dt <= D``), one row per user and
   scene: ``first_date`` = the user's earliest ``dt`` in the scene, and ``branch``, ``group`` and
   ``variant`` **of that first row** (frozen: later membership may be caused by the treatment).
   The unit is the user; every exposed user counts in their first arm, touched or not (intention
   to treat).
2. **Window.** A user's events count when
   ``first_date + delay_days <= to_date(event_time) <= first_date + delay_days + length_days - 1``
   (:class:`WindowPlan`; the session time zone, like every window of the tag language). Events
   before the anchor never count. A user's cohort is **matured** when that last day is ``<= D``;
   only matured users count unless ``include_in_progress`` (then their window is cut at ``D``).
3. **Per-user value** from the rows of :attr:`GoalPlan.events_sql` (the source cut to ``D``, the
   goal's ``where`` applied, one row per event with the columns ``<key>`` (the entity key),
   ``event_time``, ``value``, ``numerator``, ``denominator``) joined to the exposures on the key and the window:
   see :class:`MetricPlan` for each metric type. A user with no event has 0 and still counts.
4. **Covariate and slices** from the profile table ``profile_<entity>`` at ``dt = first_date - 1``
   (the day before the first assignment): the covariate tag's value (its ``default``, else 0,
   when the user has no profile row or a null value: the same rule for every arm); each slice
   tag's value, the ``top`` most frequent values among the scene's exposed users kept and the
   rest (and nulls) as ``"(other)"``.
5. **Sufficient statistics** per cell (scene, branch, group, variant, goal, slice tag and value or
   the total): the columns of the ``tagfactory.effects.suffstats`` contract (``MeanStats`` for
   conversion, mean and count, ``RatioStats`` for ratio, ``CovariateStats`` with a covariate).
   The comparisons (:class:`ComparisonPlan`) say which cells are compared; the driver does the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tagfactory.compiler.manifest_base import Frozen, Source

PayloadScalar = str | int | float | bool


class WindowPlan(Frozen):
    """The days after the anchor in which a user's events count (inclusive of both ends)."""

    anchor: Literal["first_assignment"] = Field(description="the anchor day: the user's first `dt` in the scene")
    delay_days: int = Field(ge=0, description="days between the anchor and the window's first day")
    length_days: int = Field(ge=1, description="days in the window; with delay 0 the anchor day is the first")

    @property
    def last_offset(self) -> int:
        """Offset from the anchor of the window's last day: matured when ``anchor + last_offset <= D``."""
        return self.delay_days + self.length_days - 1


class MetricPlan(Frozen):
    """How the events of one user in the window become the per-user number ``y``.

    * ``conversion``: ``y = 1`` when the user has at least one event row, else 0;
    * ``mean``: ``y = Σ value`` over the user's event rows (0 without rows), capped at the
      ``cap_percentile``-th percentile of ``y`` over the scene's exposed users (every arm
      together, so both sides of every comparison share the cap) when set; the estimate is the
      difference of the mean of ``y``;
    * ``count``: ``y`` = the number of event rows, capped like ``mean``;
    * ``ratio``: per user ``a = Σ numerator``, ``b = Σ denominator``; the estimate is the difference
      of ``Σa / Σb`` (delta method), never the mean of per-user ratios.
    """

    type: Literal["conversion", "mean", "count", "ratio"]
    value_sql: str | None = Field(default=None, description="mean: the per-event value (Spark SQL over "
                                  "the source's columns, as written; `events_sql` selects it as `value`)")
    numerator_sql: str | None = Field(default=None, description="ratio: the per-event numerator (`numerator`)")
    denominator_sql: str | None = Field(default=None, description="ratio: the per-event denominator "
                                        "(`denominator`; `1` counts events)")
    cap_percentile: float | None = Field(default=None, description="mean and count: cap each user's value "
                                         "at this percentile (50 < p <= 100) of the users' values")


class TagInput(Frozen):
    """A profile tag read on the day before the first assignment (a covariate or a slice)."""

    tag: str = Field(description="the tag, a column of the entity's profile table")
    type: str = Field(description="its tag-language type")
    default: PayloadScalar | None = Field(default=None, description="the tag's default: the value when "
                                          "missing (for a covariate, 0 when there is none)")


class SlicePlan(TagInput):
    """A breakdown of every result by a tag's value: the ``top`` values, the rest ``"(other)"``."""

    top: int = Field(ge=1, description="how many of the most frequent values are kept")


class CostPlan(Frozen):
    """Cost per delivered touch (export receipts give the touches) in ``currency``."""

    per_touch: float = Field(ge=0)
    currency: str


class SequentialPlan(Frozen):
    """Always-valid mSPRT intervals (tagfactory.effects.sequential)."""

    tau2: float | None = Field(default=None, description="mixing variance; None: `tau2_for` the variance "
                               "expected at `horizon_days`")
    horizon_days: int | None = Field(default=None, description="the planned last look, in days after the "
                                     "scene's first assignment; None: 30")


class GoalPlan(Frozen):
    """One goal metric of a scene, resolved and compiled."""

    name: str
    display_name: str
    description: str
    owner: str
    definition: str = Field(description="file:line of the goal")
    role: Literal["primary", "guardrail"] = Field(description="primary: listed by the scene; guardrail: "
                                                  "a guardrail of a listed goal (its own testing family)")
    guardrail_of: list[str] = Field(default_factory=list, description="the scene's goals it guards")
    guardrails: list[str] = Field(default_factory=list, description="the goal's guardrail goals")
    source: Source = Field(description="the fact or event source the events are read from")
    where_sql: str | None = Field(default=None, description="the goal's `where` over the source's columns "
                                  "(compiled, identifiers quoted; already applied in `events_sql`)")
    events_sql: str = Field(description="the qualifying events as of `:snapshot_date`: `<key>` (the entity key), `event_time`, "
                            "`value`, `numerator`, `denominator` (NULL where the metric has none), the "
                            "source cut to the snapshot's point in time and the `where` applied")
    window: WindowPlan
    metric: MetricPlan
    covariate: TagInput | None = Field(default=None, description="CUPED covariate (numeric tag)")
    slices: list[SlicePlan] = Field(default_factory=list)
    cost: CostPlan | None = None
    alpha: float = Field(gt=0, lt=0.5)
    correction: Literal["bh", "holm", "none"] = Field(description="multiple-testing correction across the "
                                                      "scene's estimates of the same role and correction "
                                                      "(goals x comparisons x slices)")
    sequential: SequentialPlan | None = Field(default=None, description="None: fixed-horizon intervals")
    include_in_progress: bool = False


class ArmPlan(Frozen):
    """One side of a comparison: the users first assigned to ``group`` (and ``variant``) of the branch."""

    group: Literal["treatment", "control", "holdout"]
    variant: str | None = Field(default=None, description="one variant of the treatment; None: all of the group")


class ComparisonPlan(Frozen):
    """Two arms of one branch compared: the effect is ``treatment - baseline``."""

    name: str = Field(description='"<branch>:<treatment>_vs_<baseline>", e.g. "winback:treatment_vs_control", '
                      '"winback:coupon_30_vs_coupon_20"')
    kind: Literal["treatment_vs_control", "treatment_vs_holdout", "variant_vs_variant"]
    branch: str
    treatment: ArmPlan
    baseline: ArmPlan


class SceneAnalysis(Frozen):
    """What the effect-analysis job computes for a scene: every goal in every comparison."""

    goals: list[GoalPlan] = Field(description="the scene's goals, then their guardrails (each once)")
    comparisons: list[ComparisonPlan] = Field(description="written ones, or by default every comparison the "
                                              "scene's splits allow")
