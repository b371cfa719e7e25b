"""Deterministic, realistic e-commerce demo data for the six declared sources.

Writes ``users``, ``orders``, ``order_items``, ``events``, ``marketing_touches`` and
``service_tickets`` (schemas: ``tag_definitions/sources/*.yaml``) as Hive-style parquet::

    out_dir/users/part-00000.parquet
    out_dir/<source>/dt=YYYY-MM-DD/part-00000.parquet     # dt = UTC date of the time column

Usage::

    python -m tagfactory.demo.generate --out data/demo --users 50000

What the data looks like:

* Dated rows cover ``end_date - days + 1`` .. ``end_date`` (UTC); users registered up to three
  years before ``end_date``, more of them recently, and a few on ``end_date`` itself.
* Hidden segments make tags interesting: active buyers (~1.5 orders a month), occasional buyers,
  browsers (many page views and add-to-carts, no orders), churned users (activity only long ago)
  and users without orders or events (~12%, including new users who did nothing yet; about 5%
  have no row in any dated source, the others still receive marketing messages). Nobody is
  active before registering. Activity follows a Chinese daily rhythm (UTC+8), weekends and
  shopping festivals (618, Double 11, Double 12).
* About 0.1% of the rows of orders, order_items and events belong to user ids missing from
  ``users`` (deleted accounts, numbered after the last ``users`` id).
* Planted edge-case users ``e0000001``... with hand-placed rows around the edge date ``D``
  (default ``end_date - 1``) are described in :data:`EDGE_USERS`.
* A known effect for effect analysis (:mod:`tagfactory.demo._effect`): on the day after ``D - 7``
  and after ``D``, users in the treatment of scene ``home_popup`` (by its stable hash) place an
  extra completed order with probability 0.10; scene ``push_campaign`` gets none. Only the
  ``orders`` and ``order_items`` of those two days differ from a generation without it.

The same arguments always give the same data (numpy ``SeedSequence`` streams per source). Each
run writes into a hidden staging folder inside ``out_dir`` and then swaps every source folder
into place, replacing the previous one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from tagfactory.demo._arrow import Rows, concat_rows
from tagfactory.demo._calendar import DAY_US, micros, seasonal_calendar
from tagfactory.demo._commerce import (
    CouponBook,
    build_catalog,
    generate_order_items,
    generate_orders,
    number_orders,
)
from tagfactory.demo._edge import (
    EDGE_USERS,
    planted_events,
    planted_orders,
    planted_tickets,
    planted_touches,
    planted_users,
)
from tagfactory.demo._effect import effect_orders
from tagfactory.demo._engagement import build_campaigns, generate_events, generate_touches
from tagfactory.demo._schema import (
    ENUM_TABLES,
    EVENTS,
    LAYOUTS,
    MARKETING_TOUCHES,
    ORDER_ITEMS,
    ORDERS,
    SERVICE_TICKETS,
    USERS,
    SourceLayout,
)
from tagfactory.demo._tickets import generate_tickets
from tagfactory.demo._users import build_population
from tagfactory.demo._writer import new_staging_dir, swap_into_place, write_source
from tagfactory.errors import ConfigError

__all__ = ["EDGE_USERS", "SOURCES", "generate_demo_data", "main"]

#: Source names in generation order.
SOURCES: tuple[str, ...] = tuple(layout.name for layout in LAYOUTS)
DEFAULT_END_DATE = dt.date(2026, 11, 24)
# a new stream goes last: SeedSequence children are numbered, so the earlier streams stay the same
_STREAMS = ("users", "catalog", "orders", "order_items", "tickets", "events", "campaigns", "touches", "effect")


def _validate(n_users: int, days: int, end_date: dt.date, edge_date: dt.date) -> None:
    if n_users < 1:
        raise ConfigError(f"n_users must be at least 1, got {n_users}")
    if not 32 <= days <= 3650:
        raise ConfigError(f"days must be between 32 and 3650, got {days}")
    first_day = end_date - dt.timedelta(days=days - 1)
    if not first_day + dt.timedelta(days=30) <= edge_date <= end_date - dt.timedelta(days=1):
        raise ConfigError(
            f"edge_date {edge_date} must be between {first_day + dt.timedelta(days=30)} "
            f"(first day + 30) and {end_date - dt.timedelta(days=1)} (end_date - 1)"
        )


class _Run:
    """One generation run: random streams, shared tables, staging folder and progress."""

    def __init__(self, staging: Path, seed: int, progress: Callable[[str], None] | None) -> None:
        seqs = np.random.SeedSequence(seed).spawn(len(_STREAMS))
        self.rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seqs, strict=True)}
        self.staging = staging
        self.lookups: dict[str, pa.Array] = {
            name: pa.array(values, type=pa.string()) for name, values in ENUM_TABLES.items()
        }
        self.counts: dict[str, int] = {}
        self._progress = progress
        self._clock = time.perf_counter()

    def write(self, layout: SourceLayout, rows: Rows) -> None:
        """Write a source to staging and report rows and seconds since the previous report."""
        self.counts[layout.name] = write_source(self.staging, layout, rows, self.lookups)
        self.say(f"{layout.name}: {self.counts[layout.name]:,} rows")

    def say(self, message: str) -> None:
        """Report ``message`` with the seconds elapsed since the previous report."""
        now = time.perf_counter()
        if self._progress is not None:
            self._progress(f"{message} ({now - self._clock:.1f}s)")
        self._clock = now


def _generate(run: _Run, n_users: int, end_date: dt.date, days: int, edge_date: dt.date) -> None:
    first_day = end_date - dt.timedelta(days=days - 1)
    window_us, end_us = micros(first_day), micros(end_date) + DAY_US
    planted = planted_users(edge_date)
    pop, user_rows, lookups = build_population(run.rng["users"], n_users, first_day, end_date, planted)
    run.lookups.update(lookups)
    edge_code = pop.size - len(planted)
    run.write(USERS, user_rows)
    del user_rows

    catalog = build_catalog(run.rng["catalog"])
    coupons = CouponBook.for_window(first_day, days)
    run.lookups["coupon_id"] = coupons.ids
    shop_days = seasonal_calendar(first_day, days, weekend=1.2, promo=1.0, growth=1.15)
    orders = generate_orders(run.rng["orders"], pop, shop_days, coupons, end_date)
    orders = number_orders(concat_rows([orders, planted_orders(edge_date, edge_code)]))
    # the known effect: appended orders with their own lines, drawn from their own stream; the other
    # lines and the tickets come from `orders` alone, so their random draws do not move
    effect = effect_orders(run.rng["effect"], pop, edge_date, first_order_id=len(orders["order_id"]) + 1)
    run.write(ORDERS, concat_rows([orders, effect]))
    run.write(ORDER_ITEMS, concat_rows([generate_order_items(run.rng["order_items"], orders, pop, catalog),
                                        generate_order_items(run.rng["effect"], effect, pop, catalog)]))
    tickets = generate_tickets(run.rng["tickets"], orders, pop, shop_days, end_us)
    del orders
    run.write(SERVICE_TICKETS, concat_rows([tickets, planted_tickets(edge_date, edge_code)]))

    browse_days = seasonal_calendar(first_day, days, weekend=1.1, promo=0.4, growth=1.1)
    events, n_sessions = generate_events(run.rng["events"], pop, browse_days, catalog, end_us)
    extra = planted_events(edge_date, edge_code, n_sessions + 1, catalog.category)
    run.write(EVENTS, concat_rows([events, extra]))
    del events

    campaigns = build_campaigns(run.rng["campaigns"], shop_days, coupons)
    run.lookups["campaign_id"] = campaigns.ids
    touches = generate_touches(run.rng["touches"], pop, campaigns, window_us, end_us)
    run.write(MARKETING_TOUCHES, concat_rows([touches, planted_touches(edge_date, edge_code, campaigns.edge_code)]))


def generate_demo_data(
    out_dir: str | os.PathLike,
    n_users: int = 50_000,
    end_date: dt.date = DEFAULT_END_DATE,
    days: int = 400,
    seed: int = 7,
    edge_date: dt.date | None = None,
    progress: Callable[[str], None] | None = print,
) -> dict[str, int]:
    """Generate the demo sources into ``out_dir``, replacing any previous version.

    Args:
        out_dir: Root folder; one sub-folder per source is (re)written, others are untouched.
        n_users: Number of regular users (``u0000001``...). 50k gives ~2.7M events.
        end_date: Last day of data (UTC).
        days: Number of days of dated rows, ending with ``end_date`` (32..3650).
        seed: Random seed; the same arguments always give the same data.
        edge_date: The date ``D`` the planted edge cases are placed around (see
            :data:`EDGE_USERS`); default ``end_date - 1``. Must leave 30 days before it and one
            day after it inside the data window.
        progress: Called with one line per written source (rows and seconds); ``None`` for
            silence.

    Returns:
        Row count per source name.

    Raises:
        ValueError: If the arguments are out of range.
    """
    edge_date = edge_date or end_date - dt.timedelta(days=1)
    _validate(n_users, days, end_date, edge_date)
    out = Path(out_dir)
    staging = new_staging_dir(out)
    started = time.perf_counter()
    try:
        run = _Run(staging, seed, progress)
        _generate(run, n_users, end_date, days, edge_date)
        swap_into_place(staging, out, SOURCES)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress is not None:
        progress(f"done: {sum(run.counts.values()):,} rows in {time.perf_counter() - started:.1f}s -> {out}")
    return {name: run.counts[name] for name in SOURCES}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tagfactory.demo.generate",
        description="Generate deterministic e-commerce demo data (parquet, Hive-style dt folders).",
    )
    parser.add_argument("--out", required=True, help="output folder, e.g. data/demo")
    parser.add_argument("--users", type=int, default=50_000, help="number of users (default 50000)")
    parser.add_argument("--end-date", type=_date, default=DEFAULT_END_DATE,
                        help=f"last day of data, YYYY-MM-DD (default {DEFAULT_END_DATE})")
    parser.add_argument("--days", type=int, default=400, help="days of dated data (default 400)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--edge-date", type=_date, default=None,
                        help="date the planted edge cases are placed around (default end date - 1)")
    args = parser.parse_args(argv)
    try:
        generate_demo_data(args.out, n_users=args.users, end_date=args.end_date, days=args.days,
                           seed=args.seed, edge_date=args.edge_date,
                           progress=lambda line: print(line, flush=True))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
