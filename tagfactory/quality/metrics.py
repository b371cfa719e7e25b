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
by construction. Which metrics each type needs is its planner's business
(:data:`tagfactory.quality.planners.PLANNERS`, one per family); numeric PSI bins are
:class:`DriftBins` (:mod:`tagfactory.quality.drift`). The outcomes are ``(spec, success, result)`` triples in the form
:func:`tagfactory.quality.gx_results.result_from_outcomes` accepts; what cannot be evaluated
here is returned to be run by real GX (:func:`tagfactory.quality.gx_validate.validate_dataframe`).

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

import functools
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from great_expectations.expectations.registry import get_expectation_impl
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from tagfactory.quality.drift import DriftBins
from tagfactory.quality.fused import Grouped, Planned, quoted_column
from tagfactory.quality.planners import (
    ALLOWED_KWARGS,
    BETWEEN,
    IN_SET,
    MAX,
    MEAN,
    MIN,
    NON_NULL_SHARE,
    NOT_IN_SET,
    NOT_NULL,
    NOT_REGEX,
    NULL,
    PLANNERS,
    PSI,
    REGEX,
    ROWS_BETWEEN,
    ROWS_EQUAL,
    SUM,
    UNIQUE,
    FusedPass,
    Target,
)
from tagfactory.quality.specs import ExpectationSpec

__all__ = ["FAST_TYPES", "MISSING_COLUMN", "DriftBins", "Outcome", "evaluate"]

#: ``(spec, success, result)`` as :func:`gx_results.result_from_outcomes` accepts it.
Outcome = tuple[ExpectationSpec, bool, dict[str, Any]]

#: ``details`` of the result of an expectation whose column is not in the DataFrame.
MISSING_COLUMN = "column missing"

#: Expectation types :func:`evaluate` computes itself (when their arguments allow it).
FAST_TYPES: frozenset[str] = frozenset(
    {
        NOT_NULL,
        NULL,
        UNIQUE,
        IN_SET,
        NOT_IN_SET,
        BETWEEN,
        REGEX,
        NOT_REGEX,
        ROWS_BETWEEN,
        ROWS_EQUAL,
        MIN,
        MAX,
        MEAN,
        SUM,
        NON_NULL_SHARE,
        PSI,
    }
)

_SUMMARY = {"result_format": "SUMMARY"}


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
    fused = FusedPass(df, dict(drift_bins or {}))
    schema = {f.name: f.dataType for f in df.schema.fields}
    planned: list[Planned | Outcome | ExpectationSpec] = []

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
        plan = PLANNERS[spec.type](Target(spec, expectation, kwargs, data_type), fused)
        planned.append(plan if plan is not None else spec)

    row: Mapping[str, Any] = {}
    if fused.aggregates.columns:
        row = df.agg(*fused.aggregates.columns).collect()[0].asDict()
    extra = Grouped()
    if fused.unique_columns or fused.drift_labels:
        extra = _grouped_counts(df, fused.unique_columns, fused.drift_labels)

    values = {key: row[alias] for key, alias in fused.aggregates.alias.items()}
    outcomes: list[Outcome] = []
    leftovers: list[ExpectationSpec] = []
    for item in planned:
        if isinstance(item, ExpectationSpec):
            leftovers.append(item)
        elif isinstance(item, Planned):
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
    if spec.type not in FAST_TYPES or not set(spec.kwargs) <= ALLOWED_KWARGS[spec.type]:
        return None
    if any(_is_suite_parameter(v) for v in spec.kwargs.values()):
        return None
    try:
        return get_expectation_impl(spec.type)(**spec.kwargs)
    except Exception:  # invalid arguments: GX reports them
        return None


def _is_suite_parameter(value: Any) -> bool:
    return isinstance(value, dict) and "$PARAMETER" in value


def _grouped_counts(
    df: DataFrame,
    unique_columns: Mapping[str, int],
    drift_labels: Mapping[Hashable, tuple[int, Column]],
) -> Grouped:
    """One Spark action: duplicated-row counts per unique column and bin counts per PSI column.

    The duplicated-row count of a column is the number of rows whose (non-null) value occurs more
    than once: GX's ``column_values.unique`` unexpected count. Each unique column is grouped by
    its own (typed) values; the bins of all PSI columns are unpivoted into ``(k, bin)`` rows; one
    final ``GROUP BY (kind, k, bin)`` over the union sums both.
    """
    parts: list[DataFrame] = []
    for name, index in unique_columns.items():
        repeated = (
            df.select(quoted_column(name).alias("v"))
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
    grouped = Grouped()
    for row in totals.collect():
        if row["kind"] == 0:
            grouped.duplicated[unique_names[row["k"]]] = int(row["n"])
        else:
            grouped.bins.setdefault(drift_keys[row["k"]], {})[row["bin"]] = int(row["n"])
    return grouped
