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

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            name="events",
            format="ndjson",
            columns={
                "message_id": "VARCHAR",
                "type": "VARCHAR",
                "event": "VARCHAR",
                "name": "VARCHAR",
                "anonymous_id": "VARCHAR",
                "user_id": "VARCHAR",
                "event_timestamp": "VARCHAR",  # as delivered, with its UTC offset
                "sent_at": "VARCHAR",
                "received_at": "VARCHAR",
                "properties": "JSON",
                "traits": "JSON",
                "context": "JSON",
                "extra": "JSON",  # unknown top-level fields (schema drift), never dropped
            },
            required=("message_id", "type", "event_timestamp"),
            key=("message_id",),
            timestamps=("event_timestamp", "received_at"),
            description="Segment-spec behavioural events (track, page, identify), NDJSON.gz",
        ),
        Source(
            name="customers",
            format="csv",
            columns={
                "customer_id": "VARCHAR",
                "email": "VARCHAR",
                "first_name": "VARCHAR",
                "last_name": "VARCHAR",
                "gender": "VARCHAR",
                "birth_date": "DATE",
                "country": "VARCHAR",
                "city": "VARCHAR",
                "timezone": "VARCHAR",
                "phone": "VARCHAR",
                "created_at": "VARCHAR",
                "updated_at": "VARCHAR",
            },
            required=("customer_id", "updated_at"),
            key=("customer_id",),
            timestamps=("created_at", "updated_at"),
            description="CRM export: new and changed customers of the day",
        ),
        Source(
            name="orders",
            format="csv",
            columns={
                "order_id": "VARCHAR",
                "customer_id": "VARCHAR",
                "ordered_at": "VARCHAR",
                "status": "VARCHAR",
                "currency": "VARCHAR",
                "subtotal": "DECIMAL(18,2)",
                "discount": "DECIMAL(18,2)",
                "shipping": "DECIMAL(18,2)",
                "total": "DECIMAL(18,2)",
                "coupon_code": "VARCHAR",
                "channel": "VARCHAR",
                "country": "VARCHAR",
                "updated_at": "VARCHAR",
            },
            required=("order_id", "ordered_at"),
            key=("order_id",),
            timestamps=("ordered_at", "updated_at"),
            description="Shop backend orders",
        ),
        Source(
            name="order_items",
            format="csv",
            columns={
                "order_id": "VARCHAR",
                "line_number": "INTEGER",
                "product_id": "VARCHAR",
                "title": "VARCHAR",
                "quantity": "INTEGER",
                "unit_price": "DECIMAL(18,2)",
                "discount": "DECIMAL(18,2)",
                "currency": "VARCHAR",
            },
            required=("order_id", "line_number", "product_id", "quantity", "unit_price"),
            key=("order_id", "line_number"),
            positive=("unit_price",),
            description="Shop backend order lines",
        ),
        Source(
            name="products",
            format="parquet",
            columns={
                "product_id": "VARCHAR",
                "title": "VARCHAR",
                "description": "VARCHAR",
                "category_path": "VARCHAR",  # "Home > Kitchen > Cookware"
                "brand": "VARCHAR",
                "price": "DECIMAL(18,2)",
                "currency": "VARCHAR",
                "is_active": "BOOLEAN",
                "created_at": "VARCHAR",
                "updated_at": "VARCHAR",
            },
            required=("product_id", "title", "price", "updated_at"),
            key=("product_id",),
            positive=("price",),
            timestamps=("updated_at",),
            description="Product catalog: new and changed products of the day",
        ),
        Source(
            name="consents",
            format="ndjson",
            columns={
                "consent_id": "VARCHAR",
                "subject_id": "VARCHAR",  # the customer_id the consent belongs to
                "purpose": "VARCHAR",  # email_marketing | personalization | analytics | sms_marketing
                "granted": "BOOLEAN",
                "consented_at": "VARCHAR",
                "source": "VARCHAR",
            },
            required=("consent_id", "subject_id", "purpose", "granted", "consented_at"),
            key=("consent_id",),
            timestamps=("consented_at",),
            description="Consent grants and withdrawals per subject and purpose",
        ),
        Source(
            name="erasure_requests",
            format="csv",
            columns={
                "request_id": "VARCHAR",
                "customer_id": "VARCHAR",
                "email": "VARCHAR",
                "requested_at": "VARCHAR",
            },
            required=("request_id", "requested_at"),
            key=("request_id",),
            timestamps=("requested_at",),
            description="Right-to-be-forgotten requests",
        ),
    ]
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
