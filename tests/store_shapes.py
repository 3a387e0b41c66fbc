"""Small stores of the three shapes, written the way real systems write their files.

* events: Segment / RudderStack track calls as their warehouse and S3 destinations write
  them (one JSON object per line, gzipped): ``messageId``, ``anonymousId``, ``userId``,
  ``timestamp``, ``sentAt``, ``receivedAt``, ``originalTimestamp``, ``context`` (library,
  page, userAgent, ip), ``integrations``, and the e-commerce spec v2 properties with their
  line items in ``properties.products[]``;
* orders: a shop backend's CSV export (orders and order lines, statuses as WooCommerce
  and Shopify word them);
* the CRM export, consents and the Parquet catalog every shape has.

``write_store(landing, shape, days)`` writes one partition per source and day; the content
is a deterministic function of the arguments, so tests can share a store.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SHAPES = ("events-only", "orders-only", "both")
CATEGORIES = ("Home > Kitchen", "Home > Garden", "Sports > Running", "Books > Fiction")


def product_ids(n: int = 24) -> list[str]:
    return [f"SKU-{i:03d}" for i in range(1, n + 1)]


def customer_ids(n: int) -> list[str]:
    return [f"C{i:04d}" for i in range(1, n + 1)]


def _iso(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _partition(landing: Path, source: str, day: dt.date) -> Path:
    path = landing / source / f"dt={day}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_catalog(landing: Path, day: dt.date, products: list[str]) -> None:
    rows = [
        {
            "product_id": p,
            "title": f"Product {p}",
            "description": "",
            "category_path": CATEGORIES[i % len(CATEGORIES)],
            "brand": "Acme",
            "price": 10.0 + i,
            "currency": "EUR",
            "is_active": True,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": f"{day}T00:00:00Z",
        }
        for i, p in enumerate(products)
    ]
    pq.write_table(
        pa.Table.from_pylist(rows), _partition(landing, "products", day) / "products.parquet"
    )


def write_customers(
    landing: Path, day: dt.date, customers: list[str], consenting: set[str]
) -> None:
    with open(_partition(landing, "customers", day) / "customers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "customer_id",
                "email",
                "first_name",
                "last_name",
                "country",
                "created_at",
                "updated_at",
            ]
        )
        for c in customers:
            w.writerow(
                [
                    c,
                    f"{c.lower()}@example.com",
                    "Ann",
                    "Lee",
                    "DE",
                    "2026-01-01T00:00:00Z",
                    f"{day}T01:00:00Z",
                ]
            )
    with open(_partition(landing, "consents", day) / "consents.ndjson", "w") as f:
        for c in customers:
            for purpose in ("personalization", "email_marketing"):
                rec = {
                    "consent_id": f"{c}-{purpose}",
                    "subject_id": c,
                    "purpose": purpose,
                    "granted": c in consenting,
                    "consented_at": f"{day}T00:30:00Z",
                    "source": "signup_form",
                }
                f.write(json.dumps(rec) + "\n")


def _track(
    event: str, customer: str, ts: dt.datetime, properties: dict, n: int, rudder: bool
) -> dict:
    sent = ts + dt.timedelta(seconds=2)
    rec = {
        "type": "track",
        "event": event,
        "messageId": f"{'rudder' if rudder else 'ajs'}-{customer}-{ts:%Y%m%d%H%M%S}-{n}",
        "anonymousId": f"anon-{customer}",
        "userId": customer,
        "timestamp": _iso(ts),
        "originalTimestamp": _iso(ts),
        "sentAt": _iso(sent),
        "receivedAt": _iso(sent + dt.timedelta(milliseconds=350)),
        "properties": properties,
        "context": {
            "library": {
                "name": "RudderLabs JavaScript SDK" if rudder else "analytics.js",
                "version": "3.0.0",
            },
            "page": {
                "path": "/p",
                "url": "https://shop.example.com/p",
                "referrer": "",
                "title": "Shop",
            },
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            "ip": "203.0.113.7",
            "locale": "de-DE",
        },
        "integrations": {"All": True},
    }
    if rudder:
        rec["rudderId"] = f"r-{customer}"
        rec["channel"] = "web"
        rec["request_ip"] = "203.0.113.7"
    return rec


def day_activity(
    day: dt.date, customers: list[str], products: list[str], start: dt.date | None = None
) -> list[dict]:
    """What happens on ``day``: each customer who shops that day views a few products,
    adds some to the cart and orders them. Customers shop at different rates (from about
    once a month to every other day), and one in four stops a week after ``start``."""
    rng = random.Random(day.toordinal())
    out = []
    for i, c in enumerate(customers):
        rate = 0.03 + 0.5 * ((i * 7) % 10) / 10
        churned = start is not None and (day - start).days > 7 and i % 4 == 0
        if rng.random() >= rate or churned:
            continue
        seen = rng.sample(products, 4)
        bought = seen[: rng.randint(1, 2)]
        ts = dt.datetime.combine(day, dt.time(8 + i % 12, rng.randint(0, 59)))
        out.append(
            {
                "customer": c,
                "at": ts,
                "viewed": seen,
                "bought": bought,
                "order_id": f"O-{day:%Y%m%d}-{c}",
                "quantities": [rng.randint(1, 3) for _ in bought],
                "cancelled": rng.random() < 0.08,
                "refunded": rng.random() < 0.08,
            }
        )
    return out


def _price(products: list[str], p: str) -> float:
    return 10.0 + products.index(p)


def write_events(landing: Path, day: dt.date, activity: list[dict], products: list[str]) -> None:
    lines = []
    for k, a in enumerate(activity):
        rudder = k % 2 == 0
        c, ts = a["customer"], a["at"]
        n = 0

        def add(event, props, minutes, c=c, ts=ts, rudder=rudder):
            nonlocal n
            n += 1
            lines.append(_track(event, c, ts + dt.timedelta(minutes=minutes), props, n, rudder))

        add("Products Searched", {"query": "kettle"}, 0)
        add(
            "Product List Viewed",
            {"list_id": "search", "products": [{"product_id": p} for p in a["viewed"]]},
            1,
        )
        for j, p in enumerate(a["viewed"]):
            add(
                "Product Viewed",
                {"product_id": p, "sku": p, "price": _price(products, p), "currency": "EUR"},
                2 + j,
            )
        add("Product Added to Wishlist", {"product_id": a["viewed"][-1], "wishlist_id": "w1"}, 7)
        items = [
            {
                "product_id": p,
                "sku": p,
                "name": f"Product {p}",
                "price": _price(products, p),
                "quantity": q,
                "category": "x",
            }
            for p, q in zip(a["bought"], a["quantities"], strict=True)
        ]
        for j, item in enumerate(items):
            add("Product Added", {**item, "cart_id": f"cart-{c}"}, 8 + j)
        add("Cart Viewed", {"cart_id": f"cart-{c}", "products": items}, 10)
        add(
            "Checkout Started",
            {"order_id": a["order_id"], "value": 1, "currency": "EUR", "products": items},
            11,
        )
        add("Coupon Entered", {"order_id": a["order_id"], "coupon_id": "WELCOME"}, 12)
        add("Payment Info Entered", {"checkout_id": "ch1", "order_id": a["order_id"]}, 13)
        revenue = sum(i["price"] * i["quantity"] for i in items)
        add(
            "Order Completed",
            {
                "checkout_id": "ch1",
                "order_id": a["order_id"],
                "affiliation": "Web",
                "total": revenue + 4.9,
                "revenue": revenue,
                "shipping": 4.9,
                "tax": 0,
                "discount": 0,
                "currency": "EUR",
                "products": items,
            },
            14,
        )
        if a["cancelled"]:
            add(
                "Order Cancelled",
                {"order_id": a["order_id"], "total": revenue + 4.9, "currency": "EUR"},
                30,
            )
        elif a["refunded"]:
            add(
                "Order Refunded",
                {"order_id": a["order_id"], "products": items[:1], "currency": "EUR"},
                40,
            )
        add("Some Custom Event", {"anything": [1, 2]}, 50)
    with gzip.open(_partition(landing, "events", day) / "events.ndjson.gz", "wt") as f:
        for rec in lines:
            f.write(json.dumps(rec) + "\n")


def write_orders(landing: Path, day: dt.date, activity: list[dict], products: list[str]) -> None:
    part = _partition(landing, "orders", day)
    with (
        open(part / "orders.csv", "w", newline="") as fo,
        open(part / "order_items.csv", "w", newline="") as fi,
    ):
        o, i = csv.writer(fo), csv.writer(fi)
        o.writerow(
            [
                "order_id",
                "customer_id",
                "ordered_at",
                "status",
                "currency",
                "subtotal",
                "discount",
                "shipping",
                "total",
                "coupon_code",
                "channel",
                "country",
                "updated_at",
            ]
        )
        i.writerow(
            [
                "order_id",
                "line_number",
                "product_id",
                "title",
                "quantity",
                "unit_price",
                "discount",
                "currency",
            ]
        )
        for a in activity:
            status = (
                "cancelled" if a["cancelled"] else ("refunded" if a["refunded"] else "completed")
            )
            sub = sum(
                _price(products, p) * q for p, q in zip(a["bought"], a["quantities"], strict=True)
            )
            at = a["at"] + dt.timedelta(minutes=14)
            o.writerow(
                [
                    a["order_id"],
                    a["customer"],
                    at.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                    status,
                    "EUR",
                    f"{sub:.2f}",
                    "0.00",
                    "4.90",
                    f"{sub + 4.9:.2f}",
                    "",
                    "web",
                    "DE",
                    at.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                ]
            )
            for n, (p, q) in enumerate(zip(a["bought"], a["quantities"], strict=True), start=1):
                i.writerow(
                    [
                        a["order_id"],
                        n,
                        p,
                        f"Product {p}",
                        q,
                        f"{_price(products, p):.2f}",
                        "0.00",
                        "EUR",
                    ]
                )
    # the backend writes its lines to their own source folder
    items = _partition(landing, "order_items", day)
    (part / "order_items.csv").replace(items / "order_items.csv")


def write_store(
    landing: Path, shape: str, days: list[dt.date], customers: int = 30, consent_share: float = 0.8
) -> None:
    """Write ``days`` of a store of ``shape`` (events-only, orders-only or both) to ``landing``."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    prods, people = product_ids(), customer_ids(customers)
    consenting = set(people[: int(len(people) * consent_share)])
    for n, day in enumerate(days):
        if n == 0:
            write_catalog(landing, day, prods)
            write_customers(landing, day, people, consenting)
        activity = day_activity(day, people, prods, start=days[0])
        if shape in ("events-only", "both"):
            write_events(landing, day, activity, prods)
        if shape in ("orders-only", "both"):
            write_orders(landing, day, activity, prods)
