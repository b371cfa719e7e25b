"""Evaluate the common expectations in one fused Spark pass, with Great Expectations' semantics.

Real Great Expectations (GX) on Spark runs about two Spark jobs per expectation, which is too
slow for a suite of hundreds of expectations on a staged snapshot. :func:`evaluate` computes the
metrics of every expectation of a type in :data:`FAST_TYPES` in

* ONE ``df.agg(...)``: ``count(1)``, ``count(col)``, ``sum(CASE ... THEN 1 ELSE 0 END)`` for the
  null and unexpected counts, ``min``/``max``/``avg``/``sum`` for the aggregate expectations;
* at most ONE more Spark action, only when needed: one ``GROUP BY`` per column with a uniqueness
  expectation (values that occur more than once) and the bins of all PSI expectations unpivoted
  into ``(column, bin)`` rows, unioned and summed by one final ``GROUP BY``.

The per-row conditions are GX's own Spark expressions (``col.isin(value_set)``,
``col.rlike(regex)``, ``col >= F.lit(min_value)``, ...), applied to the expectation's arguments
as GX itself parses them (an int bound becomes a float, an ISO date string a ``date``), and the
verdicts and result dicts come from the GX expectation's own ``_validate`` fed with those
metrics, so ``success``, ``mostly``, the percentages and the empty-DataFrame behaviour are GX's
by construction. The outcomes are ``(spec, success, result)`` triples in the form
:func:`tagfactory.quality.gx_bridge.result_from_outcomes` accepts; what cannot be evaluated here
is returned to be run by real GX (:func:`tagfactory.quality.gx_bridge.validate_dataframe`).

Differences from a real GX run, all deliberate:

* ``partial_unexpected_list`` is always ``[]`` (GX lists up to 20 unexpected values; collecting
  them would cost one Spark job per expectation) and ``partial_unexpected_counts`` is left out.
* An expectation whose column is not in the DataFrame gets ``success=False`` and
  ``{"observed_value": None, "details": "column missing"}``; GX reports an exception instead.
* ``expect_column_psi_to_be_less_than`` on a column with numeric :class:`DriftBins` bins the raw
  values first (GX expects a column that already holds bin labels).
* ``expect_column_values_to_match_regex`` uses Spark's ``rlike`` (Java regular expressions), as
  GX on Spark does; GX on pandas uses Python's ``re``. Simple patterns agree; look-behind,
  possessive quantifiers, ``\\Z`` and similar constructs may not.

Everything else goes to GX: other expectation types, ``row_condition``/``condition_parser`` or
other extra arguments, suite parameters (``{"$PARAMETER": ...}``), argument/column type
combinations on which GX would raise or coerce surprisingly (``between`` on a string column,
``in_set`` with numbers on a string column, ``mean`` of a ``smallint``, ...), and invalid regular
expressions (so that a bad expectation fails alone instead of failing the fused pass).

Typical use::

    outcomes, leftovers = evaluate(staged, specs, drift_bins={"age": DriftBins(shares, edges)})
    if leftovers:
        real = validate_dataframe(staged, build_suite("s.gx", leftovers), engine="spark", ...)

The DataFrame is read once per Spark action (one or two); cache it first if it is expensive to
compute. With adaptive query execution (Spark's default) each shuffle stage is a Spark job of its
own: two for the aggregate, one per unique column plus two for the grouped action -- a number
that does not grow with the number of expectations. Column names are matched exactly (as in
``df.columns``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import operator
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from great_expectations.expectations.registry import get_expectation_impl
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tagfactory.quality.psi import PSI_OTHER_BIN
from tagfactory.quality.specs import ExpectationSpec, Severity

__all__ = ["FAST_TYPES", "MISSING_COLUMN", "DriftBins", "Outcome", "evaluate"]

#: ``(spec, success, result)`` as :func:`gx_bridge.result_from_outcomes` accepts it.
Outcome = tuple[ExpectationSpec, bool, dict[str, Any]]

#: ``details`` of the result of an expectation whose column is not in the DataFrame.
MISSING_COLUMN = "column missing"

_NOT_NULL = "expect_column_values_to_not_be_null"
_NULL = "expect_column_values_to_be_null"
_UNIQUE = "expect_column_values_to_be_unique"
_IN_SET = "expect_column_values_to_be_in_set"
_NOT_IN_SET = "expect_column_values_to_not_be_in_set"
_BETWEEN = "expect_column_values_to_be_between"
_REGEX = "expect_column_values_to_match_regex"
_NOT_REGEX = "expect_column_values_to_not_match_regex"
_ROWS_BETWEEN = "expect_table_row_count_to_be_between"
_ROWS_EQUAL = "expect_table_row_count_to_equal"
_MIN = "expect_column_min_to_be_between"
_MAX = "expect_column_max_to_be_between"
_MEAN = "expect_column_mean_to_be_between"
_SUM = "expect_column_sum_to_be_between"
_NON_NULL_SHARE = "expect_column_proportion_of_non_null_values_to_be_between"
_PSI = "expect_column_psi_to_be_less_than"

#: Expectation types :func:`evaluate` computes itself (when their arguments allow it).
FAST_TYPES: frozenset[str] = frozenset(
    {
        _NOT_NULL,
        _NULL,
        _UNIQUE,
        _IN_SET,
        _NOT_IN_SET,
        _BETWEEN,
        _REGEX,
        _NOT_REGEX,
        _ROWS_BETWEEN,
        _ROWS_EQUAL,
        _MIN,
        _MAX,
        _MEAN,
        _SUM,
        _NON_NULL_SHARE,
        _PSI,
    }
)

_MAP_TYPES = frozenset(
    {_NOT_NULL, _NULL, _UNIQUE, _IN_SET, _NOT_IN_SET, _BETWEEN, _REGEX, _NOT_REGEX}
)
_BOUNDS = ("min_value", "max_value", "strict_min", "strict_max")
#: The arguments each type may have to be evaluated here; anything else goes to GX.
_ALLOWED_KWARGS: dict[str, frozenset[str]] = {
    _NOT_NULL: frozenset({"column", "mostly"}),
    _NULL: frozenset({"column", "mostly"}),
    _UNIQUE: frozenset({"column", "mostly"}),
    _IN_SET: frozenset({"column", "mostly", "value_set"}),
    _NOT_IN_SET: frozenset({"column", "mostly", "value_set"}),
    _BETWEEN: frozenset({"column", "mostly", *_BOUNDS}),
    _REGEX: frozenset({"column", "mostly", "regex"}),
    _NOT_REGEX: frozenset({"column", "mostly", "regex"}),
    _ROWS_BETWEEN: frozenset(_BOUNDS),
    _ROWS_EQUAL: frozenset({"value"}),
    _MIN: frozenset({"column", *_BOUNDS}),
    _MAX: frozenset({"column", *_BOUNDS}),
    _MEAN: frozenset({"column", *_BOUNDS}),
    _SUM: frozenset({"column", *_BOUNDS}),
    _NON_NULL_SHARE: frozenset({"column", *_BOUNDS}),
    _PSI: frozenset({"column", "reference", "threshold"}),
}
#: The GX metric each aggregate expectation reads.
_AGGREGATE_METRIC = {
    _MIN: "column.min",
    _MAX: "column.max",
    _MEAN: "column.mean",
    _SUM: "column.sum",
}

_INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_NUMERIC = (*_INTEGRAL, T.FloatType, T.DoubleType, T.DecimalType)
#: Column types GX's ``column.mean`` accepts on Spark (no byte/short).
_MEAN_TYPES = (T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
_ATOMIC = (*_NUMERIC, T.StringType, T.BooleanType, T.DateType, T.TimestampType, T.TimestampNTZType)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SUMMARY = {"result_format": "SUMMARY"}


# --------------------------------------------------------------------------------------------
# Drift bins
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftBins:
    """How the values of one column are binned for ``expect_column_psi_to_be_less_than``.

    Categorical (``edges`` is ``None``): a value's bin is ``str(value)`` (``"True"``/``"False"``
    for booleans, ISO ``YYYY-MM-DD`` for dates) when that is a key of ``reference``, else
    ``"__other__"`` (:data:`gx_bridge.PSI_OTHER_BIN`) -- exactly what the GX expectation does on a
    column of labels. String, integer, boolean and date columns can be binned this way.

    Numeric (``edges`` given, strictly increasing): ``n`` edges make ``n + 1`` bins labelled
    ``"b0"`` .. ``"bn"``: ``b0`` is ``value < edges[0]``, ``bi`` is
    ``edges[i-1] <= value < edges[i]``, ``bn`` is ``value >= edges[-1]`` (NaN falls in ``bn``);
    the label is ``"b" + str(bisect.bisect_right(edges, value))``. Any numeric column.

    Nulls are in no bin: the observed distribution is that of the non-null values, as in GX's
    ``column.value_counts``. PSI itself is :func:`gx_bridge.population_stability_index` of the
    observed bin counts against ``reference`` (bins empty on either side floored at
    ``PSI_EPSILON``).

    Attributes:
        reference: Bin label -> share (or count) in the reference data. It must equal the PSI
            expectation's own ``reference`` argument (:meth:`spec` builds a matching spec).
        edges: Bin edges for a numeric column, ``None`` for a categorical one. A list is
            accepted and stored as a tuple.
    """

    reference: Mapping[str, float]
    edges: Sequence[float] | None = None
    _labels: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reference = {str(k): float(v) for k, v in self.reference.items()}
        if not reference or sum(reference.values()) <= 0 or min(reference.values()) < 0:
            raise ValueError("reference must map bins to non-negative shares with a positive sum")
        object.__setattr__(self, "reference", reference)
        if self.edges is None:
            object.__setattr__(self, "_labels", tuple(reference))
            return
        edges = tuple(float(e) for e in self.edges)
        if not edges or not all(math.isfinite(e) for e in edges):
            raise ValueError("edges must be a non-empty list of finite numbers")
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError(f"edges must be strictly increasing: {list(edges)}")
        labels = tuple(f"b{i}" for i in range(len(edges) + 1))
        unknown = sorted(set(reference) - set(labels))
        if unknown:
            raise ValueError(
                f"reference bins {unknown} are not bins of these edges ({labels[0]}..{labels[-1]})"
            )
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "_labels", labels)

    @property
    def numeric(self) -> bool:
        """True for numeric bins (``edges`` given)."""
        return self.edges is not None

    @property
    def labels(self) -> tuple[str, ...]:
        """The bins: ``b0`` .. ``bn`` for numeric bins, the reference keys otherwise."""
        return self._labels

    def spec(
        self,
        column: str,
        threshold: float,
        *,
        severity: Severity = "warn",
        name: str = "",
        meta: dict[str, Any] | None = None,
    ) -> ExpectationSpec:
        """A PSI expectation on ``column`` whose ``reference`` is this one's."""
        return ExpectationSpec(
            _PSI,
            {"column": column, "reference": dict(self.reference), "threshold": threshold},
            severity,
            name,
            dict(meta or {}),
        )

    def label_column(self, column: Column, data_type: T.DataType) -> Column | None:
        """The Spark expression of each row's bin (null for null values), ``None`` if unsupported."""
        if self.edges is not None:
            if not isinstance(data_type, _NUMERIC):
                return None
            index = functools.reduce(
                operator.add, [F.when(column >= F.lit(e), 1).otherwise(0) for e in self.edges]
            )
            return F.when(column.isNull(), F.lit(None)).otherwise(
                F.concat(F.lit("b"), index.cast("string"))
            )
        if isinstance(data_type, T.StringType):
            text = column
        elif isinstance(data_type, (*_INTEGRAL, T.DateType)):
            text = column.cast("string")  # the same text as Python's str() of the value
        elif isinstance(data_type, T.BooleanType):
            text = F.when(column, F.lit("True")).otherwise(F.lit("False"))
        else:
            return None  # str() of floats, timestamps, ... differs between Python and Spark
        return (
            F.when(column.isNull(), F.lit(None))
            .when(text.isin(list(self.reference)), text)
            .otherwise(F.lit(PSI_OTHER_BIN))
        )

    def matches(self, reference: Mapping[str, Any]) -> bool:
        """Whether ``reference`` has the same bins and shares (after normalising both)."""
        mine = _normalised(self.reference)
        theirs = _normalised({str(k): float(v) for k, v in reference.items()})
        return set(mine) == set(theirs) and all(
            math.isclose(mine[k], theirs[k], rel_tol=1e-9, abs_tol=1e-12) for k in mine
        )


def _normalised(distribution: Mapping[str, float]) -> dict[str, float]:
    total = sum(distribution.values())
    return {k: v / total for k, v in distribution.items()}


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


class _Metrics:
    """Aggregate expressions of the fused pass, deduplicated by key."""

    def __init__(self) -> None:
        self.columns: list[Column] = []
        self.alias: dict[Hashable, str] = {}

    def add(self, key: Hashable, make: Callable[[], Column]) -> str:
        if key not in self.alias:
            alias = f"_m{len(self.columns)}"
            self.alias[key] = alias
            self.columns.append(make().alias(alias))
        return self.alias[key]


@dataclass
class _Grouped:
    """Results of the grouped action: duplicated rows per unique column, bin counts per drift key."""

    duplicated: dict[str, int] = field(default_factory=dict)
    bins: dict[Hashable, dict[str, int]] = field(default_factory=dict)


#: Builds GX's metrics dict for one expectation from the fused row and the grouped counts.
_MetricsFn = Callable[[Mapping[Hashable, Any], _Grouped], dict[str, Any]]


@dataclass
class _Planned:
    """A spec evaluated here: its GX expectation and how to build GX's metrics for it."""

    spec: ExpectationSpec
    expectation: Any
    metrics: _MetricsFn


def evaluate(
    df: DataFrame,
    specs: Sequence[ExpectationSpec],
    *,
    drift_bins: Mapping[str, DriftBins] | None = None,
) -> tuple[list[Outcome], list[ExpectationSpec]]:
    """Evaluate the fast expectations of ``specs`` on ``df`` in one or two Spark actions.

    Args:
        df: The DataFrame to audit (cache it first if it is expensive to compute).
        specs: The expectations, e.g. a gate's whole suite.
        drift_bins: Column -> :class:`DriftBins` for PSI expectations. Without an entry, a PSI
            expectation's column is binned categorically with the expectation's own
            ``reference`` (what GX does).

    Returns:
        ``(outcomes, leftovers)``: one ``(spec, success, result)`` per spec evaluated here, in
        input order, with ``result`` holding what GX 1.24 returns for that type with result
        format ``SUMMARY`` (``partial_unexpected_list`` empty); and the specs left for real GX,
        in input order.

    Raises:
        ValueError: A PSI expectation's ``reference`` differs from its column's
            ``drift_bins`` reference, or numeric bins were given for a non-numeric column.
    """
    bins = dict(drift_bins or {})
    schema = {f.name: f.dataType for f in df.schema.fields}
    aggregates = _Metrics()
    unique_columns: dict[str, int] = {}
    drift_labels: dict[Hashable, tuple[int, Column]] = {}
    planned: list[_Planned | Outcome | ExpectationSpec] = []

    for spec in specs:
        expectation = _expectation(spec)
        if expectation is None:
            planned.append(spec)
            continue
        kwargs: dict[str, Any] = dict(expectation.configuration.kwargs)
        name = spec.column
        if name is not None and name not in schema:
            planned.append((spec, False, {"observed_value": None, "details": MISSING_COLUMN}))
            continue
        data_type = schema[name] if name is not None else None
        plan = _plan(
            spec, expectation, kwargs, data_type, df, aggregates, unique_columns, drift_labels, bins
        )
        planned.append(plan if plan is not None else spec)

    row: Mapping[str, Any] = {}
    if aggregates.columns:
        row = df.agg(*aggregates.columns).collect()[0].asDict()
    extra = _Grouped()
    if unique_columns or drift_labels:
        extra = _grouped_counts(df, unique_columns, drift_labels)

    values = {key: row[alias] for key, alias in aggregates.alias.items()}
    outcomes: list[Outcome] = []
    leftovers: list[ExpectationSpec] = []
    for item in planned:
        if isinstance(item, ExpectationSpec):
            leftovers.append(item)
        elif isinstance(item, _Planned):
            metrics = item.metrics(values, extra)
            try:
                verdict = item.expectation._validate(
                    metrics=metrics, runtime_configuration=_SUMMARY
                )
            except Exception:  # GX itself would raise on these values: let it report them
                leftovers.append(item.spec)
                continue
            result = dict(verdict["result"])
            result.pop("partial_unexpected_counts", None)
            outcomes.append((item.spec, bool(verdict["success"]), result))
        else:
            outcomes.append(item)
    return outcomes, leftovers


def _expectation(spec: ExpectationSpec) -> Any | None:
    """The GX expectation of a fast spec (GX parses and validates the arguments), else None."""
    if spec.type not in FAST_TYPES or not set(spec.kwargs) <= _ALLOWED_KWARGS[spec.type]:
        return None
    if any(_is_suite_parameter(v) for v in spec.kwargs.values()):
        return None
    try:
        return get_expectation_impl(spec.type)(**spec.kwargs)
    except Exception:  # invalid arguments: GX reports them
        return None


def _is_suite_parameter(value: Any) -> bool:
    return isinstance(value, dict) and "$PARAMETER" in value


def _plan(
    spec: ExpectationSpec,
    expectation: Any,
    kwargs: dict[str, Any],
    data_type: T.DataType | None,
    df: DataFrame,
    aggregates: _Metrics,
    unique_columns: dict[str, int],
    drift_labels: dict[Hashable, tuple[int, Column]],
    bins: Mapping[str, DriftBins],
) -> _Planned | None:
    """Register the metrics ``spec`` needs; ``None`` (nothing registered) when it goes to GX."""
    kind = spec.type
    rows = ("rows",)  # GX: table.row_count
    needs: list[tuple[Hashable, Callable[[], Column]]] = [(rows, lambda: F.count(F.lit(1)))]
    plan: _Planned | None = None

    if kind in (_ROWS_BETWEEN, _ROWS_EQUAL):
        if kind == _ROWS_EQUAL or _bounds_ok(kwargs, _is_number):
            plan = _Planned(spec, expectation, lambda a, _g: {"table.row_count": a[rows]})
        return _register(plan, needs, aggregates)

    name = spec.column
    assert name is not None and data_type is not None
    column = _column(name)

    if kind in _MAP_TYPES:
        # GX: column_values.nonnull.unexpected_count, a sum, so NULL (None) on zero rows
        nulls = ("nulls", name)
        needs.append((nulls, lambda: F.sum(F.when(column.isNull(), 1).otherwise(0))))
        map_metric = expectation.map_metric
        unexpected: Hashable = None
        if kind == _UNIQUE:
            if not isinstance(data_type, _ATOMIC):
                return None
            unique_columns.setdefault(name, len(unique_columns))
        else:
            condition = _unexpected_condition(kind, kwargs, column, data_type, df)
            if condition is None:
                return None
            unexpected = ("unexpected", kind, name, repr(sorted(kwargs.items())))
            needs.append((unexpected, lambda: F.sum(F.when(condition, 1).otherwise(0))))

        def map_metrics(a: Mapping[Hashable, Any], g: _Grouped) -> dict[str, Any]:
            return {
                "table.row_count": a[rows],
                "column_values.nonnull.unexpected_count": a[nulls],
                f"{map_metric}.unexpected_count": (
                    g.duplicated.get(name, 0) if kind == _UNIQUE else a[unexpected]
                ),
                f"{map_metric}.unexpected_values": [],
            }

        return _register(_Planned(spec, expectation, map_metrics), needs, aggregates)

    if kind == _NON_NULL_SHARE:
        if not _bounds_ok(kwargs, _is_number):
            return None
        non_null = ("non_null", name)  # GX: column.non_null_count
        needs.append((non_null, lambda: F.count(column)))

        def share(a: Mapping[Hashable, Any], _g: _Grouped) -> dict[str, Any]:
            total = a[rows]
            # GX's nonnull_proportion: 0 (an int) when there are no rows
            return {"column.non_null_proportion": a[non_null] / total if total > 0 else 0}

        return _register(_Planned(spec, expectation, share), needs, aggregates)

    if kind in _AGGREGATE_METRIC:
        metric_name = _AGGREGATE_METRIC[kind]
        aggregate = _aggregate(kind, column, data_type, kwargs)
        if aggregate is None:
            return None
        key = (metric_name, name)
        plan = _Planned(spec, expectation, lambda a, _g: {metric_name: a[key]})
        return _register(plan, [(key, lambda: aggregate)], aggregates)

    if kind == _PSI:
        column_bins = bins.get(name)
        if column_bins is None:
            column_bins = DriftBins(reference=kwargs["reference"])
        elif not column_bins.matches(kwargs["reference"]):
            raise ValueError(
                f"{spec.name}: the expectation's reference differs from drift_bins[{name!r}].reference"
            )
        if column_bins.numeric and not isinstance(data_type, _NUMERIC):
            raise ValueError(
                f"{spec.name}: numeric drift bins for column {name!r} of type {data_type.simpleString()}"
            )
        label = column_bins.label_column(column, data_type)
        if label is None:
            return None
        drift_key = (name, column_bins.edges, tuple(sorted(column_bins.reference)))
        if drift_key not in drift_labels:
            drift_labels[drift_key] = (len(drift_labels), label)

        def psi(_a: Mapping[Hashable, Any], g: _Grouped) -> dict[str, Any]:
            return {"column.value_counts": dict(g.bins.get(drift_key, {}))}

        return _Planned(spec, expectation, psi)

    return None  # pragma: no cover - every fast type is handled above


def _register(
    plan: _Planned | None, needs: list[tuple[Hashable, Callable[[], Column]]], aggregates: _Metrics
) -> _Planned | None:
    """Add the aggregates a planned check needs to the fused pass (nothing when there is none)."""
    if plan is not None:
        for key, make in needs:
            aggregates.add(key, make)
    return plan


def _column(name: str) -> Column:
    return F.col("`" + name.replace("`", "``") + "`")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    return isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)


def _bounds_ok(kwargs: Mapping[str, Any], valid: Callable[[Any], bool]) -> bool:
    """Bounds of the right type, not both missing, ``min <= max``; strict flags are booleans."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        return False
    if any(v is not None and not valid(v) for v in (low, high)):
        return False
    if any(not isinstance(kwargs.get(k, False), bool) for k in ("strict_min", "strict_max")):
        return False
    return low is None or high is None or low <= high


def _bound_check(data_type: T.DataType) -> Callable[[Any], bool] | None:
    """What a between/min/max bound must be to compare with a column of this type."""
    if isinstance(data_type, _NUMERIC):
        return _is_number
    if isinstance(data_type, T.DateType):
        return _is_date
    if isinstance(data_type, T.TimestampType | T.TimestampNTZType):
        return lambda v: isinstance(v, _dt.datetime)
    return None


def _value_check(data_type: T.DataType) -> Callable[[Any], bool] | None:
    """What a ``value_set`` member must be to compare with a column of this type."""
    if isinstance(data_type, _NUMERIC):
        return _is_number
    if isinstance(data_type, T.StringType):
        return lambda v: isinstance(v, str)
    if isinstance(data_type, T.BooleanType):
        return lambda v: isinstance(v, bool)
    if isinstance(data_type, T.DateType):
        return lambda v: _is_date(v) or (isinstance(v, str) and _iso_date(v))
    if isinstance(data_type, T.TimestampType | T.TimestampNTZType):
        return lambda v: isinstance(v, _dt.datetime)
    return None


def _iso_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _unexpected_condition(
    kind: str, kwargs: Mapping[str, Any], column: Column, data_type: T.DataType, df: DataFrame
) -> Column | None:
    """GX's Spark ``unexpected_condition`` for a map expectation, ``None`` if unsupported.

    GX builds ``column.isNotNull() & ~expected`` (nulls are ignored) except for the null
    expectations, where the unexpected condition is ``~expected`` over all rows.
    """
    if kind == _NOT_NULL:
        return ~column.isNotNull()
    if kind == _NULL:
        return ~column.isNull()
    expected: Column
    if kind in (_IN_SET, _NOT_IN_SET):
        value_set = kwargs.get("value_set")
        check = _value_check(data_type)
        if not isinstance(value_set, list) or check is None:
            return None
        if not all(v is None or check(v) for v in value_set):
            return None
        expected = column.isin(value_set) if kind == _IN_SET else ~column.isin(value_set)
    elif kind == _BETWEEN:
        check = _bound_check(data_type)
        if check is None or not _bounds_ok(kwargs, check):
            return None
        expected = _between(column, kwargs)
    elif kind in (_REGEX, _NOT_REGEX):
        regex = kwargs.get("regex")
        if not isinstance(data_type, T.StringType) or not isinstance(regex, str):
            return None
        if not _valid_java_regex(df, regex):
            return None
        expected = column.rlike(regex) if kind == _REGEX else ~column.rlike(regex)
    else:  # pragma: no cover - the caller passes map types only
        return None
    return column.isNotNull() & ~expected


def _between(column: Column, kwargs: Mapping[str, Any]) -> Column:
    """GX's Spark condition of ``column_values.between``."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    strict_min, strict_max = kwargs.get("strict_min", False), kwargs.get("strict_max", False)
    parts = []
    if low is not None:
        parts.append(column > F.lit(low) if strict_min else column >= F.lit(low))
    if high is not None:
        parts.append(column < F.lit(high) if strict_max else column <= F.lit(high))
    return functools.reduce(operator.and_, parts)


def _valid_java_regex(df: DataFrame, regex: str) -> bool:
    """Whether Spark's ``rlike`` (java.util.regex) accepts ``regex``; an invalid one would fail
    the whole fused pass. Without a JVM at hand (Spark Connect), Python's ``re`` decides."""
    jvm = getattr(df.sparkSession, "_jvm", None)
    if jvm is not None:
        try:
            jvm.java.util.regex.Pattern.compile(regex)
        except Exception:
            return False
        return True
    try:
        re.compile(regex)
    except re.error:
        return False
    return True


def _aggregate(
    kind: str, column: Column, data_type: T.DataType, kwargs: Mapping[str, Any]
) -> Column | None:
    """GX's Spark aggregate for min/max/mean/sum, ``None`` if GX would raise or compare badly."""
    if kind in (_MEAN, _SUM):
        if not isinstance(data_type, _MEAN_TYPES if kind == _MEAN else _NUMERIC):
            return None
        if not _bounds_ok(kwargs, _is_number):
            return None
        if kind == _MEAN:
            return F.mean(column)
        if isinstance(data_type, _INTEGRAL):  # GX widens integral sums to double on Spark 4
            return F.sum(column.cast(T.DoubleType()))
        return F.sum(column)
    check = _bound_check(data_type)
    if check is None or not _bounds_ok(kwargs, check):
        return None
    return F.min(column) if kind == _MIN else F.max(column)


def _grouped_counts(
    df: DataFrame,
    unique_columns: Mapping[str, int],
    drift_labels: Mapping[Hashable, tuple[int, Column]],
) -> _Grouped:
    """One Spark action: duplicated-row counts per unique column and bin counts per PSI column.

    The duplicated-row count of a column is the number of rows whose (non-null) value occurs more
    than once: GX's ``column_values.unique`` unexpected count. Each unique column is grouped by
    its own (typed) values; the bins of all PSI columns are unpivoted into ``(k, bin)`` rows; one
    final ``GROUP BY (kind, k, bin)`` over the union sums both.
    """
    parts: list[DataFrame] = []
    for name, index in unique_columns.items():
        repeated = (
            df.select(_column(name).alias("v"))
            .where(F.col("v").isNotNull())
            .groupBy("v")
            .agg(F.count(F.lit(1)).alias("n"))
            .where(F.col("n") > 1)
        )
        parts.append(
            repeated.select(
                F.lit(0).alias("kind"),
                F.lit(index).alias("k"),
                F.lit(None).cast("string").alias("bin"),
                "n",
            )
        )
    if drift_labels:
        entries = [
            F.struct(F.lit(i).alias("k"), label.alias("bin")) for i, label in drift_labels.values()
        ]
        binned = df.select(F.inline(F.array(*entries))).where(F.col("bin").isNotNull())
        parts.append(
            binned.select(F.lit(1).alias("kind"), "k", "bin", F.lit(1).cast("long").alias("n"))
        )
    union = functools.reduce(DataFrame.unionByName, parts)
    totals = union.groupBy("kind", "k", "bin").agg(F.sum("n").alias("n"))
    unique_names = {index: name for name, index in unique_columns.items()}
    drift_keys = {index: key for key, (index, _) in drift_labels.items()}
    grouped = _Grouped()
    for row in totals.collect():
        if row["kind"] == 0:
            grouped.duplicated[unique_names[row["k"]]] = int(row["n"])
        else:
            grouped.bins.setdefault(drift_keys[row["k"]], {})[row["bin"]] = int(row["n"])
    return grouped
