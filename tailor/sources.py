"""The landing-zone contract: which sources exist, in which format, with which fields.

The generator writes these files, adapters for real exports produce the same shapes, and
the loader reads them into ``raw.<table>``. Each landing file lives at::

    <landing>/<source>/dt=YYYY-MM-DD/<file>

One folder per source and logical day. A day's folder may hold several files; loading a
day replaces every row that came from that source and day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Columns every raw table carries besides its own.
META_COLUMNS: dict[str, str] = {
    "_dt": "DATE",  # the landing partition (logical day) the record arrived in
    "_batch_id": "VARCHAR",  # deterministic: same files in, same batch id
    "_source_file": "VARCHAR",  # path relative to the landing zone (or the adapter's file)
    "_line": "BIGINT",  # physical line in the file (NDJSON; CSV, where the header is line 1) or row number (Parquet), 1-based
    "_loaded_at": "TIMESTAMP",
}


@dataclass(frozen=True)
class Source:
    name: str
    format: str  # ndjson | csv | parquet
    columns: dict[str, str]  # raw column -> DuckDB type (as stored in raw.<name>)
    required: tuple[str, ...]  # a record missing any of these is quarantined
    key: tuple[str, ...]  # natural key (staging deduplicates on it)
    positive: tuple[str, ...] = ()  # numeric columns that must be > 0
    nonnegative: tuple[str, ...] = ()  # numeric columns that must be >= 0 (0: free)
    timestamps: tuple[str, ...] = ()  # must parse as ISO-8601 (offset allowed)
    description: str = ""
    file_glob: str = field(default="*")

    @property
    def table(self) -> str:
        return f"raw.{self.name}"


# Top-level Segment fields the events table keeps as columns; anything else that arrives
# at the top level (schema drift) is kept in the `extra` JSON column.
EVENT_FIELDS: dict[str, str] = {
    "messageId": "message_id",
    "type": "type",
    "event": "event",
    "name": "name",
    "anonymousId": "anonymous_id",
    "userId": "user_id",
    "timestamp": "event_timestamp",
    "sentAt": "sent_at",
    "receivedAt": "received_at",
    "properties": "properties",
    "traits": "traits",
    "context": "context",
}

EVENT_TYPES = ("track", "page", "identify", "screen", "alias", "group")

# Segment e-commerce spec names the generator emits (others are accepted as-is).
ECOMMERCE_EVENTS = (
    "Products Searched",
    "Product List Viewed",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Order Completed",
    "Signed In",
    "Signed Up",
)

# The Segment e-commerce spec (v2), as Segment and RudderStack send it. The order events
# carry their lines in properties.products[]; dbt unnests them into orders and order lines
# when the backend has no record of the order. Any other event name is kept as-is.
SEGMENT_ECOMMERCE_SPEC = (
    # browsing
    "Products Searched",
    "Product List Viewed",
    "Product List Filtered",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Shared",
    "Product Reviewed",
    # cart and wishlist
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Cart Shared",
    "Product Added to Wishlist",
    "Product Removed from Wishlist",
    "Wishlist Product Added to Cart",
    # checkout and coupons
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Coupon Entered",
    "Coupon Applied",
    "Coupon Denied",
    "Coupon Removed",
    # orders
    "Order Completed",
    "Order Updated",
    "Order Refunded",
    "Order Cancelled",
    # accounts
    "Signed In",
    "Signed Up",
)
ORDER_EVENTS = ("Order Completed", "Order Updated", "Order Refunded", "Order Cancelled")

# The landing-zone contract as a table: per source its format and description, then one
# row per raw column: the column, its DuckDB type (as stored in raw.<source>) and its roles:
#   required   a record missing it is quarantined
#   key        part of the natural key, in column order (staging deduplicates on it)
#   positive   a number that must be > 0
#   nonnegative  a number that must be >= 0 (an order line at 0 is a free item: a sample,
#              a gift, a 100 % voucher; it is loaded and counts as bought, without spend)
#   timestamp  must parse as ISO-8601 (an offset allowed)
# Text after `#` is a comment.
_CONTRACT: dict[str, tuple[str, str, str]] = {
    "events": (
        "ndjson",
        "Segment-spec behavioural events (track, page, identify), NDJSON.gz",
        """
        message_id       VARCHAR        required key
        type             VARCHAR        required
        event            VARCHAR
        name             VARCHAR
        anonymous_id     VARCHAR
        user_id          VARCHAR
        event_timestamp  VARCHAR        required timestamp  # as delivered, with its UTC offset
        sent_at          VARCHAR
        received_at      VARCHAR        timestamp
        properties       JSON
        traits           JSON
        context          JSON
        extra            JSON           # unknown top-level fields (schema drift), never dropped
        """,
    ),
    "customers": (
        "csv",
        "CRM export: new and changed customers of the day",
        """
        customer_id      VARCHAR        required key
        email            VARCHAR
        first_name       VARCHAR
        last_name        VARCHAR
        gender           VARCHAR
        birth_date       DATE
        country          VARCHAR
        city             VARCHAR
        timezone         VARCHAR
        phone            VARCHAR
        created_at       VARCHAR        timestamp
        updated_at       VARCHAR        required timestamp
        """,
    ),
    "orders": (
        "csv",
        "Shop backend orders",
        """
        order_id         VARCHAR        required key
        customer_id      VARCHAR
        ordered_at       VARCHAR        required timestamp
        status           VARCHAR
        currency         VARCHAR
        subtotal         DECIMAL(18,2)
        discount         DECIMAL(18,2)
        shipping         DECIMAL(18,2)
        total            DECIMAL(18,2)
        coupon_code      VARCHAR
        channel          VARCHAR
        country          VARCHAR
        updated_at       VARCHAR        timestamp
        """,
    ),
    "order_items": (
        "csv",
        "Shop backend order lines",
        """
        order_id         VARCHAR        required key
        line_number      INTEGER        required key
        product_id       VARCHAR        required
        title            VARCHAR
        quantity         INTEGER        required
        unit_price       DECIMAL(18,2)  required nonnegative
        discount         DECIMAL(18,2)
        currency         VARCHAR
        """,
    ),
    "products": (
        "parquet",
        "Product catalog: new and changed products of the day",
        """
        product_id       VARCHAR        required key
        title            VARCHAR        required
        description      VARCHAR
        category_path    VARCHAR        # "Home > Kitchen > Cookware"
        brand            VARCHAR
        price            DECIMAL(18,2)  required positive
        currency         VARCHAR
        is_active        BOOLEAN
        created_at       VARCHAR
        updated_at       VARCHAR        required timestamp
        """,
    ),
    "consents": (
        "ndjson",
        "Consent grants and withdrawals per subject and purpose",
        """
        consent_id       VARCHAR        required key
        subject_id       VARCHAR        required  # the customer_id the consent belongs to
        purpose          VARCHAR        required  # email_marketing | personalization | analytics | sms_marketing
        granted          BOOLEAN        required
        consented_at     VARCHAR        required timestamp
        source           VARCHAR
        """,
    ),
    "erasure_requests": (
        "csv",
        "Right-to-be-forgotten requests",
        """
        request_id       VARCHAR        required key
        customer_id      VARCHAR
        email            VARCHAR
        requested_at     VARCHAR        required timestamp
        """,
    ),
}

_ROLES = ("required", "key", "positive", "nonnegative", "timestamp")


def _source(name: str, fmt: str, description: str, table: str) -> Source:
    """A :class:`Source` from its rows of ``column type role...``."""
    columns: dict[str, str] = {}
    roles: dict[str, list[str]] = {role: [] for role in _ROLES}
    for line in table.splitlines():
        words = line.split("#")[0].split()
        if not words:
            continue
        column, duckdb_type, *marks = words
        columns[column] = duckdb_type
        for role in marks:
            if role not in roles:
                raise ValueError(f"source {name}, column {column}: unknown role {role!r}")
            roles[role].append(column)
    return Source(
        name=name,
        format=fmt,
        columns=columns,
        required=tuple(roles["required"]),
        key=tuple(roles["key"]),
        positive=tuple(roles["positive"]),
        nonnegative=tuple(roles["nonnegative"]),
        timestamps=tuple(roles["timestamp"]),
        description=description,
    )


SOURCES: dict[str, Source] = {
    name: _source(name, fmt, description, table)
    for name, (fmt, description, table) in _CONTRACT.items()
}

CONSENT_PURPOSES = ("email_marketing", "sms_marketing", "personalization", "analytics")

# Load order inside one day: reference data first.
LOAD_ORDER = (
    "products",
    "customers",
    "consents",
    "orders",
    "order_items",
    "events",
    "erasure_requests",
)
