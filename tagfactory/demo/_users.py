"""The user population: profile attributes (the ``users`` source) and hidden behaviour traits.

Every user gets an index ("user code") used by all other generators: regular users first
(``u0000001``...; ordered by registration time), then orphan ids that appear in orders and
events but not in ``users`` (deleted accounts), then the planted edge-case users.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tagfactory.demo._arrow import NULL_DATE, Rows, concat_rows, fixed_width_strings
from tagfactory.demo._calendar import (
    DAY_US,
    EVENT_HOUR_CDF,
    SECOND_US,
    categorical,
    categorical_by_group,
    day_number,
    micros,
    sample_times,
    seasonal_calendar,
)
from tagfactory.demo._edge import PlantedUser
from tagfactory.demo._schema import CITY_TIERS, GENDERS, MEMBER_LEVELS, REGISTRATION_CHANNELS

# Behaviour segments (hidden; they drive the other generators).
NONE, BROWSER, OCCASIONAL, ACTIVE, CHURNED = range(5)
SEGMENT_PROBS = [0.08, 0.20, 0.34, 0.25, 0.13]
KIND_REGULAR, KIND_ORPHAN, KIND_EDGE = range(3)

#: (city, tier, relative share of users)
CITIES: tuple[tuple[str, str, float], ...] = (
    ("上海", "tier1", 9.0), ("北京", "tier1", 8.0), ("广州", "tier1", 6.0), ("深圳", "tier1", 7.0),
    ("杭州", "new_tier1", 5.0), ("成都", "new_tier1", 5.0), ("武汉", "new_tier1", 4.0),
    ("西安", "new_tier1", 3.0), ("南京", "new_tier1", 3.5), ("重庆", "new_tier1", 4.0),
    ("苏州", "new_tier1", 3.5), ("天津", "new_tier1", 3.0), ("长沙", "new_tier1", 3.0),
    ("郑州", "new_tier1", 3.0), ("青岛", "new_tier1", 2.5),
    ("厦门", "tier2", 1.8), ("昆明", "tier2", 1.6), ("合肥", "tier2", 2.0), ("大连", "tier2", 1.6),
    ("宁波", "tier2", 2.0), ("东莞", "tier2", 2.0), ("佛山", "tier2", 2.0), ("沈阳", "tier2", 1.6),
    ("无锡", "tier2", 1.5), ("福州", "tier2", 1.5), ("济南", "tier2", 1.6), ("哈尔滨", "tier2", 1.3),
    ("长春", "tier2", 1.1), ("南宁", "tier2", 1.1), ("石家庄", "tier2", 1.2), ("南昌", "tier2", 1.1),
    ("贵阳", "tier2", 1.0), ("温州", "tier2", 1.2), ("泉州", "tier2", 1.0),
    ("洛阳", "tier3_plus", 0.6), ("绍兴", "tier3_plus", 0.6), ("扬州", "tier3_plus", 0.5),
    ("桂林", "tier3_plus", 0.4), ("襄阳", "tier3_plus", 0.4), ("宜昌", "tier3_plus", 0.4),
    ("芜湖", "tier3_plus", 0.4), ("赣州", "tier3_plus", 0.4), ("湛江", "tier3_plus", 0.3),
    ("九江", "tier3_plus", 0.3), ("岳阳", "tier3_plus", 0.3), ("漳州", "tier3_plus", 0.3),
    ("保定", "tier3_plus", 0.4), ("邯郸", "tier3_plus", 0.3), ("遵义", "tier3_plus", 0.3),
    ("丽江", "tier3_plus", 0.2),
)
CITY_NAMES = tuple(c[0] for c in CITIES)
_CITY_TIER = np.array([CITY_TIERS.index(c[1]) for c in CITIES], dtype=np.int8)

CATEGORY_WEIGHTS = [0.20, 0.14, 0.12, 0.18, 0.12, 0.07, 0.09, 0.08]
# Favourite category by gender (female, male, unknown).
_FAVOURITE_BY_GENDER = [
    [0.25, 0.24, 0.06, 0.17, 0.12, 0.06, 0.05, 0.05],
    [0.14, 0.04, 0.24, 0.17, 0.11, 0.09, 0.15, 0.06],
    CATEGORY_WEIGHTS,
]
# Main platform (ios, android, web, mini_program) by registration channel.
_PLATFORM_BY_CHANNEL = [
    [0.42, 0.58, 0.00, 0.00], [0.10, 0.15, 0.70, 0.05], [0.04, 0.06, 0.00, 0.90],
    [0.30, 0.45, 0.05, 0.20], [0.30, 0.40, 0.05, 0.25],
]
_ORDER_CHANNEL_BY_PLATFORM = np.array([0, 0, 1, 2], dtype=np.int8)  # app, app, web, mini_program
# Payment method (alipay, wechat_pay, card, cod): other platforms vs. mini program.
_PAYMENT_BY_MINI = [[0.50, 0.36, 0.11, 0.03], [0.15, 0.80, 0.04, 0.01]]
# Member level (none, silver, gold, platinum) by segment.
_LEVEL_BY_SEGMENT = [
    [0.88, 0.10, 0.02, 0.00], [0.82, 0.14, 0.04, 0.00], [0.55, 0.30, 0.12, 0.03],
    [0.22, 0.36, 0.29, 0.13], [0.60, 0.28, 0.10, 0.02],
]
_SURNAMES = ("zhang", "wang", "li", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu",
             "xu", "sun", "hu", "zhu", "gao", "lin", "he", "guo", "ma", "luo")
_GIVEN = ("wei", "fang", "na", "min", "jing", "lei", "yang", "jun", "yan", "qiang",
          "xiu", "ying", "hua", "ping", "gang", "tao", "ming", "chao", "xin", "yu")
# Reserved example domains: the data looks real but can never reach a real mailbox.
_EMAIL_DOMAINS = ("@example.com", "@example.net", "@example.org")

REGISTRATION_YEARS = 3


@dataclass
class Population:
    """Hidden per-user traits, indexed by user code (regular, then orphan, then edge users).

    Attributes:
        n_users: Number of regular users (``u...`` ids in ``users``).
        n_orphans: Number of ids used in orders/events but absent from ``users``.
        user_ids: The id string of every user code.
        kind: ``KIND_REGULAR``, ``KIND_ORPHAN`` or ``KIND_EDGE``.
        registered_us: Registration time (microseconds since the epoch).
        segment: Behaviour segment (``NONE`` ... ``CHURNED``).
        active_lo: Start of the period with random activity (inclusive).
        active_hi: End of that period (exclusive); equal to ``active_lo`` when inactive.
        intensity: Multiplier of session and order rates (mean 1).
        spend: Log-multiplier of order amounts.
        coupon_sensitive: Uses coupons on most orders.
        favourite: Favourite category index.
        platform: Main platform index.
        order_channel: Usual order channel index.
        payment: Usual payment method index.
        opt_in: Accepts marketing.
        has_email: Has an e-mail address.
    """

    n_users: int
    n_orphans: int
    user_ids: pa.Array
    kind: np.ndarray
    registered_us: np.ndarray
    segment: np.ndarray
    active_lo: np.ndarray
    active_hi: np.ndarray
    intensity: np.ndarray
    spend: np.ndarray
    coupon_sensitive: np.ndarray
    favourite: np.ndarray
    platform: np.ndarray
    order_channel: np.ndarray
    payment: np.ndarray
    opt_in: np.ndarray
    has_email: np.ndarray

    @property
    def size(self) -> int:
        """Number of user codes (regular + orphan + edge)."""
        return len(self.kind)


def _registration_times(
    rng: np.random.Generator, n: int, window_first: dt.date, end_date: dt.date
) -> np.ndarray:
    first = min(window_first, end_date - dt.timedelta(days=REGISTRATION_YEARS * 365 - 1))
    n_days = (end_date - first).days + 1
    calendar = seasonal_calendar(first, n_days, weekend=1.1, promo=0.3, growth=2.5)
    lo = np.full(n, micros(first), dtype=np.int64)
    hi = np.full(n, micros(end_date) + DAY_US, dtype=np.int64)
    reg = sample_times(rng, lo, hi, calendar, EVENT_HOUR_CDF, SECOND_US)
    # Make sure a few users register on the last day, whatever the scale.
    on_last_day = reg >= micros(end_date)
    missing = min(3, n) - int(on_last_day.sum())
    if missing > 0:
        chosen = rng.choice(np.flatnonzero(~on_last_day), size=missing, replace=False)
        reg[chosen] = micros(end_date) + rng.integers(0, 86_400, missing) * SECOND_US
    return np.sort(reg)


def _activity_span(
    rng: np.random.Generator, reg: np.ndarray, segment: np.ndarray,
    window_first: dt.date, end_date: dt.date,
) -> tuple[np.ndarray, np.ndarray]:
    """Activity period ``[lo, hi)`` per user, within the window and after registration.

    Churned users are active for 20-150 days and then quiet for at least 150 days; those who
    registered too recently for that become occasional buyers (``segment`` is updated in place).
    Users of the ``NONE`` segment get an empty period.
    """
    end_us = micros(end_date) + DAY_US
    lo = np.maximum(reg, micros(window_first))
    hi = np.full(len(reg), end_us, dtype=np.int64)
    quiet_days = 150
    churned = segment == CHURNED
    too_recent = churned & (lo > end_us - (quiet_days + 30) * DAY_US)
    segment[too_recent] = OCCASIONAL
    churned &= ~too_recent
    lo_day = lo[churned] // DAY_US
    last_day = np.minimum(lo_day + rng.integers(20, 150, churned.sum()), end_us // DAY_US - quiet_days)
    hi[churned] = (last_day + 1) * DAY_US
    hi[segment == NONE] = lo[segment == NONE]
    return lo, hi


def _emails(rng: np.random.Generator, n: int) -> pa.Array:
    parts = [
        pa.array(_SURNAMES).take(pa.array(rng.integers(0, len(_SURNAMES), n))),
        pa.array(_GIVEN).take(pa.array(rng.integers(0, len(_GIVEN), n))),
        fixed_width_strings("", rng.integers(0, 10_000, n), 4),
        pa.array(_EMAIL_DOMAINS).take(pa.array(categorical(rng, [0.5, 0.3, 0.2], n))),
    ]
    return pc.binary_join_element_wise(*parts, "")


def _profile_rows(
    rng: np.random.Generator, reg: np.ndarray, segment: np.ndarray, end_date: dt.date
) -> Rows:
    """Profile attributes of the regular users (``users`` columns except ``email``)."""
    n = len(reg)
    channel = categorical(rng, [0.45, 0.18, 0.22, 0.08, 0.07], n)
    age_days = np.minimum(16 + rng.gamma(3.0, 5.5, n), 70.95) * 365.2425
    birthday = (day_number(end_date) - age_days).astype(np.int32)
    birthday[rng.random(n) < 0.06] = NULL_DATE
    city = categorical(rng, [c[2] for c in CITIES], n).astype(np.int16)
    city[rng.random(n) < 0.03] = -1
    phone = rng.choice(np.array([13, 15, 18]), n) * 10**9 + rng.integers(0, 10**9, n)
    return {
        "user_id": np.arange(n, dtype=np.int64),
        "registered_at": reg,
        "registration_channel": channel,
        "gender": categorical(rng, [0.52, 0.40, 0.08], n),
        "birthday": birthday,
        "city": city,
        "city_tier": np.where(city >= 0, _CITY_TIER[np.maximum(city, 0)], -1).astype(np.int8),
        "member_level": categorical_by_group(rng, segment, np.array(_LEVEL_BY_SEGMENT)),
        "phone": phone,
        "phone_verified": rng.random(n) < 0.88,
        "marketing_opt_in": rng.random(n) < 0.65,
        "is_test_account": rng.random(n) < 0.005,
    }


def _planted_rows(planted: Sequence[PlantedUser], first_code: int) -> Rows:
    k = len(planted)
    return {
        "user_id": np.arange(first_code, first_code + k, dtype=np.int64),
        "registered_at": np.array([p.registered_us for p in planted], dtype=np.int64),
        "registration_channel": np.array([REGISTRATION_CHANNELS.index(p.channel) for p in planted], dtype=np.int8),
        "gender": np.array([GENDERS.index(p.gender) for p in planted], dtype=np.int8),
        "birthday": np.array([NULL_DATE if p.birthday is None else day_number(p.birthday) for p in planted], dtype=np.int32),
        "city": np.array([-1 if p.city is None else CITY_NAMES.index(p.city) for p in planted], dtype=np.int16),
        "city_tier": np.array([-1 if p.city is None else _CITY_TIER[CITY_NAMES.index(p.city)] for p in planted], dtype=np.int8),
        "member_level": np.array([MEMBER_LEVELS.index(p.member_level) for p in planted], dtype=np.int8),
        "phone": np.array([13800000000 + i + 1 for i in range(k)], dtype=np.int64),
        "phone_verified": np.ones(k, dtype=bool),
        "marketing_opt_in": np.ones(k, dtype=bool),
        "is_test_account": np.zeros(k, dtype=bool),
    }


def _hidden_traits(
    rng: np.random.Generator, channel: np.ndarray, gender: np.ndarray
) -> dict[str, np.ndarray]:
    """Behaviour traits derived from the registration channel and gender (one row per user)."""
    n = len(channel)
    platform = categorical_by_group(rng, channel, np.array(_PLATFORM_BY_CHANNEL))
    order_channel = _ORDER_CHANNEL_BY_PLATFORM[platform]
    order_channel[(channel == 3) & (rng.random(n) < 0.5)] = 3  # offline-store shoppers
    intensity = rng.lognormal(-0.18, 0.6, n)  # mean 1
    mini = (platform == 3).astype(np.int8)
    return {
        "intensity": intensity,
        "spend": rng.normal(0.0, 0.35, n) + 0.15 * np.log1p(intensity),
        "coupon_sensitive": rng.random(n) < 0.25,
        "favourite": categorical_by_group(rng, gender, np.array(_FAVOURITE_BY_GENDER)),
        "platform": platform,
        "order_channel": order_channel,
        "payment": categorical_by_group(rng, mini, np.array(_PAYMENT_BY_MINI)),
        "has_email": rng.random(n) < np.where(platform == 2, 0.85, 0.6),
    }


def build_population(
    rng: np.random.Generator, n_users: int, window_first: dt.date, end_date: dt.date,
    planted: Sequence[PlantedUser],
) -> tuple[Population, Rows, dict[str, pa.Array]]:
    """Create the users, their hidden traits and the ``users`` rows.

    Orphans (0.05% of ``n_users``, at least 2) are buyers registered in the year before the
    window whose profile rows are left out of ``users``. Planted users have no random activity.

    Args:
        rng: Random generator (users stream).
        n_users: Number of regular users.
        window_first: First day of dated activity.
        end_date: Last day of data.
        planted: Hand-placed edge-case users, appended after the orphans.

    Returns:
        The population, the ``users`` rows (regular users, then planted ones) and the lookup
        tables ``user_id``, ``city`` and ``email``.
    """
    n_orphans = max(2, round(n_users / 2000))
    n_known, k = n_users + n_orphans, len(planted)
    reg = np.concatenate([
        _registration_times(rng, n_users, window_first, end_date),
        max(micros(window_first) - 365 * DAY_US, 0)
        + rng.integers(0, 365 * 86_400, n_orphans) * SECOND_US,
    ])
    segment = np.concatenate([
        categorical(rng, SEGMENT_PROBS, n_users),
        np.where(rng.random(n_orphans) < 0.5, OCCASIONAL, ACTIVE).astype(np.int8),
    ])
    lo, hi = _activity_span(rng, reg, segment, window_first, end_date)
    rows = _profile_rows(rng, reg[:n_users], segment[:n_users], end_date)
    no_profile = np.zeros(n_orphans, dtype=np.int8)
    traits = _hidden_traits(rng, np.concatenate([rows["registration_channel"], no_profile]),
                            np.concatenate([rows["gender"], no_profile]))
    rows["email"] = np.where(traits["has_email"][:n_users], np.arange(n_users), -1)
    planted_rows = _planted_rows(planted, first_code=n_known)
    planted_rows["email"] = np.arange(n_known, n_known + k)
    rows = concat_rows([rows, planted_rows])
    opt_in = np.concatenate([rows["marketing_opt_in"][:n_users], np.zeros(n_orphans, dtype=bool)])

    def pad(values: np.ndarray, fill: object = 0) -> np.ndarray:
        """Append the planted users' value (they have no random activity)."""
        return np.concatenate([values, np.full(k, fill, dtype=values.dtype)])

    user_ids = pa.concat_arrays([
        fixed_width_strings("u", np.arange(1, n_known + 1), 7),
        pa.array([p.user_id for p in planted], type=pa.string()),
    ])
    population = Population(
        n_users=n_users,
        n_orphans=n_orphans,
        user_ids=user_ids,
        kind=np.repeat(np.array([KIND_REGULAR, KIND_ORPHAN, KIND_EDGE], dtype=np.int8),
                       [n_users, n_orphans, k]),
        registered_us=np.concatenate([reg, planted_rows["registered_at"]]),
        segment=pad(segment, NONE),
        active_lo=pad(lo),
        active_hi=pad(hi),
        opt_in=pad(opt_in, False),
        **{name: pad(values) for name, values in traits.items()},
    )
    emails = pa.concat_arrays([
        _emails(rng, n_known),
        pa.array([f"{p.user_id}@example.com" for p in planted], type=pa.string()),
    ])
    lookups = {"user_id": user_ids, "city": pa.array(CITY_NAMES, type=pa.string()), "email": emails}
    return population, rows, lookups
