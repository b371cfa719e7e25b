"""Planners of the fused pass: per expectation type, which metrics to compute and how GX reads them.

:data:`PLANNERS` maps every expectation type the fused pass evaluates to its family's planner. A
planner registers the aggregates (and grouped counts) one spec needs with the :class:`FusedPass`
and returns a :class:`~tagfactory.quality.fused.Planned` check -- or ``None``, having registered
nothing, when the spec's arguments or column type are better left to real GX. The families:

* row count (``expect_table_row_count_*``): ``count(1)``;
* column map with a per-row condition (null, set, between, regex): nulls and unexpected rows
  counted with GX's own Spark condition;
* uniqueness: nulls counted in the fused pass, duplicated values in the grouped action;
* non-null share: ``count(col)`` against ``count(1)``;
* column aggregate (min, max, mean, sum): GX's Spark aggregate;
* PSI: the column's bins counted in the grouped action.

:data:`ALLOWED_KWARGS` lists the arguments each type may have to be planned at all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tagfactory.quality.drift import DriftBins
from tagfactory.quality.fused import ATOMIC, NUMERIC, Grouped, Metrics, Planned, quoted_column
from tagfactory.quality.psi import PSI_TYPE
from tagfactory.quality.spark_exprs import (
    Aggregate,
    Condition,
    between_condition,
    bounds_ok,
    in_set_condition,
    is_number,
    mean_aggregate,
    min_max_aggregate,
    not_null_condition,
    null_condition,
    regex_condition,
    sum_aggregate,
)
from tagfactory.quality.specs import ExpectationSpec

__all__ = ["ALLOWED_KWARGS", "PLANNERS", "FusedPass", "Planner", "Target"]

NOT_NULL = "expect_column_values_to_not_be_null"
NULL = "expect_column_values_to_be_null"
UNIQUE = "expect_column_values_to_be_unique"
IN_SET = "expect_column_values_to_be_in_set"
NOT_IN_SET = "expect_column_values_to_not_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
REGEX = "expect_column_values_to_match_regex"
NOT_REGEX = "expect_column_values_to_not_match_regex"
ROWS_BETWEEN = "expect_table_row_count_to_be_between"
ROWS_EQUAL = "expect_table_row_count_to_equal"
MIN = "expect_column_min_to_be_between"
MAX = "expect_column_max_to_be_between"
MEAN = "expect_column_mean_to_be_between"
SUM = "expect_column_sum_to_be_between"
NON_NULL_SHARE = "expect_column_proportion_of_non_null_values_to_be_between"
PSI = PSI_TYPE

_BOUNDS = ("min_value", "max_value", "strict_min", "strict_max")
#: The arguments each type may have to be evaluated here; anything else goes to GX.
ALLOWED_KWARGS: dict[str, frozenset[str]] = {
    NOT_NULL: frozenset({"column", "mostly"}),
    NULL: frozenset({"column", "mostly"}),
    UNIQUE: frozenset({"column", "mostly"}),
    IN_SET: frozenset({"column", "mostly", "value_set"}),
    NOT_IN_SET: frozenset({"column", "mostly", "value_set"}),
    BETWEEN: frozenset({"column", "mostly", *_BOUNDS}),
    REGEX: frozenset({"column", "mostly", "regex"}),
    NOT_REGEX: frozenset({"column", "mostly", "regex"}),
    ROWS_BETWEEN: frozenset(_BOUNDS),
    ROWS_EQUAL: frozenset({"value"}),
    MIN: frozenset({"column", *_BOUNDS}),
    MAX: frozenset({"column", *_BOUNDS}),
    MEAN: frozenset({"column", *_BOUNDS}),
    SUM: frozenset({"column", *_BOUNDS}),
    NON_NULL_SHARE: frozenset({"column", *_BOUNDS}),
    PSI: frozenset({"column", "reference", "threshold"}),
}

_ROWS = ("rows",)  # GX: table.row_count
_Need = tuple[Hashable, Callable[[], Column]]


@dataclass
class Target:
    """One fast spec to plan: its GX expectation (which parsed the arguments) and column type."""

    spec: ExpectationSpec
    expectation: Any
    kwargs: dict[str, Any]
    data_type: T.DataType | None  # None for table expectations

    def column(self) -> tuple[str, Column, T.DataType]:
        """The column's name, reference and type (column expectations only)."""
        name = self.spec.column
        assert name is not None and self.data_type is not None
        return name, quoted_column(name), self.data_type


@dataclass
class FusedPass:
    """What the planned checks need from the fused aggregate and the grouped action."""

    df: DataFrame
    bins: Mapping[str, DriftBins]
    aggregates: Metrics = field(default_factory=Metrics)
    unique_columns: dict[str, int] = field(default_factory=dict)
    drift_labels: dict[Hashable, tuple[int, Column]] = field(default_factory=dict)

    def register(self, plan: Planned, needs: list[_Need]) -> Planned:
        """Add the aggregates a planned check needs to the fused pass."""
        for key, make in needs:
            self.aggregates.add(key, make)
        return plan


#: Registers what one spec needs and returns its check, or ``None`` (nothing registered).
Planner = Callable[[Target, FusedPass], Planned | None]


# --------------------------------------------------------------------------------------------
# Planners, one per family
# --------------------------------------------------------------------------------------------


def _row_count_need() -> _Need:
    return (_ROWS, lambda: F.count(F.lit(1)))


def _plan_row_count(target: Target, fused: FusedPass) -> Planned | None:
    """``expect_table_row_count_to_equal`` / ``_to_be_between`` (numeric bounds only)."""
    if target.spec.type != ROWS_EQUAL and not bounds_ok(target.kwargs, is_number):
        return None
    plan = Planned(target.spec, target.expectation, lambda a, _g: {"table.row_count": a[_ROWS]})
    return fused.register(plan, [_row_count_need()])


def _map_plan(
    target: Target,
    fused: FusedPass,
    needs: list[_Need],
    unexpected: Callable[[Mapping[Hashable, Any], Grouped], Any],
) -> Planned:
    """A column-map check: GX's map metrics from row, null and unexpected counts."""
    name, col, _ = target.column()
    nulls = ("nulls", name)  # GX: column_values.nonnull.unexpected_count, NULL on zero rows
    null_need: _Need = (nulls, lambda: F.sum(F.when(col.isNull(), 1).otherwise(0)))
    map_metric = target.expectation.map_metric

    def map_metrics(a: Mapping[Hashable, Any], g: Grouped) -> dict[str, Any]:
        return {
            "table.row_count": a[_ROWS],
            "column_values.nonnull.unexpected_count": a[nulls],
            f"{map_metric}.unexpected_count": unexpected(a, g),
            f"{map_metric}.unexpected_values": [],
        }

    plan = Planned(target.spec, target.expectation, map_metrics)
    return fused.register(plan, [_row_count_need(), null_need, *needs])


@dataclass(frozen=True)
class _ConditionPlanner:
    """Column map with a per-row condition: unexpected rows summed in the fused pass."""

    condition: Condition

    def __call__(self, target: Target, fused: FusedPass) -> Planned | None:
        name, col, data_type = target.column()
        condition = self.condition(target.kwargs, col, data_type, fused.df)
        if condition is None:
            return None
        key = ("unexpected", target.spec.type, name, repr(sorted(target.kwargs.items())))
        need: _Need = (key, lambda: F.sum(F.when(condition, 1).otherwise(0)))
        return _map_plan(target, fused, [need], lambda a, _g: a[key])


def _plan_unique(target: Target, fused: FusedPass) -> Planned | None:
    """``expect_column_values_to_be_unique``: duplicated values counted in the grouped action."""
    name, _, data_type = target.column()
    if not isinstance(data_type, ATOMIC):
        return None
    fused.unique_columns.setdefault(name, len(fused.unique_columns))
    return _map_plan(target, fused, [], lambda _a, g: g.duplicated.get(name, 0))


def _plan_non_null_share(target: Target, fused: FusedPass) -> Planned | None:
    """``expect_column_proportion_of_non_null_values_to_be_between`` (numeric bounds only)."""
    if not bounds_ok(target.kwargs, is_number):
        return None
    name, col, _ = target.column()
    non_null = ("non_null", name)  # GX: column.non_null_count

    def share(a: Mapping[Hashable, Any], _g: Grouped) -> dict[str, Any]:
        total = a[_ROWS]
        # GX's nonnull_proportion: 0 (an int) when there are no rows
        return {"column.non_null_proportion": a[non_null] / total if total > 0 else 0}

    plan = Planned(target.spec, target.expectation, share)
    return fused.register(plan, [_row_count_need(), (non_null, lambda: F.count(col))])


@dataclass(frozen=True)
class _AggregatePlanner:
    """Column aggregate (min, max, mean, sum): one aggregate read as GX's ``metric``."""

    metric: str
    aggregate: Aggregate

    def __call__(self, target: Target, fused: FusedPass) -> Planned | None:
        name, col, data_type = target.column()
        aggregate = self.aggregate(col, data_type, target.kwargs)
        if aggregate is None:
            return None
        key, metric = (self.metric, name), self.metric
        plan = Planned(target.spec, target.expectation, lambda a, _g: {metric: a[key]})
        return fused.register(plan, [(key, lambda: aggregate)])


def _plan_psi(target: Target, fused: FusedPass) -> Planned | None:
    """``expect_column_psi_to_be_less_than``: the column's bins counted in the grouped action.

    Raises:
        ValueError: The expectation's ``reference`` differs from the column's drift bins, or
            numeric bins were given for a non-numeric column.
    """
    spec, kwargs = target.spec, target.kwargs
    name, col, data_type = target.column()
    column_bins = fused.bins.get(name)
    if column_bins is None:
        column_bins = DriftBins(reference=kwargs["reference"])
    elif not column_bins.matches(kwargs["reference"]):
        raise ValueError(
            f"{spec.name}: the expectation's reference differs from drift_bins[{name!r}].reference"
        )
    if column_bins.numeric and not isinstance(data_type, NUMERIC):
        raise ValueError(
            f"{spec.name}: numeric drift bins for column {name!r} of type {data_type.simpleString()}"
        )
    label = column_bins.label_column(col, data_type)
    if label is None:
        return None
    drift_key = (name, column_bins.edges, tuple(sorted(column_bins.reference)))
    if drift_key not in fused.drift_labels:
        fused.drift_labels[drift_key] = (len(fused.drift_labels), label)

    def psi(_a: Mapping[Hashable, Any], g: Grouped) -> dict[str, Any]:
        return {"column.value_counts": dict(g.bins.get(drift_key, {}))}

    return Planned(spec, target.expectation, psi)  # no fused aggregate


#: Expectation type -> the planner of its family.
PLANNERS: dict[str, Planner] = {
    ROWS_BETWEEN: _plan_row_count,
    ROWS_EQUAL: _plan_row_count,
    NOT_NULL: _ConditionPlanner(not_null_condition),
    NULL: _ConditionPlanner(null_condition),
    IN_SET: _ConditionPlanner(in_set_condition(negate=False)),
    NOT_IN_SET: _ConditionPlanner(in_set_condition(negate=True)),
    BETWEEN: _ConditionPlanner(between_condition),
    REGEX: _ConditionPlanner(regex_condition(negate=False)),
    NOT_REGEX: _ConditionPlanner(regex_condition(negate=True)),
    UNIQUE: _plan_unique,
    NON_NULL_SHARE: _plan_non_null_share,
    MIN: _AggregatePlanner("column.min", min_max_aggregate(F.min)),
    MAX: _AggregatePlanner("column.max", min_max_aggregate(F.max)),
    MEAN: _AggregatePlanner("column.mean", mean_aggregate),
    SUM: _AggregatePlanner("column.sum", sum_aggregate),
    PSI: _plan_psi,
}
