"""The driver side of the effect-analysis job without Spark (tagfactory/analysis: arms, driver, report):
arms as sums of cells, estimates against scipy/statsmodels, SRM trust, degenerate and empty arms, the
multiple-testing family, sequential looks and the readable table."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from tagfactory.analysis.arms import Cell, pairs, split_shares
from tagfactory.analysis.driver import SceneInputs, analyse_scene
from tagfactory.analysis.report import render
from tagfactory.compiler.manifest import Scene

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def popup() -> Scene:
    import os

    from tagfactory.compiler.assemble import build_manifest
    from tagfactory.compiler.project import load_project

    here = os.getcwd()
    os.chdir(REPO)
    try:
        project, _ = load_project("tag_definitions")
        manifest = build_manifest(project, "tag_definitions")
    finally:
        os.chdir(here)
    return next(s for s in manifest.entity("user").scenes if s.name == "home_popup")


def _cell(goal: str, branch: str, group: str, variant: str | None, y: np.ndarray, *, metric: str = "conversion",
          slice_value: str | None = None, x: np.ndarray | None = None, touches: int = 0) -> Cell:
    row = {"scene": "home_popup", "goal": goal, "metric_type": metric, "branch": branch, "group": group,
           "variant": variant, "slice_tag": "value_tier" if slice_value else None, "slice_value": slice_value,
           "n": len(y), "sum_y": float(y.sum()), "sum_y_sq": float((y * y).sum()), "touches": touches,
           "reached": min(touches, len(y))}
    if x is not None:
        row.update(sum_x=float(x.sum()), sum_x_sq=float((x * x).sum()), sum_xy=float((x * y).sum()))
    return Cell.from_row(row)


def _conversions(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


def _winback_cells(rng: np.random.Generator, goal: str = "orders_next_day") -> list[Cell]:
    return [_cell(goal, "winback", "treatment", "coupon_20", _conversions(rng, 400, 0.2), touches=400),
            _cell(goal, "winback", "treatment", "coupon_30", _conversions(rng, 420, 0.25), touches=420),
            _cell(goal, "winback", "control", None, _conversions(rng, 90, 0.1)),
            _cell(goal, "winback", "holdout", None, _conversions(rng, 45, 0.1))]


def _inputs(cells: list[Cell], exposed: dict[tuple[str, str | None, str | None], int] | None = None,
            **kwargs: Any) -> SceneInputs:
    counts = exposed or {(c.branch, c.group, c.variant): c.n for c in cells if c.slice_tag is None
                         and c.goal == "orders_next_day"}
    return SceneInputs(cells, counts, {"winback": (0, 3)}, AS_OF - dt.timedelta(days=7), False, **kwargs)


def test_an_arm_is_the_sum_of_its_cells_and_slices_add_up(popup: Scene) -> None:
    rng = np.random.default_rng(1)
    cells = _winback_cells(rng)
    sliced = [_cell(c.goal, c.branch, str(c.group), c.variant, np.ones(c.n // 2), slice_value="vip") for c in cells]
    assert popup.analysis is not None
    found = {(p.comparison.name, p.slice_value): p for p in pairs(cells + sliced, popup.analysis.comparisons,
                                                                  "orders_next_day")}
    total = found[("winback:treatment_vs_control", None)]
    assert total.treatment.n == 820 and total.baseline.n == 90
    assert total.treatment.sum("sum_y") == cells[0].sum("sum_y") + cells[1].sum("sum_y")
    variants = found[("winback:coupon_30_vs_coupon_20", None)]
    assert (variants.treatment.n, variants.baseline.n) == (420, 400)
    assert found[("winback:treatment_vs_control", "vip")].treatment.n == 410
    assert ("vip_thanks:treatment_vs_holdout", None) in found  # a comparison without cells: empty arms
    assert found[("vip_thanks:treatment_vs_holdout", None)].treatment.n == 0


def test_split_shares_follow_the_scene_config() -> None:
    shares = split_shares(0.05, 0.1, [("a", 1.0), ("b", 3.0)])
    assert shares == pytest.approx({"holdout": 0.05, "control": 0.095, "treatment:a": 0.95 * 0.9 / 4,
                                    "treatment:b": 0.95 * 0.9 * 3 / 4})
    assert sum(shares.values()) == pytest.approx(1.0)


def test_results_match_scipy_and_statsmodels(popup: Scene) -> None:
    rng = np.random.default_rng(7)
    cells = _winback_cells(rng)
    rows, health = analyse_scene(popup, _inputs(cells), AS_OF)
    by = {(r["goal"], r["comparison"]): r for r in rows if r["slice_tag"] is None}
    r = by[("orders_next_day", "winback:treatment_vs_control")]
    t_conv = cells[0].sum("sum_y") + cells[1].sum("sum_y")
    c_conv = cells[2].sum("sum_y")
    low, high = confint_proportions_2indep(t_conv, 820, c_conv, 90, method="wald", compare="diff")
    assert r["effect"] == pytest.approx(t_conv / 820 - c_conv / 90)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high))
    assert r["method"] == "wald" and r["status"] == "ok" and r["trusted"] is True
    assert r["incremental"] == pytest.approx(r["effect"] * 820)
    assert r["cost"] == pytest.approx(0.05 * 820) and r["reach_source"] == "assigned_treatment"
    assert r["cost_per_reached"] == pytest.approx(0.05)
    # every other goal of the plan has no cells: no users, not significant
    assert all(x["status"] == "no_users" and not x["significant"] for (g, _), x in by.items() if g != "orders_next_day")
    # the q-values are BH over the tested primary estimates of the scene
    tested = [x for x in rows if x["role"] == "primary" and x["q_value"] is not None]
    q = multipletests([x["p_value"] for x in tested], method="fdr_bh")[1]
    assert [x["q_value"] for x in tested] == pytest.approx(list(q))
    assert all(x["significant"] == (x["q_value"] <= x["alpha"]) for x in tested)
    # SRM of winback against its split
    (check,) = health
    observed = json.loads(check["observed"])
    shares = split_shares(0.05, 0.1, [("coupon_20", 1.0), ("coupon_30", 1.0)])
    arms = sorted(observed)
    expected = [sum(observed.values()) * shares[a] for a in arms]
    assert check["srm_p_value"] == pytest.approx(stats.chisquare([observed[a] for a in arms], expected).pvalue)
    assert check["users_in_several_branches"] == 3 and check["group_changes"] == 0


def test_a_sample_ratio_mismatch_marks_the_branch_untrusted(popup: Scene) -> None:
    rng = np.random.default_rng(3)
    cells = _winback_cells(rng)
    skewed = {("winback", "treatment", "coupon_20"): 400, ("winback", "treatment", "coupon_30"): 420,
              ("winback", "control", None): 300, ("winback", "holdout", None): 45}
    rows, health = analyse_scene(popup, _inputs(cells, skewed), AS_OF)
    assert health[0]["srm_passed"] is False
    assert {r["trusted"] for r in rows if r["status"] == "ok"} == {False}


def test_an_arm_without_spread_is_degenerate_and_not_tested(popup: Scene) -> None:
    rng = np.random.default_rng(5)
    cells = _winback_cells(rng)
    cells[2] = _cell("orders_next_day", "winback", "control", None, np.zeros(29))  # 0 of 29 converted
    rows, _ = analyse_scene(popup, _inputs(cells), AS_OF)
    r = next(x for x in rows if x["comparison"] == "winback:treatment_vs_control" and x["slice_tag"] is None
             and x["goal"] == "orders_next_day")
    assert r["status"] == "degenerate" and r["q_value"] is None and not r["significant"]
    assert r["p_value"] < 1e-6  # what Wald alone would have claimed


def test_sequential_looks_intersect_with_the_previous_date(popup: Scene) -> None:
    rng = np.random.default_rng(11)
    cells = [_cell("order_conversion_7d", c.branch, str(c.group), c.variant, _conversions(rng, c.n, 0.2))
             for c in _winback_cells(rng)]
    first, _ = analyse_scene(popup, _inputs(cells), AS_OF - dt.timedelta(days=1))
    prev = [{**r, "dt": AS_OF - dt.timedelta(days=1)} for r in first if r["tau2"] is not None]
    assert prev and all(r["seq_ci_low"] <= r["ci_low"] and r["seq_ci_high"] >= r["ci_high"] for r in prev)
    narrow = [{**r, "seq_ci_low": r["effect"] - 1e-3, "seq_ci_high": r["effect"] + 1e-3, "seq_p_value": 0.5,
               "tau2": 0.123} for r in prev]
    second, _ = analyse_scene(popup, _inputs(cells, previous=narrow), AS_OF)
    again = {(r["comparison"], r["slice_tag"]): r for r in second if r["tau2"] is not None}
    for r in narrow:
        now = again[(r["comparison"], r["slice_tag"])]
        assert now["tau2"] == 0.123  # fixed at the first look
        assert now["seq_ci_high"] - now["seq_ci_low"] <= 2e-3 + 1e-12 and now["seq_p_value"] <= 0.5


def test_render_shows_flags_and_json_is_strict(popup: Scene) -> None:
    from tagfactory.analysis.report import _plain

    rng = np.random.default_rng(7)
    rows, _ = analyse_scene(popup, _inputs(_winback_cells(rng)), AS_OF)
    text = render(rows)
    assert "winback:treatment_vs_control" in text and "(no matured users in an arm yet)" in text
    assert "[value_tier=" not in text
    assert all(_plain(v) is None or not isinstance(_plain(v), float) or math.isfinite(_plain(v))
               for r in rows for v in r.values())
    assert _plain(float("inf")) == "inf" and _plain(float("nan")) is None
    assert render([]) == "no effect results"
