"""Customer-service tickets: mostly about orders (refunds above all), some about accounts."""

from __future__ import annotations

import numpy as np

from tagfactory.demo._arrow import Rows, concat_rows, take_rows
from tagfactory.demo._calendar import (
    DAY_US,
    EVENT_HOUR_CDF,
    SECOND_US,
    Calendar,
    categorical,
    categorical_by_group,
    sample_times,
)
from tagfactory.demo._schema import TICKET_CATEGORIES
from tagfactory.demo._users import KIND_REGULAR, Population

#: Chance that an order leads to a ticket, by status (completed, cancelled, refunded, pending).
_TICKET_CHANCE = np.array([0.002, 0.015, 0.15, 0.005])
# Category (delivery, refund, quality, account, payment, other) by order status.
_CATEGORY_BY_STATUS = np.array([
    [0.45, 0.00, 0.30, 0.00, 0.10, 0.15],
    [0.30, 0.00, 0.00, 0.00, 0.40, 0.30],
    [0.00, 0.70, 0.30, 0.00, 0.00, 0.00],
    [0.60, 0.00, 0.00, 0.00, 0.25, 0.15],
])
_ACCOUNT_TICKET_SHARE = 0.006
_COMPLAINT_BY_CATEGORY = np.array([0.25, 0.30, 0.35, 0.10, 0.15, 0.10])
_OPEN, _RESOLVED, _ESCALATED = range(3)


def _order_tickets(rng: np.random.Generator, orders: Rows, pop: Population) -> Rows:
    status = orders["status"]
    regular = pop.kind[orders["user_id"]] == KIND_REGULAR
    chosen = np.flatnonzero(regular & (rng.random(len(status)) < _TICKET_CHANCE[status]))
    delay = (3600 + rng.exponential(2.5 * 86_400, len(chosen))).astype(np.int64) * SECOND_US
    return {
        "user_id": orders["user_id"][chosen].astype(np.int64),
        "created_ts": orders["order_ts"][chosen] + delay,
        "category": categorical_by_group(rng, status[chosen], _CATEGORY_BY_STATUS),
    }


def _account_tickets(rng: np.random.Generator, pop: Population, calendar: Calendar, end_us: int) -> Rows:
    lo = np.maximum(pop.registered_us, calendar.base_us)
    user = np.flatnonzero((pop.kind == KIND_REGULAR) & (lo < end_us)
                          & (rng.random(pop.size) < _ACCOUNT_TICKET_SHARE))
    ts = sample_times(rng, lo[user], np.full(len(user), end_us), calendar, EVENT_HOUR_CDF, SECOND_US)
    category = np.array([TICKET_CATEGORIES.index(c) for c in ("account", "payment", "other")])
    return {
        "user_id": user.astype(np.int64),
        "created_ts": ts,
        "category": category[categorical(rng, [0.6, 0.2, 0.2], len(user))].astype(np.int8),
    }


def generate_tickets(
    rng: np.random.Generator, orders: Rows, pop: Population, calendar: Calendar, end_us: int
) -> Rows:
    """Tickets of regular users: after some orders (refunds most often) and about accounts.

    Recent tickets are often still open; only closed tickets may carry a satisfaction score;
    complaints are likelier for escalated or badly rated tickets.

    Args:
        rng: Random generator (tickets stream).
        orders: Numbered orders.
        pop: The population.
        calendar: Day weights of the data window.
        end_us: End of the data (exclusive); later tickets are dropped.

    Returns:
        Ticket rows (``ticket_id`` is numbered by the writer).
    """
    rows = concat_rows([_order_tickets(rng, orders, pop), _account_tickets(rng, pop, calendar, end_us)])
    rows = take_rows(rows, rows["created_ts"] < end_us)
    n = len(rows["created_ts"])
    recent = (end_us - rows["created_ts"] < 2 * DAY_US).astype(np.int8)
    status = categorical_by_group(rng, recent, np.array([[0.04, 0.88, 0.08], [0.60, 0.30, 0.10]]))
    rated = np.where(status == _RESOLVED, 0.6, np.where(status == _ESCALATED, 0.3, 0.0))
    score = 1 + categorical_by_group(rng, (status == _ESCALATED).astype(np.int8), np.array(
        [[0.08, 0.07, 0.15, 0.30, 0.40], [0.40, 0.30, 0.20, 0.07, 0.03]]))
    satisfaction = np.where(rng.random(n) < rated, score, -1).astype(np.int64)
    p_complaint = np.where((status == _ESCALATED) | ((satisfaction > 0) & (satisfaction <= 2)),
                           0.65, _COMPLAINT_BY_CATEGORY[rows["category"]])
    rows.update(status=status, satisfaction=satisfaction, is_complaint=rng.random(n) < p_complaint)
    return rows
