"""GX's own Spark expressions for the fused pass, and the argument checks that guard them.

A map expectation's unexpected-row condition and a column aggregate are built here exactly as
Great Expectations builds them on Spark, or refused (``None``) when the arguments or the column
type would make GX raise or coerce surprisingly -- the planners
(:mod:`tagfactory.quality.planners`) then leave the expectation to real GX.
"""

from __future__ import annotations

import datetime as _dt
import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tagfactory.quality.fused import INTEGRAL, MEAN_TYPES, NUMERIC

__all__ = [
    "Aggregate",
    "Condition",
    "between_condition",
    "bounds_ok",
    "in_set_condition",
    "is_number",
    "mean_aggregate",
    "min_max_aggregate",
    "not_null_condition",
    "null_condition",
    "regex_condition",
    "sum_aggregate",
]

#: GX's Spark ``unexpected_condition`` of a map expectation, ``None`` if unsupported.
Condition = Callable[[Mapping[str, Any], Column, T.DataType, DataFrame], Column | None]
#: GX's Spark aggregate for a column, ``None`` if GX would raise or compare badly.
Aggregate = Callable[[Column, T.DataType, Mapping[str, Any]], Column | None]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# --------------------------------------------------------------------------------------------
# Conditions and aggregates: GX's own Spark expressions
# --------------------------------------------------------------------------------------------
# GX builds ``column.isNotNull() & ~expected`` (nulls are ignored) except for the null
# expectations, where the unexpected condition is ``~expected`` over all rows.


def not_null_condition(
    _kwargs: Mapping[str, Any], col: Column, _t: T.DataType, _df: DataFrame
) -> Column:
    return ~col.isNotNull()


def null_condition(
    _kwargs: Mapping[str, Any], col: Column, _t: T.DataType, _df: DataFrame
) -> Column:
    return ~col.isNull()


def in_set_condition(negate: bool) -> Condition:
    def condition(
        kwargs: Mapping[str, Any], col: Column, data_type: T.DataType, _df: DataFrame
    ) -> Column | None:
        value_set = kwargs.get("value_set")
        check = _value_check(data_type)
        if not isinstance(value_set, list) or check is None:
            return None
        if not all(v is None or check(v) for v in value_set):
            return None
        expected = ~col.isin(value_set) if negate else col.isin(value_set)
        return col.isNotNull() & ~expected

    return condition


def between_condition(
    kwargs: Mapping[str, Any], col: Column, data_type: T.DataType, _df: DataFrame
) -> Column | None:
    check = _bound_check(data_type)
    if check is None or not bounds_ok(kwargs, check):
        return None
    return col.isNotNull() & ~_between(col, kwargs)


def regex_condition(negate: bool) -> Condition:
    def condition(
        kwargs: Mapping[str, Any], col: Column, data_type: T.DataType, df: DataFrame
    ) -> Column | None:
        regex = kwargs.get("regex")
        if not isinstance(data_type, T.StringType) or not isinstance(regex, str):
            return None
        if not _valid_java_regex(df, regex):
            return None
        expected = ~col.rlike(regex) if negate else col.rlike(regex)
        return col.isNotNull() & ~expected

    return condition


def _between(col: Column, kwargs: Mapping[str, Any]) -> Column:
    """GX's Spark condition of ``column_values.between``."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    strict_min, strict_max = kwargs.get("strict_min", False), kwargs.get("strict_max", False)
    parts = []
    if low is not None:
        parts.append(col > F.lit(low) if strict_min else col >= F.lit(low))
    if high is not None:
        parts.append(col < F.lit(high) if strict_max else col <= F.lit(high))
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


def min_max_aggregate(function: Callable[[Column], Column]) -> Aggregate:
    def aggregate(col: Column, data_type: T.DataType, kwargs: Mapping[str, Any]) -> Column | None:
        check = _bound_check(data_type)
        if check is None or not bounds_ok(kwargs, check):
            return None
        return function(col)

    return aggregate


def mean_aggregate(col: Column, data_type: T.DataType, kwargs: Mapping[str, Any]) -> Column | None:
    if not isinstance(data_type, MEAN_TYPES) or not bounds_ok(kwargs, is_number):
        return None
    return F.mean(col)


def sum_aggregate(col: Column, data_type: T.DataType, kwargs: Mapping[str, Any]) -> Column | None:
    if not isinstance(data_type, NUMERIC) or not bounds_ok(kwargs, is_number):
        return None
    if isinstance(data_type, INTEGRAL):  # GX widens integral sums to double on Spark 4
        return F.sum(col.cast(T.DoubleType()))
    return F.sum(col)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    return isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)


def bounds_ok(kwargs: Mapping[str, Any], valid: Callable[[Any], bool]) -> bool:
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
    if isinstance(data_type, NUMERIC):
        return is_number
    if isinstance(data_type, T.DateType):
        return _is_date
    if isinstance(data_type, T.TimestampType | T.TimestampNTZType):
        return lambda v: isinstance(v, _dt.datetime)
    return None


def _value_check(data_type: T.DataType) -> Callable[[Any], bool] | None:
    """What a ``value_set`` member must be to compare with a column of this type."""
    if isinstance(data_type, NUMERIC):
        return is_number
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
