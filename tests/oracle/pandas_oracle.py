"""An independent pandas oracle for the shipped tag catalogue.

Every built tag of ``tag_definitions/tags/*.yaml`` has one small hand-written function here,
written from the tag's meaning and from the semantics of ``docs/tag-language.md``. Nothing is
imported from ``tagfactory``: the YAML is read only to list the tags that are built
(``lifecycle`` active or deprecated) and to check that each has an oracle function.

Layout:
  * loading — :func:`load_sources` reads the Parquet datasets (Hive ``dt=`` folders) into pandas
    with normalised dtypes (timestamps tz-aware UTC, dates as ``datetime.date``, nullable ints
    and booleans, strings as ``object`` with ``None``).
  * point in time — :class:`Context` cuts every fact/event source to the population, to rows
    with time < D+1 00:00 UTC and to partitions ``dt <= D``; windows add the lower bound.
  * aggregate helpers — one per ``agg`` of the doc (count, sum, first, mode, ...).
  * SQL-style helpers — nullable arithmetic, ``nullif``, HALF_UP ``round``, three-valued logic
    (pandas' nullable ``boolean`` dtype implements Kleene AND/OR/NOT) and rule evaluation.
  * one function per tag, registered in :data:`ORACLE` under the tag's name; each returns the
    final value (default applied, cast to the declared type) indexed by the population. Derived
    tags and rules read other tags' final values through :meth:`Context.tag`.

Output dtypes: integer -> ``Int64``; double -> ``float64`` (NaN = null); string/enum ->
``object`` (``str`` or ``None``); date -> ``object`` (``datetime.date`` or ``None``);
boolean -> ``boolean``; array<string> -> ``object`` (``list[str]``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TAGS_DIR = REPO_ROOT / "tag_definitions" / "tags"

# ---------------------------------------------------------------------------------------------
# Source schemas (hand-copied from tag_definitions/sources/*.yaml).
# kinds: str (string/enum), int, float, bool, date, ts
# ---------------------------------------------------------------------------------------------
SCHEMAS: dict[str, dict[str, str]] = {
    "users": {
        "user_id": "str",
        "registered_at": "ts",
        "registration_channel": "str",
        "gender": "str",
        "birthday": "date",
        "city": "str",
        "city_tier": "str",
        "member_level": "str",
        "phone": "str",
        "email": "str",
        "phone_verified": "bool",
        "marketing_opt_in": "bool",
        "is_test_account": "bool",
    },
    "orders": {
        "order_id": "str",
        "user_id": "str",
        "order_ts": "ts",
        "dt": "date",
        "status": "str",
        "amount": "float",
        "discount_amount": "float",
        "channel": "str",
        "coupon_id": "str",
        "payment_method": "str",
        "item_count": "int",
    },
    "order_items": {
        "order_id": "str",
        "user_id": "str",
        "order_ts": "ts",
        "dt": "date",
        "item_id": "str",
        "category": "str",
        "quantity": "int",
        "price": "float",
        "status": "str",
    },
    "events": {
        "event_id": "str",
        "user_id": "str",
        "event_ts": "ts",
        "dt": "date",
        "event_type": "str",
        "page": "str",
        "item_id": "str",
        "category": "str",
        "platform": "str",
        "session_id": "str",
    },
    "marketing_touches": {
        "touch_id": "str",
        "user_id": "str",
        "touch_ts": "ts",
        "dt": "date",
        "channel": "str",
        "campaign_id": "str",
        "coupon_id": "str",
        "opened": "bool",
        "clicked": "bool",
    },
    "service_tickets": {
        "ticket_id": "str",
        "user_id": "str",
        "created_ts": "ts",
        "dt": "date",
        "category": "str",
        "status": "str",
        "satisfaction": "int",
        "is_complaint": "bool",
    },
}
TIME_COLUMN = {
    "users": "registered_at",
    "orders": "order_ts",
    "order_items": "order_ts",
    "events": "event_ts",
    "marketing_touches": "touch_ts",
    "service_tickets": "created_ts",
}
FACT_SOURCES = [s for s in SCHEMAS if s != "users"]
UID = "user_id"


# ---------------------------------------------------------------------------------------------
# Loading and normalisation
# ---------------------------------------------------------------------------------------------
def _to_utc(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s, utc=False)
    if getattr(s.dt, "tz", None) is None:
        s = s.dt.tz_localize("UTC")
    else:
        s = s.dt.tz_convert("UTC")
    return s.astype("datetime64[us, UTC]")


def _to_date(v: Any) -> dt.date | None:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, str):
        return dt.date.fromisoformat(v[:10])
    if isinstance(v, dt.datetime):  # also pd.Timestamp; tz-aware ones are UTC here
        return v.date()
    if isinstance(v, dt.date):
        return v
    if pd.isna(v):
        return None
    return pd.Timestamp(v).date()


def _normalise(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Coerce a frame to the declared schema (adds missing columns as nulls)."""
    schema = SCHEMAS[source]
    df = df.copy()
    for col, kind in schema.items():
        if col not in df.columns:
            df[col] = None
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if kind == "ts":
            df[col] = _to_utc(s)
        elif kind == "date":
            df[col] = pd.Series([_to_date(v) for v in s], index=df.index, dtype=object)
        elif kind == "int":
            df[col] = (
                pd.array(s.astype(object).where(s.notna(), None).tolist(), dtype="Int64")
                if len(s)
                else pd.array([], dtype="Int64")
            )
        elif kind == "float":
            df[col] = pd.to_numeric(s.astype(object).where(s.notna(), np.nan)).astype("float64")
        elif kind == "bool":
            df[col] = (
                pd.array(s.astype(object).where(s.notna(), None).tolist(), dtype="boolean")
                if len(s)
                else pd.array([], dtype="boolean")
            )
        else:
            df[col] = pd.Series(
                [
                    None if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v)
                    for v in s
                ],
                index=df.index,
                dtype=object,
            )
    return df.reset_index(drop=True)


def _read_files(files: Iterable[Path]) -> pa.Table | None:
    tables = [pq.read_table(f) for f in sorted(files)]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def load_sources(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read the demo Parquet datasets under ``data_dir``.

    ``data_dir/<source>/dt=YYYY-MM-DD/*.parquet`` for partitioned sources (``dt`` is added from the
    folder name as ``datetime.date``) and ``data_dir/users/*.parquet``. A missing source gives an
    empty frame. Timestamps come back tz-aware UTC (naive ones are taken as UTC).
    """
    root = Path(data_dir)
    out: dict[str, pd.DataFrame] = {}
    for source in SCHEMAS:
        base = root / source
        frames: list[pd.DataFrame] = []
        if base.is_dir():
            top = _read_files(p for p in base.glob("*.parquet"))
            if top is not None:
                frames.append(top.to_pandas())
            for part in sorted(base.glob("dt=*")):
                if not part.is_dir():
                    continue
                t = _read_files(p for p in part.rglob("*.parquet"))
                if t is None:
                    continue
                pdf = t.to_pandas()
                pdf["dt"] = dt.date.fromisoformat(part.name.split("=", 1)[1])
                frames.append(pdf)
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        out[source] = _normalise(df, source)
    return out


# ---------------------------------------------------------------------------------------------
# Context: population and point-in-time cut
# ---------------------------------------------------------------------------------------------
class Context:
    """Snapshot D: the population, the cut sources and a memo of computed tags."""

    def __init__(self, sources: dict[str, pd.DataFrame], snapshot_date: dt.date):
        self.d = snapshot_date
        self.end = pd.Timestamp(snapshot_date + dt.timedelta(days=1)).tz_localize("UTC")
        src = {s: _normalise(sources.get(s, pd.DataFrame()), s) for s in SCHEMAS}
        users = src["users"]
        users = users[users["registered_at"].notna() & (users["registered_at"] < self.end)]
        users = users.drop_duplicates(UID, keep="first").set_index(UID)
        self.users = users
        self.index = users.index
        self.facts: dict[str, pd.DataFrame] = {}
        for s in FACT_SOURCES:
            f = src[s]
            t = f[TIME_COLUMN[s]]
            keep = (
                t.notna()
                & (t < self.end)
                & f["dt"].map(lambda v: v is not None and v <= snapshot_date).astype(bool)
                & f[UID].isin(self.index)
            )
            self.facts[s] = f[keep.to_numpy()]
        self._memo: dict[str, pd.Series] = {}

    # ---- tags -------------------------------------------------------------------------------
    def tag(self, name: str) -> pd.Series:
        """Final (defaulted, typed) value of another tag."""
        if name not in self._memo:
            s = ORACLE[name](self)
            assert s.index.equals(self.index), name
            self._memo[name] = s
        return self._memo[name]

    def v(self, name: str) -> pd.Series:
        """Another tag as a SQL-like nullable series (Float64/Int64/boolean/object)."""
        s = self.tag(name)
        if s.dtype == "float64":
            return s.astype("Float64")
        return s

    # ---- rows -------------------------------------------------------------------------------
    def rows(
        self,
        source: str,
        window: str,
        where: Callable[[pd.DataFrame], pd.Series] | None = None,
    ) -> pd.DataFrame:
        """Rows of a fact/event source in a window (``Nd`` or ``all``), with an optional filter."""
        f = self.facts[source]
        if window != "all":
            n = int(window.rstrip("d"))
            start = pd.Timestamp(self.d - dt.timedelta(days=n - 1)).tz_localize("UTC")
            f = f[(f[TIME_COLUMN[source]] >= start).to_numpy()]
        if where is not None:
            f = f[_true(where(f)).to_numpy()]
        return f

    def days_ago(self, ts: pd.Series) -> pd.Series:
        """Whole days from the UTC date of each timestamp to D (nullable Int64)."""
        vals = [None if pd.isna(t) else (self.d - t.date()).days for t in ts]
        return pd.Series(pd.array(vals, dtype="Int64"), index=ts.index)


# ---------------------------------------------------------------------------------------------
# Casting to the declared types
# ---------------------------------------------------------------------------------------------
def _true(mask: pd.Series) -> pd.Series:
    """SQL 'is true': null -> False."""
    if mask.dtype == bool:
        return mask
    return mask.astype("boolean").fillna(False).astype(bool)


def as_int(s: pd.Series) -> pd.Series:
    return s.astype("Int64")


def as_float(s: pd.Series) -> pd.Series:
    return pd.Series(s.astype("Float64").to_numpy(dtype="float64", na_value=np.nan), index=s.index)


def as_bool(s: pd.Series) -> pd.Series:
    return s.astype("boolean")


def as_str(s: pd.Series) -> pd.Series:
    return pd.Series(
        [None if (v is None or (not isinstance(v, str) and pd.isna(v))) else str(v) for v in s],
        index=s.index,
        dtype=object,
    )


def as_date(s: pd.Series) -> pd.Series:
    return pd.Series([_to_date(v) for v in s], index=s.index, dtype=object)


def as_list(s: pd.Series) -> pd.Series:
    return pd.Series([list(v) for v in s], index=s.index, dtype=object)


# ---------------------------------------------------------------------------------------------
# Aggregates (doc table): each returns a series over the population
# ---------------------------------------------------------------------------------------------
Where = Callable[[pd.DataFrame], pd.Series] | None


def agg_count(
    ctx: Context, source: str, window: str, where: Where = None, column: str | None = None
) -> pd.Series:
    r = ctx.rows(source, window, where)
    if column is not None:
        r = r[r[column].notna().to_numpy()]
    return as_int(r.groupby(UID).size().reindex(ctx.index, fill_value=0))


def agg_count_distinct(
    ctx: Context, source: str, column: str, window: str, where: Where = None
) -> pd.Series:
    r = ctx.rows(source, window, where)
    r = r[r[column].notna().to_numpy()]
    return as_int(r.groupby(UID)[column].nunique().reindex(ctx.index, fill_value=0))


def _nonnull(ctx: Context, source: str, column: str, window: str, where: Where) -> pd.DataFrame:
    r = ctx.rows(source, window, where)
    return r[r[column].notna().to_numpy()]


def agg_sum(ctx: Context, source: str, column: str, window: str, where: Where = None) -> pd.Series:
    """Sum of non-null values; null when there is none (Int64 for int columns, Float64 else)."""
    r = _nonnull(ctx, source, column, window, where)
    if SCHEMAS[source][column] == "int":
        out = {u: int(sum(int(x) for x in g)) for u, g in r.groupby(UID)[column]}
        return pd.Series(pd.array([out.get(u) for u in ctx.index], dtype="Int64"), index=ctx.index)
    s = r.groupby(UID)[column].sum()
    return s.reindex(ctx.index).astype("Float64")


def agg_avg(ctx: Context, source: str, column: str, window: str, where: Where = None) -> pd.Series:
    r = _nonnull(ctx, source, column, window, where)
    s = r[column].astype("float64").groupby(r[UID]).mean()
    return s.reindex(ctx.index).astype("Float64")


def agg_min(ctx: Context, source: str, column: str, window: str, where: Where = None) -> pd.Series:
    r = _nonnull(ctx, source, column, window, where)
    return r.groupby(UID)[column].min().reindex(ctx.index)


def agg_max(ctx: Context, source: str, column: str, window: str, where: Where = None) -> pd.Series:
    r = _nonnull(ctx, source, column, window, where)
    return r.groupby(UID)[column].max().reindex(ctx.index)


def _first_last(
    ctx: Context, source: str, column: str, window: str, where: Where, keep: str
) -> pd.Series:
    r = _nonnull(ctx, source, column, window, where)
    # ascending by (time, value): the first row is the earliest with the smallest value, the
    # last row the latest with the largest value — the doc's tie-breaks.
    r = r.sort_values([TIME_COLUMN[source], column], kind="mergesort")
    picked = r.drop_duplicates(UID, keep=keep).set_index(UID)[column]
    return picked.reindex(ctx.index)


def agg_first(
    ctx: Context, source: str, column: str, window: str, where: Where = None
) -> pd.Series:
    return _first_last(ctx, source, column, window, where, "first")


def agg_last(ctx: Context, source: str, column: str, window: str, where: Where = None) -> pd.Series:
    return _first_last(ctx, source, column, window, where, "last")


def agg_mode(ctx: Context, source: str, column: str, window: str, where: Where = None) -> pd.Series:
    """Most frequent non-null value; ties -> smallest value."""
    r = _nonnull(ctx, source, column, window, where)
    c = r.groupby([UID, column]).size().rename("n").reset_index()
    c["neg_n"] = -c["n"]
    c = c.sort_values([UID, "neg_n", column], kind="mergesort")
    return c.drop_duplicates(UID, keep="first").set_index(UID)[column].reindex(ctx.index)


def agg_distinct_values(
    ctx: Context, source: str, column: str, window: str, where: Where = None
) -> pd.Series:
    r = _nonnull(ctx, source, column, window, where)
    d = {u: sorted(set(g)) for u, g in r.groupby(UID)[column]}
    return pd.Series([d.get(u, []) for u in ctx.index], index=ctx.index, dtype=object)


def agg_days_since_last(ctx: Context, source: str, window: str, where: Where = None) -> pd.Series:
    r = ctx.rows(source, window, where)
    latest = r.groupby(UID)[TIME_COLUMN[source]].max().reindex(ctx.index)
    return ctx.days_ago(latest)


# ---------------------------------------------------------------------------------------------
# SQL-style scalar helpers
# ---------------------------------------------------------------------------------------------
def nullif0(s: pd.Series) -> pd.Series:
    s = s.astype("Float64")
    return s.mask(_true(s == 0), pd.NA)


def divide(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a / nullif(b, 0)`` as doubles."""
    return a.astype("Float64") / nullif0(b)


def round_half_up(s: pd.Series, digits: int) -> pd.Series:
    """Spark ``round(double, d)``: HALF_UP on the shortest decimal representation."""
    q = Decimal(1).scaleb(-digits)
    vals = [
        None if pd.isna(v) else float(Decimal(repr(float(v))).quantize(q, rounding=ROUND_HALF_UP))
        for v in s
    ]
    return pd.Series(pd.array(vals, dtype="Float64"), index=s.index)


def sql_in(s: pd.Series, values: list[str]) -> pd.Series:
    """``s IN (...)`` with SQL nulls: null stays null."""
    vals = [
        pd.NA if v is None or (not isinstance(v, str) and pd.isna(v)) else v in values for v in s
    ]
    return pd.Series(pd.array(vals, dtype="boolean"), index=s.index)


def rule(ctx: Context, cases: list[tuple[pd.Series, str]], else_: str | None) -> pd.Series:
    """First case whose condition is true wins (null is not true); otherwise ``else_``."""
    out = np.full(len(ctx.index), else_, dtype=object)
    done = np.zeros(len(ctx.index), dtype=bool)
    for cond, label in cases:
        hit = _true(cond).to_numpy() & ~done
        out[hit] = label
        done |= hit
    return pd.Series(out, index=ctx.index, dtype=object)


def spark_substr(s: str, pos: int, length: int) -> str:
    """Spark ``substr(str, pos, len)`` (1-based; negative pos counts from the end)."""
    n = len(s)
    start = pos - 1 if pos > 0 else (n + pos if pos < 0 else 0)
    end = start + length
    start = max(start, 0)
    if start >= end:
        return ""
    return s[start : min(end, n)]


def spark_months_between(d1: dt.date, d2: dt.date) -> float:
    """Spark ``months_between(d1, d2)`` for dates: whole months when the days of month are equal
    or both are month ends, otherwise month difference + day difference / 31, rounded to 8
    digits (half up)."""
    months = (d1.year * 12 + d1.month) - (d2.year * 12 + d2.month)
    end1 = d1.day == calendar.monthrange(d1.year, d1.month)[1]
    end2 = d2.day == calendar.monthrange(d2.year, d2.month)[1]
    if d1.day == d2.day or (end1 and end2):
        return float(months)
    diff = months + (d1.day - d2.day) * 86400 / (31 * 86400)
    return math.floor(diff * 1e8 + 0.5) / 1e8


def user_col(ctx: Context, col: str) -> pd.Series:
    return ctx.users[col]


def coalesce(s: pd.Series, value: Any) -> pd.Series:
    return s.where(s.notna(), value)


# ---------------------------------------------------------------------------------------------
# The oracle: one function per tag
# ---------------------------------------------------------------------------------------------
ORACLE: dict[str, Callable[[Context], pd.Series]] = {}


def oracle(fn: Callable[[Context], pd.Series]) -> Callable[[Context], pd.Series]:
    ORACLE[fn.__name__] = fn
    return fn


def completed(r: pd.DataFrame) -> pd.Series:
    return r["status"] == "completed"


def event_is(kind: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda r: r["event_type"] == kind


# ---- basic ----------------------------------------------------------------------------------
@oracle
def gender(ctx: Context) -> pd.Series:
    return as_str(coalesce(user_col(ctx, "gender"), "unknown"))


@oracle
def age(ctx: Context) -> pd.Series:
    vals = [
        None if b is None else math.floor(spark_months_between(ctx.d, b) / 12)
        for b in user_col(ctx, "birthday")
    ]
    return pd.Series(pd.array(vals, dtype="Int64"), index=ctx.index)


@oracle
def age_band(ctx: Context) -> pd.Series:
    a = ctx.v("age")
    return rule(
        ctx,
        [
            (a < 18, "<18"),
            (a < 25, "18-24"),
            (a < 35, "25-34"),
            (a < 45, "35-44"),
            (a < 55, "45-54"),
            (a >= 55, "55+"),
        ],
        "unknown",
    )


@oracle
def birthday_today(ctx: Context) -> pd.Series:
    d = ctx.d
    return as_bool(
        pd.Series(
            [
                b is not None and b.month == d.month and b.day == d.day
                for b in user_col(ctx, "birthday")
            ],
            index=ctx.index,
        )
    )


@oracle
def birthday_this_month(ctx: Context) -> pd.Series:
    return as_bool(
        pd.Series(
            [b is not None and b.month == ctx.d.month for b in user_col(ctx, "birthday")],
            index=ctx.index,
        )
    )


@oracle
def city(ctx: Context) -> pd.Series:
    return as_str(user_col(ctx, "city"))


@oracle
def city_tier(ctx: Context) -> pd.Series:
    return as_str(coalesce(user_col(ctx, "city_tier"), "unknown"))


@oracle
def registration_channel(ctx: Context) -> pd.Series:
    return as_str(user_col(ctx, "registration_channel"))


@oracle
def registration_date(ctx: Context) -> pd.Series:
    return as_date(pd.Series([t.date() for t in user_col(ctx, "registered_at")], index=ctx.index))


@oracle
def days_since_registration(ctx: Context) -> pd.Series:
    return as_int(ctx.days_ago(user_col(ctx, "registered_at")))


@oracle
def member_level(ctx: Context) -> pd.Series:
    return as_str(coalesce(user_col(ctx, "member_level"), "none"))


@oracle
def phone_masked(ctx: Context) -> pd.Series:
    return as_str(
        pd.Series(
            [
                None if p is None else spark_substr(p, 1, 3) + "****" + spark_substr(p, -4, 4)
                for p in user_col(ctx, "phone")
            ],
            index=ctx.index,
        )
    )


@oracle
def email_domain(ctx: Context) -> pd.Series:
    return as_str(
        pd.Series(
            [None if e is None else e.split("@")[-1].lower() for e in user_col(ctx, "email")],
            index=ctx.index,
        )
    )


@oracle
def phone_verified(ctx: Context) -> pd.Series:
    return as_bool(coalesce(user_col(ctx, "phone_verified"), False))


# ---- behavior -------------------------------------------------------------------------------
@oracle
def app_opens_7d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "events", "7d", event_is("app_open"))


@oracle
def sessions_30d(ctx: Context) -> pd.Series:
    return agg_count_distinct(ctx, "events", "session_id", "30d")


@oracle
def active_days_30d(ctx: Context) -> pd.Series:
    r = ctx.rows("events", "30d")
    days = r["event_ts"].dt.date
    n = days.groupby(r[UID]).nunique()
    return as_int(n.reindex(ctx.index, fill_value=0))


@oracle
def days_since_last_visit(ctx: Context) -> pd.Series:
    return agg_days_since_last(ctx, "events", "all")


@oracle
def activity_level(ctx: Context) -> pd.Series:
    a = ctx.v("active_days_30d")
    return rule(
        ctx,
        [
            (a >= 20, "daily"),
            (a >= 4, "weekly"),
            (a >= 1, "monthly"),
            (ctx.v("days_since_last_visit").notna(), "dormant"),
        ],
        "never",
    )


@oracle
def page_views_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "events", "30d", event_is("page_view"))


@oracle
def searches_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "events", "30d", event_is("search"))


@oracle
def add_to_cart_7d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "events", "7d", event_is("add_to_cart"))


@oracle
def browse_no_buy_7d(ctx: Context) -> pd.Series:
    return as_bool((ctx.v("add_to_cart_7d") > 0) & (ctx.v("orders_7d") == 0))


@oracle
def browsed_categories_30d(ctx: Context) -> pd.Series:
    return as_list(
        agg_distinct_values(
            ctx,
            "events",
            "category",
            "30d",
            lambda r: r["event_type"].isin(["page_view", "add_to_cart"]),
        )
    )


@oracle
def last_viewed_category(ctx: Context) -> pd.Series:
    return as_str(agg_last(ctx, "events", "category", "30d", event_is("page_view")))


@oracle
def favorites_365d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "events", "365d", event_is("favorite"))


@oracle
def shares_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "events", "90d", event_is("share"))


@oracle
def preferred_platform_90d(ctx: Context) -> pd.Series:
    return as_str(agg_mode(ctx, "events", "platform", "90d"))


@oracle
def first_seen_platform(ctx: Context) -> pd.Series:
    return as_str(agg_first(ctx, "events", "platform", "all"))


# ---- consumption ----------------------------------------------------------------------------
@oracle
def orders_7d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "7d", completed)


@oracle
def orders_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "30d", completed)


@oracle
def orders_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "90d", completed)


@oracle
def orders_365d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "365d", completed)


@oracle
def completed_orders_all(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "all", completed)


@oracle
def is_repeat_buyer(ctx: Context) -> pd.Series:
    return as_bool(ctx.v("completed_orders_all") >= 2)


@oracle
def first_order_date(ctx: Context) -> pd.Series:
    return as_date(agg_min(ctx, "orders", "order_ts", "all", completed))


@oracle
def days_since_last_order(ctx: Context) -> pd.Series:
    return agg_days_since_last(ctx, "orders", "all", completed)


@oracle
def gmv_30d(ctx: Context) -> pd.Series:
    return as_float(agg_sum(ctx, "orders", "amount", "30d", completed).fillna(0.0))


@oracle
def gmv_90d(ctx: Context) -> pd.Series:
    return as_float(agg_sum(ctx, "orders", "amount", "90d", completed))


@oracle
def gmv_365d(ctx: Context) -> pd.Series:
    return as_float(agg_sum(ctx, "orders", "amount", "365d", completed).fillna(0.0))


@oracle
def aov_90d(ctx: Context) -> pd.Series:
    return as_float(divide(ctx.v("gmv_90d"), ctx.v("orders_90d")))


@oracle
def avg_order_amount_365d(ctx: Context) -> pd.Series:
    return as_float(agg_avg(ctx, "orders", "amount", "365d", completed))


@oracle
def max_order_amount_365d(ctx: Context) -> pd.Series:
    return as_float(agg_max(ctx, "orders", "amount", "365d", completed))


@oracle
def min_order_amount_365d(ctx: Context) -> pd.Series:
    return as_float(agg_min(ctx, "orders", "amount", "365d", completed))


@oracle
def total_discount_365d(ctx: Context) -> pd.Series:
    return as_float(agg_sum(ctx, "orders", "discount_amount", "365d", completed).fillna(0.0))


@oracle
def preferred_channel_365d(ctx: Context) -> pd.Series:
    return as_str(agg_mode(ctx, "orders", "channel", "365d", completed))


@oracle
def first_order_channel(ctx: Context) -> pd.Series:
    return as_str(agg_first(ctx, "orders", "channel", "all", completed))


@oracle
def preferred_payment_method(ctx: Context) -> pd.Series:
    return as_str(agg_mode(ctx, "orders", "payment_method", "all"))


@oracle
def last_payment_method_90d(ctx: Context) -> pd.Series:
    return as_str(agg_last(ctx, "orders", "payment_method", "90d", completed))


@oracle
def items_purchased_90d(ctx: Context) -> pd.Series:
    return as_int(agg_sum(ctx, "order_items", "quantity", "90d", completed).fillna(0))


@oracle
def distinct_categories_365d(ctx: Context) -> pd.Series:
    return agg_count_distinct(ctx, "order_items", "category", "365d", completed)


@oracle
def purchased_categories_90d(ctx: Context) -> pd.Series:
    return as_list(agg_distinct_values(ctx, "order_items", "category", "90d", completed))


@oracle
def top_category_share_90d(ctx: Context) -> pd.Series:
    r = ctx.rows("order_items", "90d", lambda x: completed(x) & x["category"].notna())
    c = r.groupby([UID, "category"]).size()
    g = c.groupby(level=0)
    share = (g.max().astype("float64") / g.sum().astype("float64")).reindex(ctx.index)
    return as_float(round_half_up(share, 4))


@oracle
def value_tier(ctx: Context) -> pd.Series:
    g = ctx.v("gmv_365d")
    return rule(
        ctx,
        [
            (g >= 10000, "vip"),
            (g >= 3000, "high"),
            (g >= 500, "medium"),
            (g > 0, "low"),
        ],
        "none",
    )


@oracle
def rfm_segment(ctx: Context) -> pd.Series:
    r = ctx.v("days_since_last_order")
    f = ctx.v("orders_365d")
    m = ctx.v("gmv_365d")
    return rule(
        ctx,
        [
            (r.isna(), "no_purchase"),
            ((r <= 30) & (f >= 5) & (m >= 3000), "champion"),
            ((r <= 90) & (f >= 3), "loyal"),
            (r <= 90, "potential"),
            ((r <= 180) & (f >= 2), "at_risk"),
            (r <= 365, "hibernating"),
        ],
        "lost",
    )


@oracle
def is_vip_legacy(ctx: Context) -> pd.Series:
    return as_bool(ctx.v("gmv_365d") >= 10000)


# ---- marketing ------------------------------------------------------------------------------
@oracle
def marketing_opt_in(ctx: Context) -> pd.Series:
    return as_bool(coalesce(user_col(ctx, "marketing_opt_in"), False))


@oracle
def touches_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "marketing_touches", "30d")


@oracle
def sms_touches_7d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "marketing_touches", "7d", lambda r: r["channel"] == "sms")


@oracle
def campaigns_reached_90d(ctx: Context) -> pd.Series:
    return agg_count_distinct(ctx, "marketing_touches", "campaign_id", "90d")


@oracle
def days_since_last_touch(ctx: Context) -> pd.Series:
    return agg_days_since_last(ctx, "marketing_touches", "all")


@oracle
def last_touch_channel(ctx: Context) -> pd.Series:
    return as_str(agg_last(ctx, "marketing_touches", "channel", "30d"))


@oracle
def touches_opened_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "marketing_touches", "30d", lambda r: r["opened"] == True)  # noqa: E712


@oracle
def touches_clicked_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "marketing_touches", "30d", lambda r: r["clicked"] == True)  # noqa: E712


@oracle
def open_rate_30d(ctx: Context) -> pd.Series:
    return as_float(round_half_up(divide(ctx.v("touches_opened_30d"), ctx.v("touches_30d")), 4))


@oracle
def click_rate_30d(ctx: Context) -> pd.Series:
    return as_float(round_half_up(divide(ctx.v("touches_clicked_30d"), ctx.v("touches_30d")), 4))


@oracle
def coupons_received_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "marketing_touches", "90d", column="coupon_id")


@oracle
def coupon_orders_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "90d", lambda r: completed(r) & r["coupon_id"].notna())


@oracle
def coupon_usage_rate_90d(ctx: Context) -> pd.Series:
    return as_float(round_half_up(divide(ctx.v("coupon_orders_90d"), ctx.v("orders_90d")), 4))


@oracle
def coupon_sensitivity(ctx: Context) -> pd.Series:
    rate = ctx.v("coupon_usage_rate_90d")
    return rule(
        ctx,
        [
            (rate >= 0.5, "high"),
            (rate >= 0.2, "medium"),
            (ctx.v("orders_90d") > 0, "low"),
        ],
        "none",
    )


@oracle
def is_new_user(ctx: Context) -> pd.Series:
    return as_bool((ctx.v("days_since_registration") < 7) & (ctx.v("completed_orders_all") == 0))


@oracle
def lifecycle_stage(ctx: Context) -> pd.Series:
    reg = ctx.v("days_since_registration")
    order = ctx.v("days_since_last_order")
    visit = ctx.v("days_since_last_visit")
    return rule(
        ctx,
        [
            (reg < 30, "new"),
            ((order <= 30) | (visit <= 7), "active"),
            ((order <= 90) | (visit <= 30), "silent"),
            ((order <= 180) | (visit <= 90), "churn_warning"),
        ],
        "churned",
    )


@oracle
def winback_target(ctx: Context) -> pd.Series:
    stage = sql_in(ctx.v("lifecycle_stage"), ["churn_warning", "churned"])
    return as_bool(stage & ctx.v("marketing_opt_in") & ~ctx.v("is_test_account"))


# ---- service --------------------------------------------------------------------------------
@oracle
def tickets_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "service_tickets", "90d")


@oracle
def delivery_tickets_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "service_tickets", "90d", lambda r: r["category"] == "delivery")


@oracle
def open_tickets(ctx: Context) -> pd.Series:
    return agg_count(
        ctx, "service_tickets", "all", lambda r: r["status"].isin(["open", "escalated"])
    )


@oracle
def days_since_last_ticket(ctx: Context) -> pd.Series:
    return agg_days_since_last(ctx, "service_tickets", "all")


@oracle
def top_ticket_category_365d(ctx: Context) -> pd.Series:
    return as_str(agg_mode(ctx, "service_tickets", "category", "365d"))


@oracle
def ticket_categories_90d(ctx: Context) -> pd.Series:
    return as_list(agg_distinct_values(ctx, "service_tickets", "category", "90d"))


def _complaint(r: pd.DataFrame) -> pd.Series:
    return r["is_complaint"] == True  # noqa: E712


@oracle
def complaints_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "service_tickets", "90d", _complaint)


@oracle
def complaints_365d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "service_tickets", "365d", _complaint)


@oracle
def avg_satisfaction_365d(ctx: Context) -> pd.Series:
    return as_float(agg_avg(ctx, "service_tickets", "satisfaction", "365d"))


@oracle
def min_satisfaction_90d(ctx: Context) -> pd.Series:
    return as_int(agg_min(ctx, "service_tickets", "satisfaction", "90d"))


@oracle
def last_satisfaction(ctx: Context) -> pd.Series:
    return as_int(agg_last(ctx, "service_tickets", "satisfaction", "all"))


@oracle
def satisfaction_level(ctx: Context) -> pd.Series:
    s = ctx.v("avg_satisfaction_365d")
    return rule(
        ctx,
        [
            (s >= 4, "satisfied"),
            (s >= 3, "neutral"),
            (s.notna(), "dissatisfied"),
        ],
        "unrated",
    )


@oracle
def needs_apology_care(ctx: Context) -> pd.Series:
    return as_bool((ctx.v("complaints_90d") > 0) & (ctx.v("min_satisfaction_90d") <= 2))


# ---- risk -----------------------------------------------------------------------------------
@oracle
def is_test_account(ctx: Context) -> pd.Series:
    return as_bool(coalesce(user_col(ctx, "is_test_account"), False))


@oracle
def paid_orders_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "90d", lambda r: r["status"].isin(["completed", "refunded"]))


@oracle
def refund_orders_90d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "90d", lambda r: r["status"] == "refunded")


@oracle
def refund_rate_90d(ctx: Context) -> pd.Series:
    return as_float(round_half_up(divide(ctx.v("refund_orders_90d"), ctx.v("paid_orders_90d")), 4))


@oracle
def high_refund_risk(ctx: Context) -> pd.Series:
    return as_bool((ctx.v("refund_rate_90d") >= 0.3) & (ctx.v("refund_orders_90d") >= 2))


@oracle
def cancelled_orders_30d(ctx: Context) -> pd.Series:
    return agg_count(ctx, "orders", "30d", lambda r: r["status"] == "cancelled")


@oracle
def max_orders_per_day_30d(ctx: Context) -> pd.Series:
    r = ctx.rows("orders", "30d")
    per_day = r.groupby([r[UID], r["order_ts"].dt.date]).size()
    top = per_day.groupby(level=0).max()
    return as_int(top.reindex(ctx.index, fill_value=0))


@oracle
def payment_methods_365d(ctx: Context) -> pd.Series:
    return as_list(agg_distinct_values(ctx, "orders", "payment_method", "365d"))


@oracle
def frequent_complainer(ctx: Context) -> pd.Series:
    return as_bool(ctx.v("complaints_365d") >= 2)


@oracle
def risk_level(ctx: Context) -> pd.Series:
    c90 = ctx.v("complaints_90d")
    return rule(
        ctx,
        [
            (ctx.v("is_test_account"), "test"),
            (ctx.v("high_refund_risk") | (c90 >= 2), "high"),
            (
                (ctx.v("refund_rate_90d") >= 0.1)
                | (c90 >= 1)
                | (ctx.v("cancelled_orders_30d") >= 3),
                "medium",
            ),
        ],
        "low",
    )


# ---------------------------------------------------------------------------------------------
# Catalogue and profile
# ---------------------------------------------------------------------------------------------
def catalogue(tags_dir: Path = TAGS_DIR) -> list[dict[str, Any]]:
    """All tags of the YAML catalogue, in file order."""
    tags: list[dict[str, Any]] = []
    for f in sorted(Path(tags_dir).glob("*.yaml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        tags.extend(doc.get("tags") or [])
    return tags


def built_tags(tags_dir: Path = TAGS_DIR) -> list[str]:
    """Names of the tags that are built (lifecycle active or deprecated)."""
    return [t["name"] for t in catalogue(tags_dir) if t.get("lifecycle", "active") != "draft"]


def compute_profile(
    sources: dict[str, pd.DataFrame],
    snapshot_date: dt.date,
    tags: list[str] | None = None,
) -> pd.DataFrame:
    """The profile of snapshot D: index ``user_id`` (the population), one column per built tag."""
    names = built_tags() if tags is None else tags
    missing = [n for n in names if n not in ORACLE]
    if missing:
        raise KeyError(f"no oracle function for tags: {missing}")
    ctx = Context(sources, snapshot_date)
    profile = pd.DataFrame({n: ctx.tag(n) for n in names}, index=ctx.index)
    profile.index.name = UID
    return profile
