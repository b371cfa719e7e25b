"""Property tests of the sufficient statistics and estimates: slices add up to the total, swapping
the arms flips the sign, a constant covariate leaves CUPED unchanged, estimates do not depend on how
the users were split into cells."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagfactory.effects import (
    CovariateStats,
    MeanStats,
    RatioStats,
    cuped,
    difference_in_means,
    difference_in_proportions,
    ratio_difference,
    total,
)

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(0.5, 20), st.integers(0, 4)), min_size=1, max_size=80))
def test_slices_add_up_to_the_total(rows: list[tuple[float, float, int]]) -> None:
    y = np.array([r[0] for r in rows])
    x = np.array([r[1] for r in rows])
    slice_of = np.array([r[2] for r in rows])
    for kind, build, empty in ((MeanStats, lambda m: MeanStats.from_values(y[m]), MeanStats.zero()),
                               (RatioStats, lambda m: RatioStats.from_values(y[m], x[m]), RatioStats.zero()),
                               (CovariateStats, lambda m: CovariateStats.from_values(y[m], x[m]),
                                CovariateStats.zero())):
        parts = [build(slice_of == s) for s in range(5)]
        whole = build(np.ones(y.size, dtype=bool))
        summed = total(parts, empty)
        assert isinstance(summed, kind)
        for field in whole.__dataclass_fields__:
            assert getattr(summed, field) == pytest.approx(getattr(whole, field), rel=1e-9, abs=1e-6), field


@settings(max_examples=60, deadline=None)
@given(values, values)
def test_swapping_the_arms_flips_the_sign(a: list[float], b: list[float]) -> None:
    t, c = MeanStats.from_values(a), MeanStats.from_values(b)
    forward = difference_in_means(t, c, metric="m", comparison="c")
    back = difference_in_means(c, t, metric="m", comparison="c")
    assert back.effect == pytest.approx(-forward.effect, abs=1e-9, nan_ok=True)
    assert back.ci_low == pytest.approx(-forward.ci_high, abs=1e-9, nan_ok=True)
    assert back.ci_high == pytest.approx(-forward.ci_low, abs=1e-9, nan_ok=True)
    if not np.isnan(forward.p_value):
        assert back.p_value == pytest.approx(forward.p_value, rel=1e-6, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 500), st.integers(0, 20), st.integers(20, 500), st.integers(0, 20))
def test_proportions_and_ratios_flip_too(n_t: int, k_t: int, n_c: int, k_c: int) -> None:
    t, c = MeanStats(n_t, k_t, k_t), MeanStats(n_c, k_c, k_c)
    assert difference_in_proportions(c, t, metric="m", comparison="c").effect == pytest.approx(
        -difference_in_proportions(t, c, metric="m", comparison="c").effect)
    rng = np.random.default_rng(n_t * 1000 + n_c)
    rt = RatioStats.from_values(rng.gamma(2, 5, n_t), rng.poisson(2, n_t) + 1)
    rc = RatioStats.from_values(rng.gamma(2, 5, n_c), rng.poisson(2, n_c) + 1)
    f, b = (ratio_difference(*arms, metric="m", comparison="c") for arms in ((rt, rc), (rc, rt)))
    assert b.effect == pytest.approx(-f.effect) and b.se == pytest.approx(f.se)


@settings(max_examples=40, deadline=None)
@given(values, values, st.floats(-100, 100))
def test_a_constant_covariate_leaves_cuped_unchanged(a: list[float], b: list[float], x: float) -> None:
    t = CovariateStats.from_values(a, [x] * len(a))
    c = CovariateStats.from_values(b, [x] * len(b))
    adjusted = cuped(t, c, metric="m", comparison="c")
    plain = difference_in_means(t.metric, c.metric, metric="m", comparison="c")
    assert adjusted.theta == 0.0
    assert adjusted.effect == pytest.approx(plain.effect, abs=1e-9, nan_ok=True)
    assert adjusted.se == pytest.approx(plain.se, rel=1e-9, abs=1e-12)
