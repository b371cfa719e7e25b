"""Scene assignment at scale on real Spark: split ratios, stability across days, holdout.

Memberships are synthetic (150,000 users in overlapping audiences) so the ratios can be checked
on enough users; the assignment code is the job's own (``assign_scenes``), and a sample is
recomputed with the oracle's independent hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.oracle import audience_oracle as oracle

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = pytest.mark.spark
USERS = 150_000
SCENE = {
    "name": "popup", "salt": "popup_v1", "holdout": 0.1,
    "branches": [
        {"name": "vip", "audience": "vips", "payload": {"t": "vip"}, "control": 0.0, "variants": None},
        {"name": "all", "audience": "everyone", "payload": {"t": "all"}, "control": 0.2,
         "variants": [{"name": "a", "weight": 1.0, "payload": {"c": "A"}},
                      {"name": "b", "weight": 3.0, "payload": {"c": "B"}}]},
    ],
}


def _members(spark: SparkSession, first: int, last: int) -> DataFrame:
    from pyspark.sql import functions as F

    users = spark.range(first, last).select(F.format_string("u%07d", F.col("id")).alias("user_id"), "id")
    everyone = users.select(F.lit("everyone").alias("audience"), "user_id")
    vips = users.where(F.col("id") % 10 == 0).select(F.lit("vips").alias("audience"), "user_id")
    return everyone.unionByName(vips)


@pytest.fixture(scope="module")
def days(spark: SparkSession) -> tuple:
    from tagfactory.audiences.scenes import assign_scenes
    from tagfactory.compiler.manifest import Scene

    # the job takes the manifest's typed scene; the oracle reads the plain dict
    scene = Scene.model_validate({**SCENE, "display_name": "Pop-up", "description": "test scene", "owner": "qa",
                                  "definition": "tests/integration/test_scenes.py"})
    day1 = assign_scenes(spark, [scene], _members(spark, 0, USERS), "user_id").toPandas()
    # day 2: 10,000 users left, 10,000 new ones arrived
    day2 = assign_scenes(spark, [scene], _members(spark, 10_000, USERS + 10_000), "user_id").toPandas()
    return day1, day2


def test_each_user_gets_one_branch_by_priority(days: tuple) -> None:
    day1, _ = days
    assert len(day1) == USERS and not day1["user_id"].duplicated().any()
    ids = day1["user_id"].str[1:].astype(int)
    assert (day1.loc[ids % 10 == 0, "branch"] == "vip").all()
    assert (day1.loc[ids % 10 != 0, "branch"] == "all").all()


def test_split_ratios_within_tolerance(days: tuple) -> None:
    day1, _ = days
    assert (day1["group"] == "holdout").mean() == pytest.approx(0.10, abs=0.005)
    rest = day1[(day1["branch"] == "all") & (day1["group"] != "holdout")]
    assert (rest["group"] == "control").mean() == pytest.approx(0.20, abs=0.006)
    treated = rest[rest["group"] == "treatment"]
    assert (treated["variant"] == "a").mean() == pytest.approx(0.25, abs=0.007)
    vip = day1[(day1["branch"] == "vip") & (day1["group"] != "holdout")]
    assert (vip["group"] == "treatment").all()  # no control share in that branch


def test_holdout_users_never_get_a_treatment_or_payload(days: tuple) -> None:
    for day in days:
        held = day[day["group"] == "holdout"]
        assert held["payload"].isna().all() and held["variant"].isna().all()
        assert (day[day["group"] == "treatment"]["payload"].notna()).all()
    day1 = days[0]
    payload = day1[(day1["variant"] == "b")]["payload"].iloc[0]
    assert payload == '{"c":"B","t":"all"}'


def test_assignments_are_stable_across_days(days: tuple) -> None:
    day1, day2 = days
    both = day1.merge(day2, on="user_id", suffixes=("_1", "_2"))
    assert len(both) == USERS - 10_000
    for column in ("branch", "group", "variant", "payload"):
        a, b = both[f"{column}_1"], both[f"{column}_2"]
        assert ((a == b) | (a.isna() & b.isna())).all(), column


def test_a_sample_matches_the_independent_hash(days: tuple) -> None:
    day1, _ = days
    sample = day1.sample(2_000, random_state=3)
    members = {"vips": set(), "everyone": set(sample["user_id"])}
    members["vips"] = {u for u in sample["user_id"] if int(u[1:]) % 10 == 0}
    expected = oracle.scene_assignments([SCENE], members).set_index("key")
    for row in sample.itertuples():
        e = expected.loc[row.user_id]
        assert (row.branch, row.group) == (e["branch"], e["group"]), row.user_id
        assert (row.variant if isinstance(row.variant, str) else None) == e["variant"]
