"""Hand-placed edge-case users (``e0000001``...) and their rows.

Times are relative to the edge date ``D`` (default: the day before the last day of data); tests
compute tags at ``D`` and ``D - 7``. ``D 23:59:59.999999`` is the last microsecond of ``D``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tagfactory.demo._arrow import Rows
from tagfactory.demo._calendar import DAY_US, HOUR_US, SECOND_US, micros
from tagfactory.demo._schema import (
    EVENT_TYPES,
    ORDER_CHANNELS,
    ORDER_STATUSES,
    PAGES,
    PAYMENT_METHODS,
    PLATFORMS,
    TICKET_CATEGORIES,
    TICKET_STATUSES,
    TOUCH_CHANNELS,
)

_BOUNDARY_TEXT = (
    "at D-30 00:00 (outside 30d), D-29 00:00 (inside 30d), D-14 00:00 (outside 7d of D-7), "
    "D-13 00:00 (inside 7d of D-7), D-7 23:59:59.999999 (last instant of D-7; outside 7d of D), "
    "D-6 00:00 (inside 7d of D), D 23:59:59.999999 (inside) and D+1 00:00 (after D: never counts)"
)

#: The planted users; ``D`` is the edge date. All are registered at D-200 09:30 unless stated.
EDGE_USERS: dict[str, str] = {
    "e0000001": "no activity: no rows in any dated source",
    "e0000002": "8 completed orders " + _BOUNDARY_TEXT + "; amounts 101.0..108.0 in time order",
    "e0000003": "8 page_view events (product pages, platform ios) " + _BOUNDARY_TEXT,
    "e0000004": "8 push marketing touches (campaign cmp_edge_boundary) " + _BOUNDARY_TEXT
                + "; 2nd, 4th, 6th and 7th opened, 4th and 7th clicked",
    "e0000005": "two completed orders at the identical time D-3 12:00:00, amounts 88.0 and 288.0 "
                "(tie-breaking of first/last)",
    "e0000006": "birthday, city and city_tier null; no activity",
    "e0000007": "birthday on D's month and day (turns 30 on D; if D is Feb 29, born on Feb 29 "
                "of the leap year before); no activity",
    "e0000008": "registered exactly at D 00:00:00; one app_open event at D 00:00:10",
    "e0000009": "registered at D+1 00:00:00 (not in the population of D); "
                "one app_open at D+1 00:00:10",
    "e0000010": "only cancelled orders: D-40 12:00, D-12 12:00, D-2 12:00",
    "e0000011": "completed order D-20 10:00 (320.0), refunded order D-5 15:30 (199.0), "
                "refund complaint ticket D-4 09:00 (resolved, satisfaction 2)",
}

_LAST_US = DAY_US - 1
#: (day offset from D, microseconds after midnight) of the boundary pattern.
BOUNDARY_TIMES: tuple[tuple[int, int], ...] = (
    (-30, 0), (-29, 0), (-14, 0), (-13, 0), (-7, _LAST_US), (-6, 0), (0, _LAST_US), (1, 0),
)


@dataclass(frozen=True)
class PlantedUser:
    """Profile of a planted user (attributes not listed are fixed defaults)."""

    user_id: str
    registered_us: int
    birthday: dt.date | None
    city: str | None
    gender: str = "female"
    channel: str = "app"
    member_level: str = "silver"


def _at(edge_date: dt.date, days: int, offset_us: int = 0) -> int:
    return micros(edge_date) + days * DAY_US + offset_us


def _same_day_years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # Feb 29 in a non-leap year: use the closest leap year before
        return day.replace(year=day.year - years - (day.year - years) % 4)


def planted_users(edge_date: dt.date) -> list[PlantedUser]:
    """Profiles of the users in :data:`EDGE_USERS`, in id order."""
    registered = _at(edge_date, -200, 9 * HOUR_US + 30 * 60 * SECOND_US)
    users = [
        PlantedUser(user_id, registered, dt.date(1990, 5, 17), "杭州" if k % 2 else "上海",
                    gender="male" if k % 2 else "female")
        for k, user_id in enumerate(EDGE_USERS)
    ]
    by_id = {u.user_id: k for k, u in enumerate(users)}

    def change(user_id: str, **fields: Any) -> None:
        users[by_id[user_id]] = replace(users[by_id[user_id]], **fields)

    change("e0000006", birthday=None, city=None, gender="unknown")
    change("e0000007", birthday=_same_day_years_before(edge_date, 30))
    change("e0000008", registered_us=_at(edge_date, 0))
    change("e0000009", registered_us=_at(edge_date, 1), member_level="none")
    return users


def _code(user_id: str, first_code: int) -> int:
    return first_code + list(EDGE_USERS).index(user_id)


def planted_orders(edge_date: dt.date, first_code: int) -> Rows:
    """Orders of the planted users (same columns as the random orders, no ``order_id`` yet)."""
    rows: list[tuple[str, int, str, float, int]] = []  # user, time, status, amount, items
    for k, (day, offset) in enumerate(BOUNDARY_TIMES):
        rows.append(("e0000002", _at(edge_date, day, offset), "completed", 101.0 + k, 1))
    tie = _at(edge_date, -3, 12 * HOUR_US)
    rows += [("e0000005", tie, "completed", 88.0, 1), ("e0000005", tie, "completed", 288.0, 2)]
    for day in (-40, -12, -2):
        rows.append(("e0000010", _at(edge_date, day, 12 * HOUR_US), "cancelled", 59.9, 1))
    rows.append(("e0000011", _at(edge_date, -20, 10 * HOUR_US), "completed", 320.0, 2))
    rows.append(("e0000011", _at(edge_date, -5, 15 * HOUR_US + 30 * 60 * SECOND_US), "refunded", 199.0, 1))
    n = len(rows)
    return {
        "user_id": np.array([_code(r[0], first_code) for r in rows], dtype=np.int64),
        "order_ts": np.array([r[1] for r in rows], dtype=np.int64),
        "status": np.array([ORDER_STATUSES.index(r[2]) for r in rows], dtype=np.int8),
        "amount": np.array([r[3] for r in rows], dtype=np.float64),
        "discount_amount": np.zeros(n, dtype=np.float64),
        "channel": np.full(n, ORDER_CHANNELS.index("app"), dtype=np.int8),
        "coupon_id": np.full(n, -1, dtype=np.int32),
        "payment_method": np.full(n, PAYMENT_METHODS.index("alipay"), dtype=np.int8),
        "item_count": np.array([r[4] for r in rows], dtype=np.int64),
    }


def planted_events(
    edge_date: dt.date, first_code: int, first_session: int, item_categories: np.ndarray
) -> Rows:
    """Events of the planted users; each event is its own session.

    Args:
        edge_date: The edge date ``D``.
        first_code: User code of ``e0000001``.
        first_session: Session number of the first planted session.
        item_categories: Category index of every catalogue item.
    """
    rows: list[tuple[str, int, str, str, int]] = []  # user, time, type, page, item
    for k, (day, offset) in enumerate(BOUNDARY_TIMES):
        rows.append(("e0000003", _at(edge_date, day, offset), "page_view", "product", k + 1))
    rows.append(("e0000008", _at(edge_date, 0, 10 * SECOND_US), "app_open", "home", -1))
    rows.append(("e0000009", _at(edge_date, 1, 10 * SECOND_US), "app_open", "home", -1))
    items = np.array([r[4] for r in rows], dtype=np.int32)
    n = len(rows)
    return {
        "user_id": np.array([_code(r[0], first_code) for r in rows], dtype=np.int32),
        "event_ts": np.array([r[1] for r in rows], dtype=np.int64),
        "event_type": np.array([EVENT_TYPES.index(r[2]) for r in rows], dtype=np.int8),
        "page": np.array([PAGES.index(r[3]) for r in rows], dtype=np.int8),
        "item_id": items,
        "category": np.where(items >= 0, item_categories[np.maximum(items, 0)], -1).astype(np.int8),
        "platform": np.full(n, PLATFORMS.index("ios"), dtype=np.int8),
        "session_id": np.arange(first_session, first_session + n, dtype=np.int64),
    }


def planted_touches(edge_date: dt.date, first_code: int, campaign_code: int) -> Rows:
    """Marketing touches of ``e0000004`` (campaign ``campaign_code``, no coupon)."""
    n = len(BOUNDARY_TIMES)
    opened = np.isin(np.arange(n), [1, 3, 5, 6])
    return {
        "user_id": np.full(n, _code("e0000004", first_code), dtype=np.int64),
        "touch_ts": np.array([_at(edge_date, d, o) for d, o in BOUNDARY_TIMES], dtype=np.int64),
        "channel": np.full(n, TOUCH_CHANNELS.index("push"), dtype=np.int8),
        "campaign_id": np.full(n, campaign_code, dtype=np.int32),
        "coupon_id": np.full(n, -1, dtype=np.int32),
        "opened": opened,
        "clicked": np.isin(np.arange(n), [3, 6]),
    }


def planted_tickets(edge_date: dt.date, first_code: int) -> Rows:
    """The refund complaint ticket of ``e0000011``."""
    return {
        "user_id": np.array([_code("e0000011", first_code)], dtype=np.int64),
        "created_ts": np.array([_at(edge_date, -4, 9 * HOUR_US)], dtype=np.int64),
        "category": np.array([TICKET_CATEGORIES.index("refund")], dtype=np.int8),
        "status": np.array([TICKET_STATUSES.index("resolved")], dtype=np.int8),
        "satisfaction": np.array([2], dtype=np.int64),
        "is_complaint": np.array([True]),
    }

