"""Audiences and scenes on real Spark and Delta, checked against the independent oracle.

The repository's shipped audiences and scenes are materialized for the two built test dates
(a week apart) into a copy of the test warehouse; every table is read back with delta-rs and
compared with ``tests/oracle/audience_oracle.py`` (pandas + DuckDB over the same profile
snapshot, written from docs/audiences.md without importing tagfactory).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from deltalake import DeltaTable

from tagfactory.compiler.models import Guardrails
from tests.integration.conftest import DATES, REPO, Built, Materialized, copy_warehouse
from tests.oracle import audience_oracle as oracle

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark
EARLY, LATE = DATES[1], DATES[0]


def _read(uri: Path, date: dt.date) -> pd.DataFrame:
    frame = DeltaTable(str(uri)).to_pandas(filters=[("dt", "=", date)])
    return frame.drop(columns=["dt"])


@pytest.fixture(scope="module")
def world(spark: SparkSession, built: Built, materialized: Materialized,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the built warehouse with the audiences of both dates materialized."""
    base = tmp_path_factory.mktemp("audiences")
    settings, tables = copy_warehouse(spark, built, materialized.warehouse, base)
    summaries = materialized.summaries
    audiences, scenes = oracle.load_definitions(REPO / "tag_definitions")
    tag_types = {t.name: t.type for t in built.entity.tags}
    members = {}
    for date in (EARLY, LATE):
        profile = _read(base / "warehouse" / "profile_user", date)
        members[date] = oracle.audience_members(audiences, profile, date, key="user_id", tag_types=tag_types)
    return {"warehouse": base / "warehouse", "settings": settings, "tables": tables, "summaries": summaries,
            "members": members,
            "audiences": audiences, "scenes": scenes, "tag_types": tag_types}


def _spark_members(warehouse: Path, date: dt.date) -> dict[str, set[str]]:
    frame = _read(warehouse / "audience_members_user", date)
    return {name: set(group["user_id"]) for name, group in frame.groupby("audience")}


def test_membership_of_every_shipped_audience_matches_the_oracle(world: dict[str, Any]) -> None:
    kinds = {oracle._kind(a) for a in world["audiences"]}
    assert kinds == {"rule", "list", "sql"}
    for date in (EARLY, LATE):
        got = _spark_members(world["warehouse"], date)
        expected = world["members"][date]
        assert set(expected) == {a["name"] for a in world["audiences"]}
        for name, keys in expected.items():
            assert got.get(name, set()) == keys, f"{name} on {date}: {len(got.get(name, set()))} vs {len(keys)}"
    # the test data must make the comparison meaningful: most audiences are non-empty on both days
    sizes = {n: len(k) for n, k in world["members"][LATE].items()}
    assert sum(1 for n in sizes.values() if n > 0) >= 8, sizes


def test_include_and_exclude_compose_as_sets(world: dict[str, Any]) -> None:
    m = world["members"][LATE]
    got = _spark_members(world["warehouse"], LATE)
    assert not got.get("churn_risk_browsers", set()) & m["test_and_risky"]
    assert not got.get("winback_push", set()) & (m["phone_verified_vips"] | m["trade_show_leads"])
    assert got.get("winback_push", set()) <= m["churn_risk_browsers"] | m["high_value_customers"]


def test_stats_and_changes_across_two_days(world: dict[str, Any]) -> None:
    today, before = world["members"][LATE], world["members"][EARLY]
    expected_stats = oracle.audience_stats(today, before)
    stats = _read(world["warehouse"] / "audience_stats_user", LATE).set_index("audience")
    for name, exp in expected_stats.items():
        row = stats.loc[name]
        assert (row["size"], row["added"], row["removed"]) == (exp["size"], exp["added"], exp["removed"]), name
        assert row["previous_size"] == len(before[name])
        assert row["previous_dt"] == EARLY
        if len(before[name]):
            assert row["change"] == pytest.approx(abs(len(today[name]) - len(before[name])) / len(before[name]))
    changes = _read(world["warehouse"] / "audience_changes_user", LATE)
    got = set(zip(changes["audience"], changes["user_id"], changes["change"], strict=True))
    assert got == oracle.audience_changes(today, before)
    assert len(got) > 0
    first = _read(world["warehouse"] / "audience_changes_user", EARLY)
    assert set(first["change"]) <= {"entered"}
    assert len(first) == sum(len(k) for k in before.values())


def test_list_audiences_report_unknown_identifiers(world: dict[str, Any]) -> None:
    stats = _read(world["warehouse"] / "audience_stats_user", LATE).set_index("audience")
    profile = _read(world["warehouse"] / "profile_user", LATE)
    for a in world["audiences"]:
        if oracle._kind(a) == "list":
            expected = oracle.list_unknown(a, profile, key="user_id")
            assert stats.loc[a["name"], "list_unknown"] == expected, a["name"]
            assert expected > 0  # the shipped lists hold ids beyond the 2,000 test users


def test_audience_profile_matches_the_oracle(world: dict[str, Any]) -> None:
    profile = _read(world["warehouse"] / "profile_user", LATE)
    tags = {a["name"]: a["profile_tags"] for a in world["audiences"] if a.get("profile_tags")}
    expected = oracle.audience_profile(profile, world["members"][LATE], tags, key="user_id",
                                       tag_types=world["tag_types"])
    got = _read(world["warehouse"] / "audience_profile_user", LATE)
    key = ["audience", "tag", "value"]
    merged = expected.merge(got, on=key, how="outer", suffixes=("_exp", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head(10)
    for column in ("audience_users", "population_users"):
        assert (merged[f"{column}_exp"] == merged[f"{column}_got"]).all(), column
    for column in ("share_in_audience", "share_in_population", "tgi"):
        assert merged[f"{column}_got"].to_numpy() == pytest.approx(merged[f"{column}_exp"].to_numpy(), rel=1e-9)
    # a numeric tag is bucketed into quintile labels
    assert got[got["tag"] == "orders_90d"]["value"].str.contains(r"^(?:< |\[|>= |\(null\))").all()


def test_scene_assignments_match_the_oracle_and_are_exclusive(world: dict[str, Any]) -> None:
    for date in (EARLY, LATE):
        expected = oracle.scene_assignments(world["scenes"], world["members"][date])
        got = _read(world["warehouse"] / "scene_assignments_user", date).rename(columns={"user_id": "key"})
        assert not got.duplicated(["scene", "key"]).any(), "a user is in two branches of one scene"
        cols = ["scene", "key", "branch", "group", "variant", "payload"]
        norm = [e.astype(object).where(e.notna(), None).sort_values(["scene", "key"]).reset_index(drop=True)[cols]
                for e in (expected, got)]
        pd.testing.assert_frame_equal(norm[0], norm[1], check_dtype=False)
        assert not ((got["group"] == "holdout") & got["payload"].notna()).any()
        counts = _read(world["warehouse"] / "scene_stats_user", date)
        got_counts = {(r.scene, r.branch, r.group, r.variant if isinstance(r.variant, str) else None): r.users
                      for r in counts.itertuples()}
        assert got_counts == oracle.scene_counts(expected)
    payloads = {json.loads(p)["coupon_id"] for p in got[got["variant"].notna()]["payload"]}
    assert payloads <= {"WB-20", "WB-30"}


def test_rerun_is_idempotent_and_a_failed_guardrail_publishes_nothing(spark: SparkSession, world: dict[str, Any],
                                                                         built: Built) -> None:
    from tagfactory.audiences.materialize import materialize
    from tagfactory.quality.failures import QualityGateError

    warehouse = world["warehouse"]
    before = {t: _read(warehouse / t, LATE) for t in ("audience_members_user", "audience_stats_user",
                                                    "scene_assignments_user")}
    materialize(spark, world["settings"], world["tables"], built.entity, LATE, "aud-rerun", built.target,
                built.digest)
    for table, frame in before.items():
        again = _read(warehouse / table, LATE)
        assert len(again) == len(frame), table
        if table != "audience_stats_user":
            pd.testing.assert_frame_equal(again.sort_values(list(again.columns)).reset_index(drop=True),
                                          frame.sort_values(list(frame.columns)).reset_index(drop=True))

    strict = Guardrails(min_size=10_000_000, severity="error")
    entity = built.entity.model_copy(update={"audiences": [
        a.model_copy(update={"guardrails": strict}) if a.name == "high_value_customers" else a
        for a in built.entity.audiences]})
    versions = {t: DeltaTable(str(warehouse / t)).version() for t in before}
    with pytest.raises(QualityGateError) as err:
        materialize(spark, world["settings"], world["tables"], entity, LATE, "aud-fail", built.target, built.digest)
    assert "audience `high_value_customers`" in str(err.value) and "below min_size 10,000,000" in str(err.value)
    assert {t: DeltaTable(str(warehouse / t)).version() for t in before} == versions
    assert (warehouse / "audience_members_user" / "_quarantine" / "aud-fail").exists()
    results = DeltaTable(str(warehouse / "quality_results")).to_pandas()
    failed = results[(results["run_id"] == "aud-fail") & ~results["success"]]
    assert list(failed["expectation"]) == ["high_value_customers.size"]
    assert "--override-gate" in str(err.value)

    # overriding is an explicit, recorded decision that publishes the quarantined tables
    from tagfactory.audiences.publish import publish_overridden

    publish_overridden(spark, world["settings"], world["tables"], entity, LATE, "aud-fail",
                       "campaign launch approved by CRM lead", built.digest, actor="tester")
    assert all(DeltaTable(str(warehouse / t)).version() > v for t, v in versions.items())
    assert DeltaTable(str(warehouse / "audience_members_user")).history()[0]["gate_override_by"] == "tester"
    results = DeltaTable(str(warehouse / "quality_results")).to_pandas()
    override = results[(results["run_id"] == "aud-fail") & (results["expectation"] == "__override__")]
    assert len(override) == 1 and "campaign launch" in override["details"].iloc[0]
    assert len(_read(warehouse / "audience_members_user", LATE)) == len(before["audience_members_user"])


def test_all_audiences_are_one_scan_in_one_stage(spark: SparkSession, built: Built) -> None:
    """The one pass: one scan of the snapshot, no shuffle, the conditions outside whole-stage code."""
    from pyspark.sql import functions as F

    from tagfactory.audiences.membership import membership, one_pass_codegen
    from tagfactory.lakehouse import delta

    snapshot = delta.read_table(spark, str(built.warehouse / "profile_user")).where(F.col("dt") == F.lit(LATE))
    keyed = snapshot.drop("dt").withColumn("_ext", F.lit(None).cast("array<string>")).cache()
    try:
        # the entity's compiled pass (list and SQL audiences read the null `_ext`: no members)
        with one_pass_codegen(spark), delta.session_conf(spark, "spark.sql.adaptive.enabled", "false"):
            plan = membership(keyed, built.entity, LATE)._jdf.queryExecution().executedPlan().toString()
    finally:
        keyed.unpersist()
    lines = plan.splitlines()
    assert sum("InMemoryTableScan" in line for line in lines) == 1, plan
    assert "Exchange hashpartitioning" not in plan and "BroadcastExchange" in plan, plan
    conditions = next(line for line in lines if "Project [user_id" in line and "array(" in line)
    assert "*(" not in conditions, plan  # split generated code, JIT-compilable
    assert any("*(" in line and "Generate posexplode" in line for line in lines), plan  # whole-stage code
