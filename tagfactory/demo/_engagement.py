"""Behaviour events (sessions of app/web events) and marketing campaigns and touches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tagfactory.demo._arrow import Rows, take_rows
from tagfactory.demo._calendar import (
    DAY_US,
    EVENT_HOUR_CDF,
    MILLI_US,
    SECOND_US,
    SEND_HOUR_CDF,
    Calendar,
    categorical,
    categorical_by_group,
    mostly,
    sample_times,
)
from tagfactory.demo._commerce import Catalog, CouponBook, pick_items
from tagfactory.demo._schema import EVENT_TYPES, PAGES, PLATFORMS, TOUCH_CHANNELS
from tagfactory.demo._users import (
    ACTIVE,
    BROWSER,
    CHURNED,
    KIND_EDGE,
    KIND_REGULAR,
    NONE,
    OCCASIONAL,
    Population,
)

#: Sessions per active day by segment (none, browser, occasional, active, churned).
SESSION_RATE = np.zeros(5)
SESSION_RATE[[BROWSER, OCCASIONAL, ACTIVE, CHURNED]] = [0.045, 0.022, 0.075, 0.07]
#: Mean number of events after the first one in a session, by segment.
EXTRA_EVENTS = np.array([0.0, 5.0, 3.2, 3.6, 3.2])
#: Mean seconds between two events of a session.
EVENT_GAP_SECONDS = 45.0

_APP_OPEN, _PAGE_VIEW, _SEARCH, _ADD_TO_CART, _FAVORITE, _SHARE = range(len(EVENT_TYPES))
_HOME, _CATEGORY, _PRODUCT, _CART, _CHECKOUT, _CAMPAIGN, _SEARCH_PAGE = range(len(PAGES))
# Later events of a session (page_view, search, add_to_cart, favorite, share): buyers vs. browsers.
_EVENT_MIX = np.array([[0.62, 0.17, 0.12, 0.06, 0.03], [0.50, 0.14, 0.22, 0.11, 0.03]])
_PAGE_VIEW_MIX = [0.18, 0.22, 0.45, 0.06, 0.03, 0.06, 0.0]
_WEB = PLATFORMS.index("web")

_SMS, _PUSH, _EMAIL, _IN_APP = range(len(TOUCH_CHANNELS))
_OPEN_RATE = np.array([0.12, 0.09, 0.20, 0.40])
_ENGAGEMENT = np.array([0.5, 1.1, 1.0, 1.4, 0.5])  # open-rate multiplier by segment
#: Marketing touches per day for opted-in users, and (in-app only) for the others.
TOUCH_RATE_OPT_IN = 0.05
TOUCH_RATE_OPT_OUT = 0.012
EDGE_CAMPAIGN = "cmp_edge_boundary"


def _session_pages(rng: np.random.Generator, event_type: np.ndarray) -> np.ndarray:
    page = np.full(len(event_type), _PRODUCT, dtype=np.int8)
    page[event_type == _APP_OPEN] = _HOME
    page[event_type == _SEARCH] = _SEARCH_PAGE
    views = event_type == _PAGE_VIEW
    page[views] = categorical(rng, _PAGE_VIEW_MIX, int(views.sum()))
    shares = np.flatnonzero(event_type == _SHARE)
    page[shares[rng.random(len(shares)) < 0.25]] = _CAMPAIGN
    return page


def generate_events(
    rng: np.random.Generator, pop: Population, calendar: Calendar, catalog: Catalog, end_us: int
) -> tuple[Rows, int]:
    """Random sessions of events for every user with an activity period.

    A session starts with ``app_open`` (``page_view`` of ``home`` on the web) and continues with
    page views, searches, add-to-carts, favourites and shares a few dozen seconds apart. Only
    product pages carry an item (and its category).

    Args:
        rng: Random generator (events stream).
        pop: The population.
        calendar: Day weights of the data window.
        catalog: The catalogue.
        end_us: End of the data (exclusive); later events are dropped.

    Returns:
        Event rows (``event_id`` is numbered by the writer) and the number of sessions used.
    """
    active_days = (pop.active_hi - pop.active_lo) / DAY_US
    n_sessions = rng.poisson(active_days * SESSION_RATE[pop.segment] * pop.intensity)
    n_sessions[pop.kind == KIND_EDGE] = 0
    s_user = np.repeat(np.arange(pop.size, dtype=np.int32), n_sessions)
    s_start = sample_times(rng, pop.active_lo[s_user], pop.active_hi[s_user], calendar,
                           EVENT_HOUR_CDF, MILLI_US)
    s_platform = mostly(rng, pop.platform[s_user], 0.8, [0.35, 0.45, 0.10, 0.10])
    s_segment = pop.segment[s_user]
    s_length = 1 + rng.poisson(EXTRA_EVENTS[s_segment])
    del n_sessions

    session = np.repeat(np.arange(len(s_user), dtype=np.int32), s_length)
    first = np.cumsum(s_length) - s_length  # position of each session's first event
    gaps = (rng.exponential(EVENT_GAP_SECONDS * 1000, len(session))).astype(np.int64) * MILLI_US
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], s_length)
    ts = s_start[session] + elapsed
    del gaps, elapsed

    browser = (s_segment[session] == BROWSER).astype(np.int8)
    event_type = (categorical_by_group(rng, browser, _EVENT_MIX) + 1).astype(np.int8)
    event_type[first] = np.where(s_platform == _WEB, _PAGE_VIEW, _APP_OPEN)
    page = _session_pages(rng, event_type)
    page[first[s_platform == _WEB]] = _HOME
    user = s_user[session]
    item = np.full(len(session), -1, dtype=np.int32)
    category = np.full(len(session), -1, dtype=np.int8)
    on_product = np.flatnonzero(page == _PRODUCT)
    item[on_product], category[on_product] = pick_items(rng, catalog, pop.favourite[user[on_product]], 0.55)
    rows: Rows = {
        "user_id": user,
        "event_ts": ts,
        "event_type": event_type,
        "page": page,
        "item_id": item,
        "category": category,
        "platform": s_platform[session],
        "session_id": session.astype(np.int64) + 1,
    }
    keep = ts < end_us
    return (rows if keep.all() else take_rows(rows, keep)), len(s_user)


@dataclass(frozen=True)
class Campaigns:
    """Marketing campaigns sorted by send time.

    Attributes:
        send_us: Send time of each campaign.
        channel: Channel index.
        coupon: Coupon code carried by the campaign, -1 if none.
        ids: Campaign ids (``cmp_<yyyymmdd>_<channel>_<n>``) plus :data:`EDGE_CAMPAIGN` last.
    """

    send_us: np.ndarray
    channel: np.ndarray
    coupon: np.ndarray
    ids: pa.Array

    @property
    def edge_code(self) -> int:
        """Code of the planted campaign."""
        return len(self.send_us)


def build_campaigns(rng: np.random.Generator, calendar: Calendar, coupons: CouponBook) -> Campaigns:
    """About one campaign every two days, more around shopping festivals."""
    per_day = rng.poisson(0.55 * calendar.weights / calendar.weights.mean())
    day = np.repeat(np.arange(calendar.n_days), per_day)
    n = len(day)
    hour = np.minimum(np.searchsorted(SEND_HOUR_CDF, rng.random(n), side="right"), 23)
    send = calendar.base_us + day * DAY_US + hour * 3600 * SECOND_US + rng.integers(0, 4, n) * 15 * 60 * SECOND_US
    channel = categorical(rng, [0.25, 0.35, 0.15, 0.25], n)
    coupon = np.where(rng.random(n) < 0.45, coupons.draw(rng, send), -1).astype(np.int32)
    order = np.lexsort((channel, send))
    send, channel, coupon, day = send[order], channel[order], coupon[order], day[order]
    ids: list[str] = []
    seen: dict[tuple[int, int], int] = {}
    for d, c in zip(day.tolist(), channel.tolist(), strict=True):
        date = calendar.first_day + dt.timedelta(days=d)
        key = (d, c)
        seen[key] = seen.get(key, 0) + 1
        ids.append(f"cmp_{date:%Y%m%d}_{TOUCH_CHANNELS[c]}_{seen[key]}")
    return Campaigns(send, channel, coupon, pa.array(ids + [EDGE_CAMPAIGN], type=pa.string()))


def _pick_campaigns(
    rng: np.random.Generator, send_us: np.ndarray, not_before: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A random campaign sent at or after ``not_before`` per row; returns (positions, ok mask)."""
    first = np.searchsorted(send_us, not_before, side="left")
    available = len(send_us) - first
    pick = first + (rng.random(len(first)) * available).astype(np.int64)
    return np.minimum(pick, len(send_us) - 1), available > 0


def generate_touches(
    rng: np.random.Generator, pop: Population, campaigns: Campaigns, window_first_us: int,
    end_us: int,
) -> Rows:
    """Marketing touches: campaigns sent to regular users after their registration.

    Opted-in users receive any channel (e-mail only with an address, push only with the app);
    the others only in-app messages, which users who never open the app never get.
    ``clicked`` implies ``opened``.

    Returns:
        Touch rows (``touch_id`` is numbered by the writer).
    """
    lo = np.maximum(pop.registered_us, window_first_us)
    days = np.maximum(end_us - lo, 0) / DAY_US
    rate = np.where(pop.opt_in, TOUCH_RATE_OPT_IN, TOUCH_RATE_OPT_OUT) * (pop.kind == KIND_REGULAR)
    user = np.repeat(np.arange(pop.size, dtype=np.int64), rng.poisson(days * rate))
    pick, ok = _pick_campaigns(rng, campaigns.send_us, lo[user])
    in_app = np.flatnonzero(campaigns.channel == _IN_APP)
    opted_out = ~pop.opt_in[user]
    if len(in_app):
        sub, sub_ok = _pick_campaigns(rng, campaigns.send_us[in_app], lo[user[opted_out]])
        pick[opted_out], ok[opted_out] = in_app[sub], sub_ok
    else:
        ok[opted_out] = False
    channel = campaigns.channel[pick]
    has_app = np.isin(pop.platform[user], [0, 1])
    never_online = pop.segment[user] == NONE  # in-app messages need an app visit
    ok &= ~((channel == _EMAIL) & ~pop.has_email[user]) & ~((channel == _PUSH) & ~has_app)
    ok &= ~((channel == _IN_APP) & never_online)
    # One touch per user and campaign.
    key = user * len(campaigns.send_us) + pick
    _, unique_at = np.unique(np.where(ok, key, -1), return_index=True)
    keep = np.zeros(len(user), dtype=bool)
    keep[unique_at] = True
    keep &= ok
    user, pick, channel = user[keep], pick[keep], channel[keep]
    window = np.where(channel == _IN_APP, 12 * 3600, 30 * 60)
    ts = campaigns.send_us[pick] + (rng.random(len(pick)) * window).astype(np.int64) * SECOND_US
    p_open = np.minimum(_OPEN_RATE[channel] * _ENGAGEMENT[pop.segment[user]], 0.95)
    opened = rng.random(len(pick)) < p_open
    coupon = campaigns.coupon[pick]
    clicked = opened & (rng.random(len(pick)) < np.where(coupon >= 0, 0.38, 0.25))
    rows: Rows = {
        "user_id": user, "touch_ts": ts, "channel": channel, "campaign_id": pick.astype(np.int32),
        "coupon_id": coupon, "opened": opened, "clicked": clicked,
    }
    return take_rows(rows, ts < end_us)

