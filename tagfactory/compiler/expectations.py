"""Typed arguments of the expectations a definition may declare under ``quality.expectations``.

Expectation arguments reach Great Expectations, which turns some of them into Spark code: a
``row_condition`` with ``condition_parser: spark`` becomes ``DataFrame.filter(<any Spark SQL>)``.
So kwargs are not free-form: each supported expectation type has a model below; an argument it
does not name is an error (``E604``), and so is a type without a model. Conditions are refused
outright (``row_condition``, ``condition_parser``): filter the data in a tag instead.

The quality gate validates the kwargs of declared expectations again with the same models
(:func:`validated_kwargs`) before it builds a suite, so a manifest edited by hand cannot pass them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Share = Annotated[float, Field(gt=0, le=1)]
Bound = int | float | Annotated[str, Field(max_length=40, pattern=r"^[0-9:T .+-]+$")] | None
Scalar = int | float | bool | Annotated[str, Field(max_length=1000)]
Pattern = Annotated[str, Field(min_length=1, max_length=1000)]

REFUSED = {
    "row_condition": "a row condition is code (GX runs it as a Spark filter)",
    "condition_parser": "condition parsers run their text as code",
    "result_format": "the gate chooses the result format",
    "catch_exceptions": "the gate decides how failures are handled",
    "meta": "the gate writes the expectation's meta",
    "batch_id": "the gate binds the batch",
}


class _Kwargs(BaseModel):
    """Common to every expectation: unknown arguments are errors, nothing is coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Column(_Kwargs):
    column: Name | None = None  # a tag's own column when omitted
    mostly: Share | None = None


class _Between(_Column):
    min_value: Bound = None
    max_value: Bound = None
    strict_min: bool = False
    strict_max: bool = False


class _TableBetween(_Kwargs):
    min_value: int | None = Field(None, ge=0)
    max_value: int | None = Field(None, ge=0)
    strict_min: bool = False
    strict_max: bool = False


class _Set(_Column):
    value_set: list[Scalar] = Field(max_length=10_000)


class _MostCommon(_Kwargs):
    column: Name | None = None
    value_set: list[Scalar] = Field(max_length=10_000)
    ties_okay: bool = False


class _Regex(_Column):
    regex: Pattern


class _Like(_Column):
    like_pattern: Pattern


class _Equal(_Kwargs):
    value: int = Field(ge=0)


class _LengthEqual(_Column):
    value: int = Field(ge=0, le=100_000)


class _Pair(_Kwargs):
    column_A: Name  # noqa: N815 - GX's argument names
    column_B: Name  # noqa: N815
    mostly: Share | None = None
    or_equal: bool = False
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = "both_values_are_missing"


class _Compound(_Kwargs):
    column_list: list[Name] = Field(min_length=1, max_length=50)
    mostly: Share | None = None


class _Monotonic(_Column):
    strictly: bool = False


class _OfType(_Column):
    type_: Literal["StringType", "LongType", "IntegerType", "DoubleType", "FloatType", "BooleanType",
                   "DateType", "TimestampType", "ArrayType", "DecimalType"]


_BETWEEN = ("values mean median min max sum stdev proportion_of_non_null_values proportion_of_unique_values "
            "unique_value_count value_lengths").split()

MODELS: dict[str, type[_Kwargs]] = {
    **{f"expect_column_{k}_to_be_between": _Between for k in _BETWEEN},
    "expect_table_row_count_to_be_between": _TableBetween,
    "expect_table_column_count_to_be_between": _TableBetween,
    "expect_table_row_count_to_equal": _Equal,
    "expect_table_column_count_to_equal": _Equal,
    "expect_column_value_lengths_to_equal": _LengthEqual,
    "expect_column_values_to_be_in_set": _Set,
    "expect_column_values_to_not_be_in_set": _Set,
    "expect_column_distinct_values_to_be_in_set": _Set,
    "expect_column_distinct_values_to_contain_set": _Set,
    "expect_column_distinct_values_to_equal_set": _Set,
    "expect_column_most_common_value_to_be_in_set": _MostCommon,
    "expect_column_values_to_not_be_null": _Column,
    "expect_column_values_to_be_null": _Column,
    "expect_column_values_to_be_unique": _Column,
    "expect_column_to_exist": _Column,
    "expect_column_values_to_match_regex": _Regex,
    "expect_column_values_to_not_match_regex": _Regex,
    "expect_column_values_to_match_like_pattern": _Like,
    "expect_column_values_to_not_match_like_pattern": _Like,
    "expect_column_values_to_be_increasing": _Monotonic,
    "expect_column_values_to_be_decreasing": _Monotonic,
    "expect_column_values_to_be_of_type": _OfType,
    "expect_column_pair_values_a_to_be_greater_than_b": _Pair,
    "expect_column_pair_values_to_be_equal": _Pair,
    "expect_compound_columns_to_be_unique": _Compound,
}


def kwargs_problems(type_: str, kwargs: Any) -> list[tuple[str | None, str]]:
    """``(argument or None, why)`` for every problem of a declaration's kwargs; empty when they are fine."""
    if not isinstance(kwargs, dict):
        return [(None, "`kwargs` must be a mapping")]
    refused = [(k, f"`{k}` is not allowed: {REFUSED[k]}") for k in kwargs if k in REFUSED]
    if refused:
        return refused
    model = MODELS.get(type_)
    if model is None:
        return [(None, f"`{type_}` cannot be declared in definitions (no typed arguments model); supported: "
                 "see docs/security.md#quality")]
    try:
        model.model_validate(kwargs)
    except ValidationError as exc:
        out: list[tuple[str | None, str]] = []
        for err in exc.errors():
            where = str(err["loc"][0]) if err["loc"] else None
            what = "is not an argument of this expectation" if err["type"] == "extra_forbidden" else err["msg"]
            out.append((where if where in kwargs else None, f"`{where}` {what}" if where else what))
        return out
    return []


def validated_kwargs(type_: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` when the typed model accepts them, else ValueError (the gate's second check)."""
    problems = kwargs_problems(type_, kwargs)
    if problems:
        raise ValueError(f"expectation `{type_}`: " + "; ".join(why for _, why in problems))
    return kwargs
