"""The fused pass's tables agree: every type it claims has a planner and allowed arguments.

Unit speed: no Spark session (the planners are only looked up, not run).
"""

from __future__ import annotations

import pytest
from great_expectations.expectations.registry import get_expectation_impl

from tagfactory.quality.metrics import FAST_TYPES
from tagfactory.quality.planners import ALLOWED_KWARGS, PLANNERS


def test_every_fast_type_has_a_planner_and_vice_versa() -> None:
    assert set(PLANNERS) == set(FAST_TYPES)


def test_every_fast_type_has_allowed_kwargs_and_vice_versa() -> None:
    assert set(ALLOWED_KWARGS) == set(FAST_TYPES)


@pytest.mark.parametrize("expectation_type", sorted(FAST_TYPES))
def test_planned_types_are_gx_expectations_with_those_arguments(expectation_type: str) -> None:
    expectation_class = get_expectation_impl(expectation_type)  # the PSI one is ours, registered
    assert ALLOWED_KWARGS[expectation_type] <= set(expectation_class.__fields__)
    assert callable(PLANNERS[expectation_type])
