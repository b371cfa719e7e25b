"""A known truth for effect analysis: extra orders for one scene's treatment users (docs/effects.md#demo).

The scene's groups come from a stable hash of the user id (docs/audiences.md#scenes), which this
module reproduces in Python: ``u(salt, part, k)`` = the first 15 hex digits of
``sha256("salt:part:k")`` / 16**15; a user is in the holdout when ``u(salt, "holdout", k) < holdout``
and in a branch's control when ``u(salt, "split:<branch>", k) < control``. Which branch a user falls
in depends on the audiences (tags of the generated data), which the generator does not evaluate;
so every regular user whose hash puts them in the treatment of *every* branch is **boosted** (not
in the holdout, not in any branch's control).

On each **plant day** — the day after each of the two snapshot dates the tests and the demo
analyse (``D - 7`` and ``D``, with ``D`` the edge date), so that a user first assigned on either
date has the day after it inside the 1-day window of the demo goal ``orders_next_day`` — each
boosted user places one extra completed order with probability :data:`UPLIFT`. A boosted user's
next-day conversion rises from ``p0`` to ``p0 + (1 - p0) * UPLIFT``: the true effect of the
scene's treatment vs its holdout (and, in ``winback``, vs its control) is ``UPLIFT * (1 - p0)``, a
little under +10 percentage points. Other scenes' arms are independent of this hash: their true
effect is 0.

The planted orders are appended after every other order (ids after the last one) with their own
lines, both drawn from the generator's last random stream; the other order lines and the service
tickets come from the other orders alone, so every other source (and every other day of orders and
order lines) is byte-identical to a generation without the effect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import numpy as np

from tagfactory.demo._arrow import Rows
from tagfactory.demo._calendar import DAY_US, SECOND_US, micros
from tagfactory.demo._users import KIND_REGULAR, Population

#: The extra chance of a completed order on a plant day for a boosted user.
UPLIFT = 0.10
TWO_POW_60 = float(16**15)


@dataclass(frozen=True)
class PlantedScene:
    """The hash settings of the scene whose treatment gets the effect (checked against the compiled
    scene by tests/unit/test_demo_effect.py)."""

    scene: str = "home_popup"
    salt: str = "home_popup_2026q4"
    holdout: float = 0.05
    controls: dict[str, float] = field(default_factory=lambda: {"winback": 0.1})


PLANTED = PlantedScene()


def unit(salt: str, part: str, key: str) -> float:
    """``u(salt, part, k)`` in [0, 1), as the scene assignment computes it in Spark."""
    digest = hashlib.sha256(f"{salt}:{part}:{key}".encode()).hexdigest()
    return int(digest[:15], 16) / TWO_POW_60


def boosted(keys: list[str], planted: PlantedScene = PLANTED) -> np.ndarray:
    """Whether each key is in the treatment of every branch of the planted scene."""
    return np.array([unit(planted.salt, "holdout", k) >= planted.holdout
                     and all(unit(planted.salt, f"split:{b}", k) >= c for b, c in planted.controls.items())
                     for k in keys], dtype=bool)


def plant_days(edge_date: dt.date) -> list[dt.date]:
    """The days with extra orders: the day after ``D - 7`` and after ``D``."""
    return [edge_date - dt.timedelta(days=6), edge_date + dt.timedelta(days=1)]


def effect_orders(rng: np.random.Generator, pop: Population, edge_date: dt.date, first_order_id: int,
                  planted: PlantedScene = PLANTED) -> Rows:
    """The planted orders (compact rows with ``order_id`` from ``first_order_id``), sorted by time."""
    keys = [str(k) for k in pop.user_ids.to_pylist()]
    eligible = (pop.kind == KIND_REGULAR) & boosted(keys, planted)
    users, stamps = [], []
    for day in plant_days(edge_date):
        start = micros(day)
        chosen = np.flatnonzero(eligible & (pop.registered_us < start) & (rng.random(pop.size) < UPLIFT))
        users.append(chosen.astype(np.int64))
        stamps.append(start + rng.integers(0, DAY_US // SECOND_US, len(chosen)) * SECOND_US)
    user, ts = np.concatenate(users), np.concatenate(stamps)
    order = np.argsort(ts, kind="stable")
    user, ts = user[order], ts[order]
    n = len(user)
    amount = np.round(np.clip(rng.lognormal(np.log(140.0) + pop.spend[user], 0.85), 20.0, 5000.0), 2)
    return {
        "user_id": user,
        "order_ts": ts,
        "status": np.zeros(n, dtype=np.int8),  # completed
        "amount": amount,
        "discount_amount": np.zeros(n),
        "channel": pop.order_channel[user],
        "coupon_id": np.full(n, -1, dtype=np.int32),
        "payment_method": pop.payment[user],
        "item_count": np.ones(n, dtype=np.int64),
        "order_id": np.arange(first_order_id, first_order_id + n, dtype=np.int64),
    }
