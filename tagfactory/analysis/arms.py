"""Which cells are compared: the rows of ``effect_stats`` summed into the two arms of each comparison.

Spark writes one row of sufficient statistics per (scene, goal, frozen branch, group, variant,
slice); a comparison of the scene's analysis plan (:class:`ComparisonPlan`) names two arms of one
branch (``treatment`` vs ``control``, ``treatment`` vs ``holdout``, variant vs variant). An arm is
the sum of the cells of its branch and group (and variant, when it names one): the statistics are
plain sums, so the sum is exact. Driver-side, no Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tagfactory.compiler.goal_manifest import ArmPlan, ComparisonPlan
from tagfactory.effects import CovariateStats, MeanStats, RatioStats

_SUMS = ("sum_y", "sum_y_sq", "sum_x", "sum_x_sq", "sum_xy", "sum_num", "sum_den", "sum_num_sq", "sum_den_sq",
         "sum_num_den")


@dataclass(frozen=True)
class Cell:
    """One row of ``effect_stats`` (the sums of a cell; absent sums are 0)."""

    scene: str
    goal: str
    metric_type: str
    branch: str
    group: str | None
    variant: str | None
    slice_tag: str | None
    slice_value: str | None
    n: int
    sums: tuple[float, ...]  # in the order of _SUMS
    touches: int = 0
    reached: int = 0
    has_covariate: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Cell:
        return cls(row["scene"], row["goal"], row["metric_type"], row["branch"], row.get("group"), row.get("variant"),
                   row.get("slice_tag"), row.get("slice_value"), int(row["n"]),
                   tuple(float(row.get(c) or 0.0) for c in _SUMS), int(row.get("touches") or 0),
                   int(row.get("reached") or 0), row.get("sum_x") is not None)

    def sum(self, name: str) -> float:
        return self.sums[_SUMS.index(name)]


@dataclass(frozen=True)
class Arm:
    """The summed cells of one side of a comparison."""

    plan: ArmPlan
    n: int
    sums: tuple[float, ...]
    touches: int
    reached: int

    def sum(self, name: str) -> float:
        return self.sums[_SUMS.index(name)]

    @property
    def label(self) -> str:
        return self.plan.variant or self.plan.group

    def mean_stats(self) -> MeanStats:
        return MeanStats(self.n, self.sum("sum_y"), self.sum("sum_y_sq"))

    def ratio_stats(self) -> RatioStats:
        return RatioStats(self.n, self.sum("sum_num"), self.sum("sum_den"), self.sum("sum_num_sq"),
                          self.sum("sum_den_sq"), self.sum("sum_num_den"))

    def covariate_stats(self) -> CovariateStats:
        return CovariateStats(self.n, self.sum("sum_y"), self.sum("sum_y_sq"), self.sum("sum_x"),
                              self.sum("sum_x_sq"), self.sum("sum_xy"))


@dataclass(frozen=True)
class Pair:
    """The two arms of one comparison of one goal in one slice (``slice_tag`` None: the total)."""

    scene: str
    goal: str
    comparison: ComparisonPlan
    slice_tag: str | None
    slice_value: str | None
    treatment: Arm
    baseline: Arm


def in_arm(cell: Cell, branch: str, arm: ArmPlan) -> bool:
    """Whether ``cell`` belongs to ``arm`` of ``branch``: its group, and its variant when the arm names one."""
    return cell.branch == branch and cell.group == arm.group and (arm.variant is None or cell.variant == arm.variant)


def arm_total(cells: Iterable[Cell], branch: str, arm: ArmPlan) -> Arm:
    """The sum of the cells of ``arm`` (an arm without users is all zeros)."""
    chosen = [c for c in cells if in_arm(c, branch, arm)]
    sums = tuple(sum(c.sums[i] for c in chosen) for i in range(len(_SUMS)))
    return Arm(arm, sum(c.n for c in chosen), sums, sum(c.touches for c in chosen), sum(c.reached for c in chosen))


def pairs(cells: Sequence[Cell], comparisons: Sequence[ComparisonPlan], goal: str) -> list[Pair]:
    """Every comparison of ``goal``, for the total and each slice value seen in the comparison's branch."""
    out = []
    mine = [c for c in cells if c.goal == goal]
    for comparison in comparisons:
        branch = [c for c in mine if c.branch == comparison.branch]
        keys = sorted({(c.slice_tag, c.slice_value) for c in branch if c.slice_tag is not None},
                      key=lambda k: (str(k[0]), str(k[1])))
        for slice_tag, slice_value in [(None, None), *keys]:
            group = [c for c in branch if c.slice_tag == slice_tag and c.slice_value == slice_value]
            scene = group[0].scene if group else (mine[0].scene if mine else "")
            out.append(Pair(scene, goal, comparison, slice_tag, slice_value,
                            arm_total(group, comparison.branch, comparison.treatment),
                            arm_total(group, comparison.branch, comparison.baseline)))
    return out


def split_shares(holdout: float, control: float, variants: Sequence[tuple[str, float]]) -> dict[str, float]:
    """The configured share of each arm of a branch: ``holdout``, ``control`` and ``treatment`` (or, with
    variants, ``treatment:<variant>`` by weight), the keys :func:`observed_arm` gives users."""
    rest = 1.0 - holdout
    shares = {"holdout": holdout, "control": rest * control}
    total = sum(w for _, w in variants)
    if variants and total > 0:
        shares.update({f"treatment:{name}": rest * (1.0 - control) * w / total for name, w in variants})
    else:
        shares["treatment"] = rest * (1.0 - control)
    return shares


def observed_arm(group: str | None, variant: str | None) -> str:
    """The SRM arm of an exposure: its group, ``treatment:<variant>`` for a treatment variant."""
    if group == "treatment" and variant:
        return f"treatment:{variant}"
    return str(group)
