"""Quality declarations in definitions: what the gate checks for an entity, a source or a tag.

Written under ``quality:`` in YAML; validated here without Great Expectations installed (the
compiler imports no GX). The gate (``tagfactory.quality``) turns them, plus the checks generated
from the definitions themselves, into Great Expectations suites.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Unknown fields are errors; no coercion (same rules as :mod:`models`, which imports this one)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

Severity = Literal["error", "warn"]
Share = float

# Great Expectations 1.24 core expectation types (``great_expectations.expectations.core``), plus
# the gate's own drift expectation. Kept as data so validation needs no GX import.
GX_EXPECTATIONS = frozenset("""
expect_column_distinct_values_to_be_in_set expect_column_distinct_values_to_contain_set
expect_column_distinct_values_to_equal_set expect_column_kl_divergence_to_be_less_than
expect_column_max_to_be_between expect_column_mean_to_be_between expect_column_median_to_be_between
expect_column_min_to_be_between expect_column_most_common_value_to_be_in_set
expect_column_pair_values_a_to_be_greater_than_b expect_column_pair_values_to_be_equal
expect_column_pair_values_to_be_in_set expect_column_proportion_of_non_null_values_to_be_between
expect_column_proportion_of_unique_values_to_be_between expect_column_quantile_values_to_be_between
expect_column_stdev_to_be_between expect_column_sum_to_be_between expect_column_to_exist
expect_column_type_to_be expect_column_unique_value_count_to_be_between
expect_column_value_lengths_to_be_between expect_column_value_lengths_to_equal
expect_column_value_z_scores_to_be_less_than expect_column_values_to_be_between
expect_column_values_to_be_dateutil_parseable expect_column_values_to_be_decreasing
expect_column_values_to_be_in_set expect_column_values_to_be_in_type_list
expect_column_values_to_be_increasing expect_column_values_to_be_json_parseable
expect_column_values_to_be_null expect_column_values_to_be_of_type expect_column_values_to_be_unique
expect_column_values_to_match_json_schema expect_column_values_to_match_like_pattern
expect_column_values_to_match_like_pattern_list expect_column_values_to_match_regex
expect_column_values_to_match_regex_list expect_column_values_to_match_strftime_format
expect_column_values_to_not_be_in_set expect_column_values_to_not_be_null
expect_column_values_to_not_be_outliers expect_column_values_to_not_match_like_pattern
expect_column_values_to_not_match_like_pattern_list expect_column_values_to_not_match_regex
expect_column_values_to_not_match_regex_list expect_compound_columns_to_be_unique
expect_multicolumn_sum_to_equal expect_multicolumn_values_to_be_equal
expect_select_column_values_to_be_unique_within_record expect_table_column_count_to_be_between
expect_table_column_count_to_equal expect_table_columns_to_match_ordered_list
expect_table_columns_to_match_set expect_table_row_count_to_be_between expect_table_row_count_to_equal
expect_column_psi_to_be_less_than
""".split())


class ExpectationDecl(Strict):
    """A Great Expectations expectation written in YAML.

    For a tag, ``column`` defaults to the tag's own column; for a source it must be named.
    """

    type: str = Field(min_length=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = "error"
    name: str | None = None


class RangeSpec(Strict):
    """Values must lie in [min, max] (either bound may be open)."""

    min: float | None = None
    max: float | None = None
    mostly: Share = Field(1.0, gt=0, le=1)
    severity: Severity = "error"


class DriftSpec(Strict):
    """Population stability index of the tag's distribution vs the previous snapshot."""

    psi_max: float = Field(0.25, gt=0)
    severity: Severity = "warn"


class TagQuality(Strict):
    """Checks of one tag's output column."""

    coverage_min: Share | None = Field(None, ge=0, le=1)
    coverage_severity: Severity = "error"
    range: RangeSpec | None = None
    max_coverage_drop: Share | None = Field(None, gt=0, le=1)
    drift: DriftSpec | None = None
    expectations: list[ExpectationDecl] = Field(default_factory=list)


class SourceQuality(Strict):
    """Checks of one source before the build reads it."""

    freshness: bool = True
    freshness_severity: Severity = "error"
    min_rows: int | None = Field(None, ge=0)
    expectations: list[ExpectationDecl] = Field(default_factory=list)


class EntityQuality(Strict):
    """Checks of an entity's whole profile snapshot."""

    max_row_count_change: Share | None = Field(0.3, gt=0)
    row_count_severity: Severity = "error"
    expectations: list[ExpectationDecl] = Field(default_factory=list)
