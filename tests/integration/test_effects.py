"""The effect-analysis job on real Spark (tagfactory/analysis): sufficient statistics against pandas,
idempotent dates, the demo's planted effect recovered and the null scene not significant, health,
lineage and the ``tagfactory effects`` command.

Starts from the session's ``materialized`` warehouse (scenes of 2026-11-16 and 2026-11-23) and runs
the job as of 2026-11-23 and 2026-11-24 (the demo data ends on 2026-11-24, so the 1-day window of
``orders_next_day`` has matured for both cohorts).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from tests.integration.conftest import DATES, END_DATE, Materialized, copy_warehouse
from tests.lineage_schema import validate_events_file

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark
AS_OF = (max(DATES), END_DATE)


@dataclass
class Analyzed:
    settings: Any
    tables: Any
    warehouse: Path
    summaries: dict[dt.date, dict[str, Any]]
    materialized: Materialized


def _analyze(spark: SparkSession, a: Analyzed, date: dt.date, run_id: str) -> dict[str, Any]:
    from tagfactory.analysis.job import analyze_entity
    from tagfactory.lineage import LineageEmitter

    built = a.materialized.built
    emitter = LineageEmitter.from_config(True, None, a.settings.lineage_file())
    return analyze_entity(spark, a.settings, a.tables, built.manifest, built.entity, date, run_id, emitter)


@pytest.fixture(scope="module")
def analyzed(spark: SparkSession, materialized: Materialized, tmp_path_factory: pytest.TempPathFactory) -> Analyzed:
    base = tmp_path_factory.mktemp("effects")
    settings, tables = copy_warehouse(spark, materialized.built, materialized.warehouse, base)
    out = Analyzed(settings, tables, base / "warehouse", {}, materialized)
    for date in AS_OF:
        out.summaries[date] = _analyze(spark, out, date, f"eff-{date}")
    return out


def _table(a: Analyzed, name: str, date: dt.date | None = None) -> pd.DataFrame:
    table = DeltaTable(str(a.warehouse / name))
    frame = table.to_pyarrow_table(filters=[("dt", "=", date)] if date else None).to_pandas()
    return frame


# --- sufficient statistics against pandas ----------------------------------------------------------

def _synthetic(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Assignments over 4 days (branch moves, users joining late), events around the windows, profiles."""
    rng = np.random.default_rng(seed)
    d0 = dt.date(2026, 3, 1)
    rows = []
    for i in range(240):
        key = f"k{i:03d}"
        start = int(rng.integers(0, 4))
        group = ["treatment", "control", "holdout"][int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
        variant = ("v1" if rng.random() < 0.5 else "v2") if group == "treatment" else None
        for day in range(start, 4):
            branch = "b1" if day == start or rng.random() < 0.7 else "b2"  # later moves never count
            g = group if branch == "b1" else "treatment"
            rows.append(("s", key, branch, g, variant if branch == "b1" else None, d0 + dt.timedelta(days=day)))
    assignments = pd.DataFrame(rows, columns=["scene", "user_id", "branch", "group", "variant", "dt"])
    events = []
    for i in range(240):
        for _ in range(int(rng.poisson(2.0))):
            day = d0 + dt.timedelta(days=int(rng.integers(-2, 8)))
            when = dt.datetime.combine(day, dt.time(int(rng.integers(0, 24)), 30))
            events.append((f"k{i:03d}", when, float(rng.lognormal(4, 1)), float(rng.lognormal(3, 1)), 1.0))
    frame = pd.DataFrame(events, columns=["user_id", "event_time", "value", "numerator", "denominator"])
    profile = [(f"k{i:03d}", d0 + dt.timedelta(days=int(day)), float(rng.normal(100, 30)),
                str(rng.choice(["a", "b", "c", "d"], p=[0.4, 0.3, 0.2, 0.1])))
               for i in range(240) for day in range(-1, 3) if rng.random() < 0.85]
    prof = pd.DataFrame(profile, columns=["user_id", "dt", "gmv_30d", "value_tier"])
    return assignments, frame, prof


def _expected(assignments: pd.DataFrame, events: pd.DataFrame, profile: pd.DataFrame, goal: Any,
              as_of: dt.date) -> pd.DataFrame:
    """The same statistics by hand (pandas, per user), independent of the Spark code."""
    a = assignments[assignments.dt <= as_of].sort_values("dt")
    first = a.groupby("user_id").head(1).set_index("user_id")
    users = pd.DataFrame({"branch": first.branch, "group": first.group, "variant": first.variant,
                          "first": first.dt})
    users["start"] = users["first"] + pd.Timedelta(days=goal.window.delay_days)
    users["end"] = users["first"] + pd.Timedelta(days=goal.window.last_offset)
    prof = profile.set_index(["user_id", "dt"])
    before = [(k, f - dt.timedelta(days=1)) for k, f in users["first"].items()]
    users["x"] = [prof.gmv_30d.get(i, 0.0) for i in before]
    users["s"] = [prof.value_tier.get(i) for i in before]
    counts = users.s.dropna().value_counts()
    top = sorted(counts.index, key=lambda v: (-counts[v], v))[:2]
    users["s"] = [v if v in top else "(other)" for v in users.s]
    if goal.include_in_progress:  # every user, the window cut at the as-of date
        counted = users.assign(end=users.end.where(users.end <= as_of, as_of))
    else:  # only matured windows
        counted = users[users.end <= as_of].copy()
    day = events.event_time.dt.date
    y = {}
    for k, u in counted.iterrows():
        mine = events[(events.user_id == k) & (day >= u.start) & (day <= u.end)]
        y[k] = mine.value.sum()
    counted["y"] = pd.Series(y)
    cap = np.percentile(counted.y, goal.metric.cap_percentile)
    counted["y"] = np.minimum(counted.y, cap)
    cells = [counted.assign(slice_tag=None, slice_value=None), counted.assign(slice_tag="value_tier", slice_value=counted.s)]
    both = pd.concat(cells)
    both["variant"] = both.variant.where(both.variant.notna(), None)
    keys = ["branch", "group", "variant", "slice_tag", "slice_value"]
    grouped = both.assign(yy=both.y ** 2, xx=both.x ** 2, xy=both.x * both.y).fillna({"variant": "-", "slice_tag": "-"})
    out = grouped.groupby(keys, dropna=False).agg(n=("y", "size"), sum_y=("y", "sum"), sum_y_sq=("yy", "sum"),
                                                   sum_x=("x", "sum"), sum_x_sq=("xx", "sum"),
                                                   sum_xy=("xy", "sum")).reset_index()
    return out


@pytest.mark.parametrize("in_progress", [False, True], ids=["matured", "include_in_progress"])
def test_spark_statistics_equal_pandas_on_synthetic_data(spark: SparkSession, materialized: Materialized,
                                                         in_progress: bool) -> None:
    from tagfactory.analysis import aggregate

    assignments, events, profile = _synthetic()
    revenue = next(g for s in materialized.built.entity.scenes if s.analysis for g in s.analysis.goals
                   if g.name == "revenue_7d")
    window = revenue.window.model_copy(update={"delay_days": 1, "length_days": 2})
    slices = [revenue.slices[0].model_copy(update={"top": 2})]
    goal = revenue.model_copy(update={"window": window, "slices": slices, "include_in_progress": in_progress})
    as_of = dt.date(2026, 3, 4)
    sa = spark.createDataFrame(assignments)
    exposed = aggregate.exposures(sa, "user_id", as_of)
    stats = aggregate.goal_stats(exposed, spark.createDataFrame(events), spark.createDataFrame(profile), goal, "s",
                                 "user_id", as_of, sa, None).toPandas()
    want = _expected(assignments, events, profile, goal, as_of)
    got = stats.fillna({"variant": "-", "slice_tag": "-"}).sort_values(
        ["branch", "group", "variant", "slice_tag", "slice_value"]).reset_index(drop=True)
    want = want.sort_values(["branch", "group", "variant", "slice_tag", "slice_value"]).reset_index(drop=True)
    assert len(got) == len(want) > 6
    total = got[got.slice_tag == "-"].n.sum()
    exposed_users = assignments[assignments.dt <= as_of].user_id.nunique()
    assert (total == exposed_users) if in_progress else (0 < total < exposed_users)  # late joiners not matured
    assert list(got.branch) == ["b1"] * len(got)  # frozen at the first assignment
    for column in ("n", "sum_y", "sum_y_sq", "sum_x", "sum_x_sq", "sum_xy"):
        np.testing.assert_allclose(got[column].astype(float), want[column].astype(float), rtol=1e-9, err_msg=column)
    assert (got.slice_value[got.slice_tag == "value_tier"].isin(["a", "b", "(other)"])).all()
    assert got.cap.notna().all()


def _real_next_day(a: Analyzed, as_of: dt.date) -> pd.DataFrame:
    """orders_next_day per (scene, branch, group, variant) by hand from the Delta assignments and the orders."""
    assignments = _table(a, "scene_assignments_user")
    assignments = assignments[assignments.dt <= as_of].sort_values(["dt"])
    first = assignments.groupby(["scene", "user_id"]).head(1)
    orders = pd.read_parquet(a.materialized.built.data / "orders")
    orders = orders[(orders.status == "completed")]
    days = set(zip(orders.user_id, pd.to_datetime(orders.order_ts).dt.tz_convert("UTC").dt.date, strict=True))
    first = first[first.dt + dt.timedelta(days=1) <= as_of].copy()
    first["y"] = [1.0 if (k, d + dt.timedelta(days=1)) in days else 0.0 for k, d in zip(first.user_id, first.dt,
                                                                                         strict=True)]
    return (first.fillna({"variant": "-"}).groupby(["scene", "branch", "group", "variant"])
            .agg(n=("y", "size"), sum_y=("y", "sum")).reset_index())


def test_the_job_statistics_equal_pandas_on_the_demo_data(analyzed: Analyzed) -> None:
    stats = _table(analyzed, "effect_stats_user", END_DATE)
    mine = stats[(stats.goal == "orders_next_day") & stats.slice_tag.isna()].fillna({"variant": "-"})
    got = mine.groupby(["scene", "branch", "group", "variant"])[["n", "sum_y"]].sum().reset_index()
    want = _real_next_day(analyzed, END_DATE)
    merged = got.merge(want, on=["scene", "branch", "group", "variant"], how="outer", suffixes=("", "_pd"))
    assert merged.n.sum() > 500
    assert (merged.n == merged.n_pd).all() and (merged.sum_y == merged.sum_y_pd).all()


# --- idempotent dates, health, lineage ----------------------------------------------------------------

def test_a_rerun_replaces_its_date_and_keeps_the_others(spark: SparkSession, analyzed: Analyzed) -> None:
    before = {n: _table(analyzed, n) for n in ("effect_results_user", "effect_stats_user", "effect_exposures_user")}
    _analyze(spark, analyzed, END_DATE, "eff-again")
    for name, old in before.items():
        new = _table(analyzed, name)
        assert sorted(set(new.dt)) == list(AS_OF), name
        keys = list(old.columns)
        assert len(new) == len(old), name
        pd.testing.assert_frame_equal(new.sort_values(keys, key=lambda c: c.astype(str)).reset_index(drop=True),
                                      old.sort_values(keys, key=lambda c: c.astype(str)).reset_index(drop=True))
    events = [json.loads(line) for line in Path(analyzed.settings.lineage_file()).read_text().splitlines()]
    runs = [e for e in events if e["job"]["name"] == "analyze_effects.user"]
    assert [e["eventType"] for e in runs] == ["START", "COMPLETE"] * 3
    outputs = {o["name"].rsplit("/", 1)[-1]: o["facets"] for o in runs[-1]["outputs"]}
    assert set(outputs) == {"effect_exposures_user", "effect_stats_user", "effect_results_user", "effect_health_user"}
    # each table carries the manifest's column lineage of its columns; every event is valid OpenLineage
    assert all(facets["columnLineage"]["fields"] for facets in outputs.values())
    assert "sum_y" in outputs["effect_stats_user"]["columnLineage"]["fields"]
    assert validate_events_file(Path(analyzed.settings.lineage_file())) == []


def test_health_has_no_group_changes_and_an_srm_check_per_branch(analyzed: Analyzed) -> None:
    health = _table(analyzed, "effect_health_user", END_DATE)
    exposures = _table(analyzed, "effect_exposures_user", END_DATE)
    assert (health.group_changes == 0).all()
    per_branch = exposures.groupby(["scene", "branch"]).size()
    assert dict(zip(zip(health.scene, health.branch, strict=True), health.users, strict=True)) == per_branch.to_dict()
    assert health.srm_p_value.between(0, 1).all()
    assert [sum(json.loads(o).values()) for o in health.observed] == list(health.users)


# --- the known truth -----------------------------------------------------------------------------------

def test_the_planted_effect_is_inside_its_interval_and_the_null_scene_not_significant(analyzed: Analyzed) -> None:
    from tagfactory.demo._effect import UPLIFT, boosted

    results = _table(analyzed, "effect_results_user", END_DATE)
    exposures = _table(analyzed, "effect_exposures_user", END_DATE)
    next_day = results[(results.goal == "orders_next_day") & results.slice_tag.isna() & (results.status == "ok")]
    popup = next_day[next_day.scene == "home_popup"]
    ex = exposures[exposures.scene == "home_popup"].assign(boosted=lambda f: boosted(list(f.user_id)))
    # the hash the generator reproduced is the scene's: boosted users are exactly those never held out
    # or in winback's control
    assert not ex[ex.group == "holdout"].boosted.any() and not ex[ex.group == "control"].boosted.any()
    checked = 0
    for r in popup.itertuples():
        arms = {"treatment": r.comparison.split(":")[1].split("_vs_")[0], "baseline": r.comparison.split("_vs_")[1]}
        share = {}
        for side, name in arms.items():
            mine = ex[(ex.branch == r.branch) & ((ex.group == name) | (ex.variant == name))]
            share[side] = mine.boosted.mean()
        truth = UPLIFT * (share["treatment"] - share["baseline"]) * (1 - r.mean_baseline)
        assert r.ci_low <= truth <= r.ci_high, (r.comparison, truth, r.ci_low, r.ci_high)
        checked += truth > 0.05
    assert checked >= 1
    push = next_day[next_day.scene == "push_campaign"]
    assert len(push) >= 1 and not push.significant.any()
    assert ((push.ci_low <= 0) & (push.ci_high >= 0)).all()


# --- the command ------------------------------------------------------------------------------------------

def test_tagfactory_effects_prints_the_results(analyzed: Analyzed, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tagfactory.cli import main

    monkeypatch.setenv("TAGFACTORY_WAREHOUSE", str(analyzed.warehouse))
    assert main(["effects", "--scene", "home_popup"]) == 0
    text = capsys.readouterr().out
    assert f"as of {END_DATE}" in text and "orders_next_day" in text and "vip_thanks:treatment_vs_holdout" in text
    assert "push_campaign" not in text and "[value_tier=" not in text
    assert main(["effects", "--date", str(AS_OF[0]), "--slices", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["date"] == str(AS_OF[0]) and {r["scene"] for r in data["results"]} == {"home_popup", "push_campaign"}
    assert any(r["slice_tag"] == "value_tier" for r in data["results"])
    assert main(["effects", "--date", str(AS_OF[-1])]) == 0
    table = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + table)  # the demo effect table, for the record (pytest -s)
    monkeypatch.setenv("TAGFACTORY_WAREHOUSE", str(tmp_path))
    assert main(["effects"]) == 1
    assert "no effect results" in capsys.readouterr().err
