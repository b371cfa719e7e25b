"""The sample-ratio-mismatch check against scipy's chi-square test, and the multiple-testing
corrections against statsmodels' ``multipletests``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tagfactory.effects import Estimate, adjust, bh, holm, mark_untrusted, srm_check, srm_checks


@pytest.mark.parametrize("observed,split", [
    ({"treatment": 9_120, "control": 880}, {"treatment": 90, "control": 10}),
    ({"treatment": 5_210, "control": 4_790}, {"treatment": 0.5, "control": 0.5}),
    ({"treatment": 4_000, "control": 1_010, "holdout": 980}, {"treatment": 4, "control": 1, "holdout": 1}),
])
def test_srm_matches_scipy_chisquare(observed: dict[str, int], split: dict[str, float]) -> None:
    result = srm_check(observed, split, scene="popup", branch="new_users")
    arms = list(split)
    counts = np.array([observed[a] for a in arms], dtype=float)
    shares = np.array([split[a] for a in arms], dtype=float)
    ref = stats.chisquare(counts, counts.sum() * shares / shares.sum())
    assert result.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert result.df == len(arms) - 1
    assert result.trusted == (ref.pvalue >= 0.001)


def test_srm_flags_a_broken_split_and_marks_its_estimates_untrusted() -> None:
    results = srm_checks({("popup", "a"): {"treatment": 5_400, "control": 4_600},
                          ("popup", "b"): {"treatment": 5_020, "control": 4_980},
                          ("push", "a"): {"treatment": 5_020, "control": 4_980}},
                         {("popup", "a"): {"treatment": 1, "control": 1}, ("popup", "b"): {"treatment": 1, "control": 1},
                          ("push", "a"): {"treatment": 1, "control": 1}})
    assert [r.trusted for r in results] == [False, True, True]
    base = _estimate(0.01)
    marked = mark_untrusted([_estimate(0.01, scene="popup", branch="a"), _estimate(0.01, scene="popup", branch="b"),
                             _estimate(0.01, scene="popup"), _estimate(0.01, scene="push")], results)
    assert [e.trusted for e in marked] == [False, True, False, True]
    assert base.trusted
    # an arm with users but no share is a configuration error; a share without users counts 0
    with pytest.raises(ValueError, match="no share"):
        srm_check({"treatment": 5, "rogue": 1}, {"treatment": 1, "control": 1})
    assert not srm_check({"treatment": 100}, {"treatment": 1, "control": 1}).trusted
    stray = srm_check({"treatment": 100, "control": 100, "holdout": 1}, {"treatment": 1, "control": 1, "holdout": 0})
    assert not stray.trusted and stray.p_value == 0.0
    assert srm_check({"treatment": 100, "control": 100, "holdout": 0},
                     {"treatment": 1, "control": 1, "holdout": 0}).trusted


def _estimate(p: float, scene: str = "", branch: str = "") -> Estimate:
    return Estimate("m", "c", "welch", 0.1, 0.05, 0.0, 0.2, p, 2.0, 100.0, 0.05, 1.1, 1.0, 100, 100,
                    0.1, 0.0, 0.2, scene=scene, branch=branch)


@pytest.mark.parametrize("seed", range(5))
def test_bh_and_holm_match_statsmodels_multipletests(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=30), rng.uniform(0, 0.01, size=10), [0.02, 0.02, 1.0]])
    rng.shuffle(p)
    np.testing.assert_allclose(bh(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


def test_adjust_sets_q_values_and_leaves_nan_out_of_the_count() -> None:
    estimates = [_estimate(p) for p in (0.01, 0.04, 0.03, float("nan"))]
    q = [e.q_value for e in adjust(estimates)]
    np.testing.assert_allclose(q[:3], multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1])
    assert q[3] is not None and np.isnan(q[3])
    assert [e.q_value for e in adjust(estimates[:3], "none")] == [0.01, 0.04, 0.03]
    with pytest.raises(ValueError):
        bh([0.5, 1.5])
