"""Every shipped tag, computed by the compiled Spark SQL, equals an independent pandas computation.

The oracle (tests/oracle/pandas_oracle.py) was written by hand from the tag language's
documented semantics, without looking at the compiler. Data: the deterministic demo generator,
which plants rows exactly on window boundaries (D-30 00:00, D-29 00:00, D 23:59:59.999999,
D+1 00:00), ties on time, users with no events, null attributes and users registered after D.
Values are read back from the published Delta table with delta-rs (no Spark on the read side).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from deltalake import DeltaTable

from tests.integration.conftest import DATES, EDGE_DATE, Built
from tests.oracle import compare, pandas_oracle

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def sources(demo_data: Any) -> dict[str, pd.DataFrame]:
    return pandas_oracle.load_sources(demo_data)


def _published(built: Built, date: dt.date) -> pd.DataFrame:
    table = DeltaTable(str(built.warehouse / built.entity.profile_table))
    frame = table.to_pyarrow_table(filters=[("dt", "=", date)]).to_pandas()
    return frame.set_index("user_id")


@pytest.mark.parametrize("date", DATES, ids=str)
def test_every_tag_matches_the_oracle(built: Built, sources: dict[str, pd.DataFrame], date: dt.date) -> None:
    published = _published(built, date)
    expected = pandas_oracle.compute_profile(sources, date)
    tags = {t.name: t.type for t in built.entity.tags}
    assert set(expected.columns) == set(tags), "oracle and manifest disagree on the built tags"
    assert sorted(published.index) == sorted(expected.index), "population differs"
    assert published.index.is_unique
    mismatches = compare.mismatches(published, expected, tags)
    assert not mismatches, f"{len(mismatches)} tags differ on {date}:\n" + "\n".join(mismatches)


def test_population_is_point_in_time(built: Built) -> None:
    published = _published(built, EDGE_DATE)
    assert "e0000008" in published.index  # registered exactly at D 00:00
    assert "e0000009" not in published.index  # registered at D+1 00:00


def test_window_boundaries_on_planted_orders(built: Built) -> None:
    """e0000002 has completed orders at D-30 00:00 (out of 30d), D-29 00:00 and D 23:59:59.999999
    (in), and D+1 00:00 (after the snapshot): the 30-day count sees exactly the two inside."""
    published = _published(built, EDGE_DATE)
    row = published.loc["e0000002"]
    assert row["days_since_last_order"] == 0  # the order at D 23:59:59.999999 counts, D+1 does not
    orders = pandas_oracle.load_sources(built.data)["orders"]
    mine = orders[orders["user_id"] == "e0000002"]
    start = pd.Timestamp(EDGE_DATE - dt.timedelta(days=29), tz="UTC")
    end = pd.Timestamp(EDGE_DATE + dt.timedelta(days=1), tz="UTC")
    inside = mine[(mine["order_ts"] >= start) & (mine["order_ts"] < end) & (mine["status"] == "completed")]
    assert row["orders_30d"] == len(inside)
    assert (mine["order_ts"] == pd.Timestamp(EDGE_DATE - dt.timedelta(days=30), tz="UTC")).any()
    assert (mine["order_ts"] == end).any()


def test_comparison_detects_wrong_values(built: Built, sources: dict[str, pd.DataFrame]) -> None:
    """Guard against a vacuous comparison: the oracle of another date must disagree on most
    windowed tags, and the compared values must not be mostly null."""
    published = _published(built, EDGE_DATE)
    other = pandas_oracle.compute_profile(sources, EDGE_DATE - dt.timedelta(days=3)).reindex(published.index)
    types = {t.name: t.type for t in built.entity.tags}
    differing = [n for n, vt in types.items()
                 if any(not compare.same(vt, published[n][u], other[n][u]) for u in published.index)]
    windowed = [t.name for t in built.entity.tags if t.window in ("7d", "30d")]
    assert len(set(windowed) & set(differing)) >= 0.8 * len(windowed)
    non_null = sum(int(published[n].notna().sum()) for n in types)
    assert non_null > 0.5 * len(published) * len(types)
