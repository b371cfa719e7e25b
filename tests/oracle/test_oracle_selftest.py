"""Self-test of the pandas oracle on tiny hand-made sources with hand-computed answers.

Snapshot D = 2024-03-31. Boundary instants used below:
  D-30 00:00 = 2024-03-01 00:00 (outside 30d, inside 90d), D-29 00:00 = 2024-03-02 00:00 (inside 30d),
  D 23:59:59.999999 (inside every window), D+1 00:00 = 2024-04-01 00:00 (outside every window).
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from . import pandas_oracle as po

D = dt.date(2024, 3, 31)
D_MINUS_30 = "2024-03-01 00:00:00"
D_MINUS_29 = "2024-03-02 00:00:00"
D_LAST = "2024-03-31 23:59:59.999999"
D_PLUS_1 = "2024-04-01 00:00:00"


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s[:10])


@pytest.fixture(scope="module")
def sources() -> dict[str, pd.DataFrame]:
    users = pd.DataFrame(
        [
            # u1: long-standing buyer, birthday today
            dict(
                user_id="u1",
                registered_at=ts("2023-01-01 08:00"),
                birthday=dt.date(2000, 3, 31),
                gender="female",
                phone="13812345678",
                email="Li.Lei@Example.COM",
                marketing_opt_in=True,
                is_test_account=False,
            ),
            # u2: registers exactly at D+1 00:00 -> not in the population
            dict(user_id="u2", registered_at=ts(D_PLUS_1), birthday=dt.date(1990, 1, 1)),
            # u3: registers at the very last instant of D, never ordered -> new user
            dict(user_id="u3", registered_at=ts(D_LAST), birthday=dt.date(2010, 3, 1)),
            # u4: registered D-5, one completed order -> not a new user
            dict(
                user_id="u4",
                registered_at=ts("2024-03-26 10:00"),
                birthday=dt.date(1970, 4, 1),
                phone="12",
                email="nobody",
            ),
            # u5: unknown birthday, only browses
            dict(
                user_id="u5",
                registered_at=ts("2022-06-01 00:00"),
                birthday=None,
                marketing_opt_in=True,
            ),
            # u6: no order ever, visited D-20
            dict(
                user_id="u6",
                registered_at=ts("2022-06-01 00:00"),
                birthday=dt.date(1999, 2, 28),
                marketing_opt_in=True,
                is_test_account=None,
            ),
        ]
    )
    o = [
        # id, user, ts, dt, status, amount, channel, payment, coupon
        ("o1", "u1", D_MINUS_30, "2024-03-01", "completed", 10.0, "web", "card", None),
        ("o9", "u1", D_MINUS_30, "2024-03-01", "completed", 15.0, "app", "alipay", "c1"),
        ("o2", "u1", D_MINUS_29, "2024-03-02", "completed", 20.0, "web", "card", None),
        ("o3", "u1", D_LAST, "2024-03-31", "completed", 30.0, "app", "alipay", "c2"),
        ("o8", "u1", D_LAST, "2024-03-31", "completed", 40.0, "web", "wechat_pay", None),
        ("o6", "u1", D_LAST, "2024-03-31", "cancelled", 99.0, "app", "cod", None),
        ("o4", "u1", D_PLUS_1, "2024-04-01", "completed", 1000.0, "offline_store", "cod", None),
        # event time on D but partition D+1 (late arrival): not visible at D
        (
            "o5",
            "u1",
            "2024-03-31 12:00:00",
            "2024-04-01",
            "completed",
            500.0,
            "offline_store",
            "cod",
            None,
        ),
        ("o7", "u2", "2024-03-15 12:00:00", "2024-03-15", "completed", 70.0, "app", "card", None),
        (
            "o10",
            "u4",
            "2024-03-28 10:00:00",
            "2024-03-28",
            "completed",
            100.0,
            "mini_program",
            "wechat_pay",
            None,
        ),
    ]
    orders = pd.DataFrame(
        o,
        columns=[
            "order_id",
            "user_id",
            "order_ts",
            "dt",
            "status",
            "amount",
            "channel",
            "payment_method",
            "coupon_id",
        ],
    )
    orders["order_ts"] = orders["order_ts"].map(ts)
    orders["dt"] = orders["dt"].map(day)
    items = pd.DataFrame(
        [
            ("o1", "u1", D_MINUS_30, "books", 1, "completed"),
            ("o9", "u1", D_MINUS_30, "books", 2, "completed"),
            ("o2", "u1", D_MINUS_29, "toys", 1, "completed"),
            ("o3", "u1", D_LAST, None, 4, "completed"),
            ("o6", "u1", D_LAST, "home", 9, "cancelled"),
            ("o4", "u1", D_PLUS_1, "home", 9, "completed"),
        ],
        columns=["order_id", "user_id", "order_ts", "category", "quantity", "status"],
    )
    items["order_ts"] = items["order_ts"].map(ts)
    items["dt"] = items["order_ts"].map(lambda t: t.date())
    events = pd.DataFrame(
        [
            (
                "u1",
                "2024-03-24 23:59:59.999999",
                "add_to_cart",
                "s1",
                "ios",
                "beauty",
            ),  # D-7: out of 7d
            ("u1", "2024-03-25 00:00:00", "add_to_cart", "s2", "ios", "apparel"),  # D-6: in 7d
            ("u1", D_MINUS_30, "page_view", "s0", "web", "books"),
            ("u1", D_LAST, "page_view", "s3", "android", "toys"),
            ("u1", D_LAST, "page_view", "s3", "android", "apparel"),
            ("u5", "2024-03-31 10:00:00", "add_to_cart", "s9", "web", None),
            ("u6", "2024-03-11 09:00:00", "page_view", "s8", "mini_program", "home"),
        ],
        columns=["user_id", "event_ts", "event_type", "session_id", "platform", "category"],
    )
    events["event_ts"] = events["event_ts"].map(ts)
    events["dt"] = events["event_ts"].map(lambda t: t.date())
    touches = pd.DataFrame(
        [
            ("u1", D_MINUS_30, "sms", "k1", "c1", True, True),
            ("u1", D_MINUS_29, "push", "k1", None, True, False),
            ("u1", D_LAST, "email", "k2", "c2", None, None),
            ("u1", "2024-03-10 00:00:00", "push", "k3", None, False, False),
        ],
        columns=["user_id", "touch_ts", "channel", "campaign_id", "coupon_id", "opened", "clicked"],
    )
    touches["touch_ts"] = touches["touch_ts"].map(ts)
    touches["dt"] = touches["touch_ts"].map(lambda t: t.date())
    tickets = pd.DataFrame(
        [
            ("u1", "2024-03-10 00:00:00", "delivery", "open", None, True),
            ("u1", "2023-12-01 00:00:00", "refund", "resolved", 4, False),
            ("u4", "2024-03-29 00:00:00", "quality", "escalated", 1, True),
        ],
        columns=["user_id", "created_ts", "category", "status", "satisfaction", "is_complaint"],
    )
    tickets["created_ts"] = tickets["created_ts"].map(ts)
    tickets["dt"] = tickets["created_ts"].map(lambda t: t.date())
    return {
        "users": users,
        "orders": orders,
        "order_items": items,
        "events": events,
        "marketing_touches": touches,
        "service_tickets": tickets,
    }


@pytest.fixture(scope="module")
def profile(sources: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return po.compute_profile(sources, D)


def test_every_built_tag_has_an_oracle_function() -> None:
    built = po.built_tags()
    assert len(built) >= 45
    assert [n for n in built if n not in po.ORACLE] == []
    drafts = {t["name"] for t in po.catalogue() if t.get("lifecycle") == "draft"}
    assert drafts and not drafts & set(built)


def test_population_and_columns(profile: pd.DataFrame) -> None:
    assert sorted(profile.index) == ["u1", "u3", "u4", "u5", "u6"]  # u2 registers at D+1 00:00
    assert list(profile.columns) == po.built_tags()


def test_window_boundaries_and_point_in_time(profile: pd.DataFrame) -> None:
    p = profile
    assert p.loc["u1", "orders_7d"] == 2  # o3, o8 at D 23:59:59.999999
    assert (
        p.loc["u1", "orders_30d"] == 3
    )  # D-29 00:00 in, D-30 00:00 out, D+1 out, late partition out
    assert p.loc["u1", "orders_90d"] == 5
    assert p.loc["u1", "completed_orders_all"] == 5
    assert p.loc["u1", "gmv_30d"] == 90.0
    assert p.loc["u1", "gmv_90d"] == 115.0
    assert p.loc["u1", "aov_90d"] == 23.0
    assert p.loc["u1", "max_order_amount_365d"] == 40.0
    assert p.loc["u1", "min_order_amount_365d"] == 10.0
    assert p.loc["u1", "cancelled_orders_30d"] == 1
    assert p.loc["u1", "max_orders_per_day_30d"] == 3  # o3, o8, o6 on D
    assert p.loc["u1", "days_since_last_order"] == 0
    assert p.loc["u1", "first_order_date"] == dt.date(2024, 3, 1)
    assert p.loc["u1", "add_to_cart_7d"] == 1  # D-6 00:00 in, D-7 23:59:59.999999 out
    assert p.loc["u1", "sessions_30d"] == 3  # s1, s2, s3 (s0 is at D-30 00:00: out)
    assert p.loc["u1", "active_days_30d"] == 3  # 03-24, 03-25, 03-31 (03-01 is D-30: out)


def test_nulls_and_defaults(profile: pd.DataFrame) -> None:
    p = profile
    assert p.loc["u3", "orders_30d"] == 0
    assert p.loc["u3", "gmv_30d"] == 0.0  # default
    assert math.isnan(p.loc["u3", "gmv_90d"])  # no default
    assert math.isnan(p.loc["u3", "aov_90d"])  # nullif(0)
    assert pd.isna(p.loc["u3", "days_since_last_order"])
    assert p.loc["u3", "first_order_channel"] is None
    assert p.loc["u3", "first_order_date"] is None
    assert p.loc["u3", "payment_methods_365d"] == []
    assert p.loc["u3", "items_purchased_90d"] == 0  # default
    assert p.loc["u3", "rfm_segment"] == "no_purchase"
    assert p.loc["u3", "coupon_sensitivity"] == "none"


def test_first_last_mode_distinct_tie_breaks(profile: pd.DataFrame) -> None:
    p = profile
    assert p.loc["u1", "first_order_channel"] == "app"  # o1 web / o9 app tie at D-30: smallest
    assert (
        p.loc["u1", "last_payment_method_90d"] == "wechat_pay"
    )  # o3 alipay / o8 wechat_pay: largest
    assert p.loc["u1", "preferred_channel_365d"] == "web"  # web 3, app 2
    assert p.loc["u1", "preferred_payment_method"] == "alipay"  # card 2, alipay 2 -> smallest
    assert p.loc["u1", "payment_methods_365d"] == ["alipay", "card", "cod", "wechat_pay"]
    assert p.loc["u1", "purchased_categories_90d"] == ["books", "toys"]  # null category dropped
    assert p.loc["u1", "distinct_categories_365d"] == 2
    assert p.loc["u1", "items_purchased_90d"] == 8  # 1 + 2 + 1 + 4
    assert p.loc["u1", "top_category_share_90d"] == round(2 / 3, 4)
    assert p.loc["u1", "last_viewed_category"] == "toys"  # apparel / toys at D_LAST: largest
    assert p.loc["u1", "browsed_categories_30d"] == ["apparel", "beauty", "toys"]
    assert p.loc["u1", "first_seen_platform"] == "web"
    assert p.loc["u1", "preferred_platform_90d"] == "android"  # android 2, ios 2, web 1 -> smallest
    assert p.loc["u1", "last_touch_channel"] == "email"


def test_marketing_and_rates(profile: pd.DataFrame) -> None:
    p = profile
    assert p.loc["u1", "touches_30d"] == 3  # D-29, 03-10, D_LAST
    assert p.loc["u1", "touches_opened_30d"] == 1  # null opened is not true
    assert p.loc["u1", "open_rate_30d"] == 0.3333
    assert p.loc["u1", "click_rate_30d"] == 0.0
    assert p.loc["u1", "coupons_received_90d"] == 2
    assert p.loc["u1", "campaigns_reached_90d"] == 3
    assert p.loc["u1", "coupon_orders_90d"] == 2
    assert p.loc["u1", "coupon_usage_rate_90d"] == 0.4
    assert p.loc["u1", "coupon_sensitivity"] == "medium"
    assert p.loc["u4", "coupon_sensitivity"] == "low"


def test_basic_attributes(profile: pd.DataFrame) -> None:
    p = profile
    assert p.loc["u1", "age"] == 24 and p.loc["u1", "age_band"] == "18-24"
    assert bool(p.loc["u1", "birthday_today"]) and bool(p.loc["u1", "birthday_this_month"])
    assert p.loc["u3", "age"] == 14 and p.loc["u3", "age_band"] == "<18"
    assert not p.loc["u3", "birthday_today"] and p.loc["u3", "birthday_this_month"]
    assert p.loc["u4", "age"] == 53 and p.loc["u4", "age_band"] == "45-54"  # birthday tomorrow
    assert pd.isna(p.loc["u5", "age"]) and p.loc["u5", "age_band"] == "unknown"
    assert not p.loc["u5", "birthday_today"]  # false, not null
    assert p.loc["u1", "phone_masked"] == "138****5678"
    assert p.loc["u4", "phone_masked"] == "12****12"  # Spark substr on a short string
    assert p.loc["u5", "phone_masked"] is None
    assert p.loc["u1", "email_domain"] == "example.com"
    assert p.loc["u4", "email_domain"] == "nobody"
    assert p.loc["u3", "days_since_registration"] == 0
    assert p.loc["u3", "registration_date"] == D
    assert p.loc["u1", "gender"] == "female" and p.loc["u3", "gender"] == "unknown"
    assert p.loc["u6", "is_test_account"] == False  # noqa: E712  (coalesce(null, false))


def test_rules_and_three_valued_logic(profile: pd.DataFrame) -> None:
    p = profile
    assert bool(p.loc["u3", "is_new_user"]) and not p.loc["u4", "is_new_user"]
    assert not p.loc["u1", "browse_no_buy_7d"]  # cart but 2 orders in 7d
    assert bool(p.loc["u5", "browse_no_buy_7d"])
    assert p.loc["u3", "lifecycle_stage"] == "new"
    assert p.loc["u5", "lifecycle_stage"] == "active"  # null order OR visit 0 <= 7
    assert p.loc["u6", "lifecycle_stage"] == "silent"  # null order OR visit 20 <= 30
    assert p.loc["u1", "lifecycle_stage"] == "active"
    assert p.loc["u6", "activity_level"] == "monthly"
    assert p.loc["u3", "activity_level"] == "never"
    # complaint with no rating in 90d: TRUE AND NULL -> null
    assert p.loc["u1", "complaints_90d"] == 1 and pd.isna(p.loc["u1", "min_satisfaction_90d"])
    assert pd.isna(p.loc["u1", "needs_apology_care"])
    assert bool(p.loc["u4", "needs_apology_care"])
    assert p.loc["u3", "needs_apology_care"] == False  # noqa: E712  FALSE AND NULL -> false
    assert p.loc["u1", "last_satisfaction"] == 4
    assert p.loc["u1", "avg_satisfaction_365d"] == 4.0
    assert p.loc["u1", "satisfaction_level"] == "satisfied"
    assert p.loc["u4", "satisfaction_level"] == "dissatisfied"
    assert p.loc["u1", "open_tickets"] == 1 and p.loc["u4", "open_tickets"] == 1
    assert p.loc["u1", "risk_level"] == "medium"  # 1 complaint in 90d
    assert p.loc["u5", "risk_level"] == "low"
    assert p.loc["u1", "rfm_segment"] == "loyal"  # 0 days, 5 orders, gmv 115 < 3000
    assert p.loc["u4", "rfm_segment"] == "potential"
    assert p.loc["u1", "value_tier"] == "low" and p.loc["u3", "value_tier"] == "none"


def test_output_dtypes(profile: pd.DataFrame) -> None:
    types = {t["name"]: t["type"] for t in po.catalogue()}
    for name in profile.columns:
        s = profile[name]
        kind = types[name]
        if kind == "integer":
            assert str(s.dtype) == "Int64", name
        elif kind == "double":
            assert s.dtype == "float64", name
        elif kind == "boolean":
            assert str(s.dtype) == "boolean", name
        else:
            assert s.dtype == object, name
            ok = {"string": str, "enum": str, "date": dt.date, "array<string>": list}[kind]
            assert all(v is None or isinstance(v, ok) for v in s), name


def test_round_half_up_like_spark() -> None:
    s = pd.Series([1 / 32, 0.12345, 2 / 3, None], dtype="Float64")
    out = po.round_half_up(s, 4)
    assert list(out[:3]) == [0.0313, 0.1235, 0.6667]  # Python's round(1/32, 4) gives 0.0312
    assert pd.isna(out[3])


def test_months_between_like_spark() -> None:
    # both month ends -> whole months: a 29 Feb birthday is 25 on 28 Feb 2025 in Spark
    assert po.spark_months_between(dt.date(2025, 2, 28), dt.date(2000, 2, 29)) == 300.0
    assert po.spark_months_between(dt.date(2025, 3, 14), dt.date(2000, 3, 15)) == round(
        299 + 30 / 31, 8
    )
    users = pd.DataFrame(
        [dict(user_id="x", registered_at=ts("2020-01-01"), birthday=dt.date(2000, 2, 29))]
    )
    prof = po.compute_profile({"users": users}, dt.date(2025, 2, 28), tags=["age", "age_band"])
    assert prof.loc["x", "age"] == 25


def test_load_sources_reads_hive_partitions(tmp_path) -> None:
    for d in ["2024-03-30", "2024-03-31"]:
        part = tmp_path / "orders" / f"dt={d}"
        part.mkdir(parents=True)
        t = pa.table(
            {
                "order_id": [f"o-{d}"],
                "user_id": ["u1"],
                "order_ts": pa.array(
                    [pd.Timestamp(f"{d} 10:00")], pa.timestamp("us")
                ),  # naive = UTC
                "status": ["completed"],
                "amount": [1.5],
                "item_count": pa.array([None], pa.int32()),
            }
        )
        pq.write_table(t, part / "part-0.parquet")
    (tmp_path / "users").mkdir()
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1"],
                "registered_at": pa.array(
                    [pd.Timestamp("2024-01-01", tz="UTC")], pa.timestamp("us", "UTC")
                ),
                "birthday": pa.array([dt.date(2000, 1, 2)], pa.date32()),
                "phone_verified": pa.array([None], pa.bool_()),
            }
        ),
        tmp_path / "users" / "part-0.parquet",
    )
    src = po.load_sources(tmp_path)
    assert set(src) == set(po.SCHEMAS)
    o = src["orders"]
    assert sorted(o["dt"]) == [dt.date(2024, 3, 30), dt.date(2024, 3, 31)]
    assert str(o["order_ts"].dt.tz) == "UTC"
    assert str(o["item_count"].dtype) == "Int64"
    assert src["users"].loc[0, "birthday"] == dt.date(2000, 1, 2)
    assert src["events"].empty and "event_ts" in src["events"].columns
    prof = po.compute_profile(src, dt.date(2024, 3, 30), tags=["orders_7d", "phone_verified"])
    assert prof.loc["u1", "orders_7d"] == 1  # the 03-31 partition is after D
