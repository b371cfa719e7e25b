"""Product catalogue, coupons, orders and order lines."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tagfactory.demo._arrow import Rows, take_rows
from tagfactory.demo._calendar import (
    DAY_US,
    ORDER_HOUR_CDF,
    SECOND_US,
    Calendar,
    categorical,
    day_number,
    mostly,
    sample_times,
)
from tagfactory.demo._users import (
    ACTIVE,
    CATEGORY_WEIGHTS,
    CHURNED,
    KIND_EDGE,
    OCCASIONAL,
    Population,
)

# Median list price (CNY) per category: apparel, beauty, electronics, grocery, home, books, sports, toys.
_MEDIAN_PRICE = np.array([159.0, 129.0, 899.0, 39.0, 99.0, 45.0, 199.0, 89.0])
_ITEMS_PER_CATEGORY_SHARE = np.array(CATEGORY_WEIGHTS)

#: Orders per active day by segment (none, browser, occasional, active, churned).
ORDER_RATE = np.zeros(5)
ORDER_RATE[[OCCASIONAL, ACTIVE, CHURNED]] = [0.009, 0.05, 0.04]
COUPONS_PER_MONTH = 8


@dataclass(frozen=True)
class Catalog:
    """Items grouped by category (item number = position).

    Attributes:
        category: Category index per item.
        price: List price per item.
        starts: First item of each category, plus the total (length n_categories + 1).
    """

    category: np.ndarray
    price: np.ndarray
    starts: np.ndarray


def build_catalog(rng: np.random.Generator, n_items: int = 6000) -> Catalog:
    """Create a catalogue of ``n_items`` items, most of them cheap, a few popular."""
    counts = np.maximum(1, np.round(_ITEMS_PER_CATEGORY_SHARE / _ITEMS_PER_CATEGORY_SHARE.sum() * n_items)).astype(np.int64)
    category = np.repeat(np.arange(len(counts), dtype=np.int8), counts)
    price = np.round(_MEDIAN_PRICE[category] * rng.lognormal(0.0, 0.6, len(category)), 1)
    return Catalog(category, np.maximum(price, 1.0), np.concatenate([[0], np.cumsum(counts)]))


def pick_items(
    rng: np.random.Generator, catalog: Catalog, favourite: np.ndarray, p_favourite: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one item per row: from the favourite category with probability ``p_favourite``.

    Within a category, popularity is skewed (the first items are the best sellers).

    Returns:
        Item numbers (int32) and their category indices (int8).
    """
    n = len(favourite)
    category = np.where(
        rng.random(n) < p_favourite, favourite, categorical(rng, CATEGORY_WEIGHTS, n)
    ).astype(np.int8)
    size = np.diff(catalog.starts)[category]
    rank = np.minimum((size * rng.random(n) ** 2.5).astype(np.int64), size - 1)
    return (catalog.starts[category] + rank).astype(np.int32), category


@dataclass(frozen=True)
class CouponBook:
    """Coupon codes ``CP<yyyymm><nn>``: a fixed number per calendar month of the window.

    Attributes:
        first_day: First day of the window.
        month_of_day: Month number (0 = first month) of every window day.
        ids: All coupon codes (the ``coupon_id`` lookup table).
    """

    first_day: dt.date
    month_of_day: np.ndarray
    ids: pa.Array

    @classmethod
    def for_window(cls, first_day: dt.date, n_days: int) -> CouponBook:
        """Coupon book covering ``n_days`` days from ``first_day``."""
        days = [first_day + dt.timedelta(days=k) for k in range(n_days)]
        month_keys = np.array([d.year * 12 + d.month - 1 for d in days])
        month_of_day = month_keys - month_keys[0]
        ids = [f"CP{key // 12:04d}{key % 12 + 1:02d}{k + 1:02d}"
               for key in range(month_keys[0], month_keys[-1] + 1) for k in range(COUPONS_PER_MONTH)]
        return cls(first_day, month_of_day, pa.array(ids, type=pa.string()))

    def draw(self, rng: np.random.Generator, ts: np.ndarray) -> np.ndarray:
        """A random coupon of the month of each timestamp (int32 codes)."""
        day = np.clip(ts // DAY_US - day_number(self.first_day), 0, len(self.month_of_day) - 1)
        k = rng.integers(0, COUPONS_PER_MONTH, len(ts))
        return (self.month_of_day[day] * COUPONS_PER_MONTH + k).astype(np.int32)


def _order_status(rng: np.random.Generator, ts: np.ndarray, end_date: dt.date) -> np.ndarray:
    age_days = day_number(end_date) - ts // DAY_US
    p_pending = np.select([age_days == 0, age_days == 1], [0.35, 0.12], default=0.0003)
    status = categorical(rng, [0.87, 0.075, 0.055], len(ts))  # completed, cancelled, refunded
    status[rng.random(len(ts)) < p_pending] = 3
    return status


def generate_orders(
    rng: np.random.Generator, pop: Population, calendar: Calendar, coupons: CouponBook,
    end_date: dt.date,
) -> Rows:
    """Random orders of the buying segments (no ``order_id`` yet, see :func:`number_orders`).

    Args:
        rng: Random generator (orders stream).
        pop: The population.
        calendar: Day weights of the data window (festival peaks).
        coupons: Coupon codes.
        end_date: Last day of data (recent orders are often still pending).

    Returns:
        Order rows in compact form.
    """
    active_days = (pop.active_hi - pop.active_lo) / DAY_US
    n_orders = rng.poisson(active_days * ORDER_RATE[pop.segment] * pop.intensity)
    n_orders[pop.kind == KIND_EDGE] = 0
    user = np.repeat(np.arange(pop.size, dtype=np.int64), n_orders)
    n = len(user)
    ts = sample_times(rng, pop.active_lo[user], pop.active_hi[user], calendar, ORDER_HOUR_CDF, SECOND_US)
    amount = np.round(np.clip(rng.lognormal(np.log(140.0) + pop.spend[user], 0.85), 20.0, 5000.0), 2)
    uses_coupon = rng.random(n) < np.where(pop.coupon_sensitive[user], 0.7, 0.18)
    promo = ~uses_coupon & (rng.random(n) < 0.25)
    rate = np.where(uses_coupon, rng.uniform(0.05, 0.30, n), np.where(promo, rng.uniform(0.02, 0.10, n), 0.0))
    return {
        "user_id": user,
        "order_ts": ts,
        "status": _order_status(rng, ts, end_date),
        "amount": amount,
        "discount_amount": np.round(amount / (1.0 - rate) - amount, 2),
        "channel": mostly(rng, pop.order_channel[user], 0.85, [0.55, 0.15, 0.25, 0.05]),
        "coupon_id": np.where(uses_coupon, coupons.draw(rng, ts), -1).astype(np.int32),
        "payment_method": mostly(rng, pop.payment[user], 0.85, [0.45, 0.42, 0.10, 0.03]),
        "item_count": 1 + categorical(rng, [0.45, 0.25, 0.15, 0.10, 0.05], n).astype(np.int64),
    }


def number_orders(orders: Rows) -> Rows:
    """Sort orders by time (ties keep their order) and number them ``order_id`` = 1, 2, ..."""
    order = np.argsort(orders["order_ts"], kind="stable")
    numbered = take_rows(orders, order)
    numbered["order_id"] = np.arange(1, len(order) + 1, dtype=np.int64)
    return numbered


def generate_order_items(
    rng: np.random.Generator, orders: Rows, pop: Population, catalog: Catalog
) -> Rows:
    """Explode every order into ``item_count`` lines.

    Line prices split the order's gross amount (``amount + discount_amount``) in proportion to
    list price times quantity, so ``sum(price * quantity)`` matches it up to rounding.

    Args:
        rng: Random generator (order-items stream).
        orders: Numbered orders.
        pop: The population (favourite categories).
        catalog: The catalogue.

    Returns:
        Order-line rows in compact form.
    """
    line_order = np.repeat(np.arange(len(orders["order_id"])), orders["item_count"])
    user = orders["user_id"][line_order]
    items, category = pick_items(rng, catalog, pop.favourite[user], 0.5)
    quantity = 1 + categorical(rng, [0.72, 0.18, 0.07, 0.02, 0.01], len(items)).astype(np.int64)
    weight = catalog.price[items] * quantity * rng.gamma(4.0, 0.25, len(items))
    share = weight / np.bincount(line_order, weights=weight)[line_order]
    gross = (orders["amount"] + orders["discount_amount"])[line_order]
    return {
        "order_id": orders["order_id"][line_order],
        "user_id": user,
        "order_ts": orders["order_ts"][line_order],
        "item_id": items,
        "category": category,
        "quantity": quantity,
        "price": np.maximum(np.round(gross * share / quantity, 2), 0.01),
        "status": orders["status"][line_order],
    }
