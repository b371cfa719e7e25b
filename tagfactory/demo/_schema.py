"""Physical layout of the six demo sources (mirrors ``tag_definitions/sources/*.yaml``).

Enum value lists are copied verbatim from the YAML declarations; the unit tests check that the
written files match those declarations column by column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

# --- enum value lists (order matters: rows store the index into these tuples) ---------------
REGISTRATION_CHANNELS = ("app", "web", "mini_program", "offline_store", "referral")
GENDERS = ("female", "male", "unknown")
CITY_TIERS = ("tier1", "new_tier1", "tier2", "tier3_plus")
MEMBER_LEVELS = ("none", "silver", "gold", "platinum")
ORDER_STATUSES = ("completed", "cancelled", "refunded", "pending")
ORDER_CHANNELS = ("app", "web", "mini_program", "offline_store")
PAYMENT_METHODS = ("alipay", "wechat_pay", "card", "cod")
CATEGORIES = ("apparel", "beauty", "electronics", "grocery", "home", "books", "sports", "toys")
EVENT_TYPES = ("app_open", "page_view", "search", "add_to_cart", "favorite", "share")
PAGES = ("home", "category", "product", "cart", "checkout", "campaign", "search")
PLATFORMS = ("ios", "android", "web", "mini_program")
TOUCH_CHANNELS = ("sms", "push", "email", "in_app")
TICKET_CATEGORIES = ("delivery", "refund", "quality", "account", "payment", "other")
TICKET_STATUSES = ("open", "resolved", "escalated")

#: Static lookup tables, keyed by the name :class:`Column` refers to.
ENUM_TABLES: dict[str, tuple[str, ...]] = {
    "registration_channel": REGISTRATION_CHANNELS,
    "gender": GENDERS,
    "city_tier": CITY_TIERS,
    "member_level": MEMBER_LEVELS,
    "order_status": ORDER_STATUSES,
    "order_channel": ORDER_CHANNELS,
    "payment_method": PAYMENT_METHODS,
    "category": CATEGORIES,
    "event_type": EVENT_TYPES,
    "page": PAGES,
    "platform": PLATFORMS,
    "touch_channel": TOUCH_CHANNELS,
    "ticket_category": TICKET_CATEGORIES,
    "ticket_status": TICKET_STATUSES,
}

ColumnKind = Literal["lookup", "id", "rowid", "timestamp", "double", "integer", "boolean", "date"]

TIMESTAMP = pa.timestamp("us", tz="UTC")
_ARROW_TYPES: dict[str, pa.DataType] = {
    "lookup": pa.string(),
    "id": pa.string(),
    "rowid": pa.string(),
    "timestamp": TIMESTAMP,
    "double": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}


@dataclass(frozen=True)
class Column:
    """One output column and how its compact numpy form is encoded.

    Attributes:
        name: Column name in the parquet file (and key in the row dict).
        kind: ``lookup`` (int codes into a string table, negative = null), ``id`` (integers
            rendered as ``prefix`` + zero-padded digits, negative = null), ``rowid`` (like ``id``
            but numbered by the writer in output order), or a plain value kind.
        table: Lookup table name for ``lookup`` columns.
        prefix: Id prefix for ``id``/``rowid`` columns.
        width: Minimum number of digits for ``id``/``rowid`` columns.
        few_values: Dictionary-encode the column in parquet (lookups always are).
    """

    name: str
    kind: ColumnKind
    table: str = ""
    prefix: str = ""
    width: int = 0
    few_values: bool = False

    @property
    def dictionary_encoded(self) -> bool:
        """Whether parquet should dictionary-encode this column (low cardinality strings)."""
        return self.kind == "lookup" or self.few_values

    @property
    def arrow_type(self) -> pa.DataType:
        """Arrow type written to parquet."""
        return _ARROW_TYPES[self.kind]


@dataclass(frozen=True)
class SourceLayout:
    """A source as written on disk.

    Attributes:
        name: Source (and folder) name.
        time_column: Column whose UTC date is the ``dt`` partition.
        partitioned: Whether the source is written in ``dt=YYYY-MM-DD`` folders.
        columns: Columns in file order (``dt`` excluded: it lives in the path).
    """

    name: str
    time_column: str
    partitioned: bool
    columns: tuple[Column, ...]

    def arrow_schema(self) -> pa.Schema:
        """The parquet schema of every file of this source."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])


def _lookup(name: str, table: str | None = None) -> Column:
    return Column(name, "lookup", table=table or name)


USER_ID = _lookup("user_id")

USERS = SourceLayout("users", "registered_at", False, (
    USER_ID,
    Column("registered_at", "timestamp"),
    _lookup("registration_channel"),
    _lookup("gender"),
    Column("birthday", "date"),
    _lookup("city"),
    _lookup("city_tier"),
    _lookup("member_level"),
    Column("phone", "id", width=11),
    _lookup("email"),
    Column("phone_verified", "boolean"),
    Column("marketing_opt_in", "boolean"),
    Column("is_test_account", "boolean"),
))

ORDERS = SourceLayout("orders", "order_ts", True, (
    Column("order_id", "id", prefix="o", width=10),
    USER_ID,
    Column("order_ts", "timestamp"),
    _lookup("status", "order_status"),
    Column("amount", "double"),
    Column("discount_amount", "double"),
    _lookup("channel", "order_channel"),
    _lookup("coupon_id"),
    _lookup("payment_method"),
    Column("item_count", "integer"),
))

ORDER_ITEMS = SourceLayout("order_items", "order_ts", True, (
    Column("order_id", "id", prefix="o", width=10),
    USER_ID,
    Column("order_ts", "timestamp"),
    Column("item_id", "id", prefix="sku", width=6, few_values=True),
    _lookup("category"),
    Column("quantity", "integer"),
    Column("price", "double"),
    _lookup("status", "order_status"),
))

EVENTS = SourceLayout("events", "event_ts", True, (
    Column("event_id", "rowid", prefix="ev", width=10),
    USER_ID,
    Column("event_ts", "timestamp"),
    _lookup("event_type"),
    _lookup("page"),
    Column("item_id", "id", prefix="sku", width=6, few_values=True),
    _lookup("category"),
    _lookup("platform"),
    Column("session_id", "id", prefix="s", width=10),
))

MARKETING_TOUCHES = SourceLayout("marketing_touches", "touch_ts", True, (
    Column("touch_id", "rowid", prefix="mt", width=10),
    USER_ID,
    Column("touch_ts", "timestamp"),
    _lookup("channel", "touch_channel"),
    _lookup("campaign_id"),
    _lookup("coupon_id"),
    Column("opened", "boolean"),
    Column("clicked", "boolean"),
))

SERVICE_TICKETS = SourceLayout("service_tickets", "created_ts", True, (
    Column("ticket_id", "rowid", prefix="tk", width=8),
    USER_ID,
    Column("created_ts", "timestamp"),
    _lookup("category", "ticket_category"),
    _lookup("status", "ticket_status"),
    Column("satisfaction", "integer"),
    Column("is_complaint", "boolean"),
))

#: All sources, in the order they are generated.
LAYOUTS: tuple[SourceLayout, ...] = (
    USERS, ORDERS, ORDER_ITEMS, SERVICE_TICKETS, EVENTS, MARKETING_TOUCHES,
)
