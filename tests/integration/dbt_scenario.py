"""The data set of the dbt integration tests: the generator's days plus hand-written
scenario files whose right answers are known (late, redelivered and identifying events,
consents), and the layers the tests build. Shared by ``test_dbt.py`` and
``test_backfill.py``."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path

START = dt.date(2026, 10, 1)
DAYS = 5
LAST = START + dt.timedelta(days=DAYS - 1)
ALL_DAYS = [START + dt.timedelta(days=i) for i in range(DAYS)]

# Marts compared between the two builds (all of them), and the intermediate tables whose
# contents must agree too (processing metadata columns, prefixed "_", left out).
MARTS = [
    "customers",
    "orders",
    "products",
    "sessions",
    "customer_rfm",
    "customer_lifecycle",
    "customer_flags",
    "user_item_interactions",
    "user_item_events",
    "customer_features",
]
INTERMEDIATE = [
    "int_events_stitched",
    "int_identity_evidence_collected",
    "int_identity_graph",
    "int_customer_events_totalled",
    "int_customer_events_aggregated",
    "int_order_events_unnested",
]

# The layers this project builds before the ML jobs (audiences are built after them).
SELECT = "resource_type:seed staging intermediate marts.core marts.segmentation marts.ml"

ANON = "anon-scenario-1"
NEWSLETTER_ANON = "anon-scenario-2"
REDELIVERED_ANON = "anon-scenario-3"
# visitors whose day-1 activity a redelivery of day 2 moves (see write_scenario)
MOVED_LATER_ANON = "anon-scenario-4"
MOVED_AWAY_ANON = "anon-scenario-5"
MOVED_TO_ANON = "anon-scenario-6"
TURNED_IDENTIFY_ANON = "anon-scenario-7"
SHOPPER = "S0000001"
READER = "S0000002"
REDELIVERED = "S0000003"


# --------------------------------------------------------------------------- data


def _event(message_id: str, timestamp: str, *, received: str | None = None, **fields) -> dict:
    e = {
        "messageId": message_id,
        "type": "track",
        "anonymousId": ANON,
        "timestamp": timestamp,
        "receivedAt": received or timestamp,
        "context": {
            "page": {"url": "https://shop.tailor.example/p/scenario", "path": "/p/scenario"},
            "device": {"type": "mobile"},
            "timezone": "Europe/Berlin",
            "ip": "203.0.113.77",
        },
    }
    e.update(fields)
    return e


def _write_ndjson(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def write_scenario(landing: Path) -> None:
    """Hand-written records with known answers, next to the generated files."""
    day = {i + 1: (START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)}

    customers = landing / "customers" / f"dt={day[1]}" / "zz_scenario.csv"
    with open(customers, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "customer_id",
                "email",
                "first_name",
                "last_name",
                "gender",
                "birth_date",
                "country",
                "city",
                "timezone",
                "phone",
                "created_at",
                "updated_at",
            ]
        )
        w.writerow(
            [
                SHOPPER,
                "  Scenario.Shopper@Example.COM ",
                "Sam",
                "Shopper",
                "F",
                "1990-05-01",
                "DE",
                "Berlin",
                "Europe/Berlin",
                "",
                "2024-01-01T10:00:00Z",
                "2024-01-01T10:00:00Z",
            ]
        )
        w.writerow(
            [
                READER,
                "news.reader@example.com",
                "Nina",
                "Reader",
                "f",
                "1985-03-03",
                "NL",
                "Utrecht",
                "Europe/Amsterdam",
                "",
                "2024-02-01T10:00:00Z",
                "2024-02-01T10:00:00Z",
            ]
        )

    def consent(cid: str, purpose: str, granted: bool, at: str) -> dict:
        return {
            "consent_id": cid,
            "subject_id": SHOPPER,
            "purpose": purpose,
            "granted": granted,
            "consented_at": at,
            "source": "scenario",
        }

    _write_ndjson(
        landing / "consents" / f"dt={day[1]}" / "zz_scenario.ndjson.gz",
        [consent("SC1", "email_marketing", True, f"{day[1]}T09:00:00Z")],
    )
    _write_ndjson(
        landing / "consents" / f"dt={day[3]}" / "zz_scenario.ndjson.gz",
        [
            consent("SC2", "email_marketing", False, f"{day[3]}T09:00:00Z"),
            consent("SC3", "personalization", True, f"{day[3]}T09:05:00Z"),
        ],
    )
    # arrives last but was given earlier than the withdrawal: the withdrawal still wins
    _write_ndjson(
        landing / "consents" / f"dt={day[5]}" / "zz_scenario.ndjson.gz",
        [consent("SC4", "email_marketing", True, f"{day[2]}T09:00:00Z")],
    )

    # Day 1, anonymous: a gap of exactly 30 minutes (same session), then 30 min 1 s (new
    # session). The second event carries a +02:00 offset and an unknown product.
    _write_ndjson(
        landing / "events" / f"dt={day[1]}" / "zz_scenario.ndjson.gz",
        [
            _event("sc-e1", f"{day[1]}T10:00:00Z", type="page", name="Home"),
            _event(
                "sc-e2",
                f"{day[1]}T12:30:00+02:00",
                event="Product Viewed",
                properties={"product_id": "P-DOES-NOT-EXIST", "price": 10.0},
            ),
            _event(
                "sc-e3",
                f"{day[1]}T11:00:01Z",
                event="Product Viewed",
                properties={"product_id": "P000001", "price": 10.0},
            ),
            _event(
                "sc-e4",
                f"{day[1]}T11:05:00Z",
                event="Product Added",
                properties={"product_id": "P000001", "price": 10.0, "quantity": 1},
            ),
        ],
    )
    # Day 2: sc-e3 redelivered (later receivedAt); a newsletter sign-up identifies another
    # visitor by email only (different case and spacing than the CRM).
    _write_ndjson(
        landing / "events" / f"dt={day[2]}" / "zz_scenario.ndjson.gz",
        [
            _event(
                "sc-e3",
                f"{day[1]}T11:00:01Z",
                received=f"{day[2]}T00:10:00Z",
                event="Product Viewed",
                properties={"product_id": "P000001", "price": 10.0},
            ),
            _event(
                "sc-n1",
                f"{day[2]}T18:00:00Z",
                anonymousId=NEWSLETTER_ANON,
                type="page",
                name="Blog",
            ),
            _event(
                "sc-n2",
                f"{day[2]}T18:01:00Z",
                anonymousId=NEWSLETTER_ANON,
                type="identify",
                traits={"email": " NEWS.Reader@example.com"},
            ),
        ],
    )
    # Day 3: the anonymous visitor logs in, and day 1's sc-e1 is redelivered the same day:
    # the night that re-attributes it also rebuilds it from its new delivery (once).
    _write_ndjson(
        landing / "events" / f"dt={day[3]}" / "zz_scenario.ndjson.gz",
        [
            _event(
                "sc-e1",
                f"{day[1]}T10:00:00Z",
                received=f"{day[3]}T07:00:00Z",
                type="page",
                name="Home",
            ),
            _event(
                "sc-e5",
                f"{day[3]}T08:00:00Z",
                type="identify",
                userId=SHOPPER,
                traits={"email": "scenario.shopper@example.com"},
            ),
            _event("sc-e6", f"{day[3]}T08:01:00Z", type="page", userId=SHOPPER, name="Account"),
        ],
    )
    # Day 5: an event of day 1 arrives four days late (beyond the 3-day lookback). It
    # falls 15 minutes after sc-e4, so it joins day 1's second session.
    _write_ndjson(
        landing / "events" / f"dt={day[5]}" / "zz_scenario.ndjson.gz",
        [
            _event(
                "sc-e7",
                f"{day[1]}T11:20:00Z",
                received=f"{day[5]}T06:00:00Z",
                event="Product Viewed",
                properties={"product_id": "P000002", "price": 12.0},
            ),
        ],
    )

    # Redelivered across days, each redelivery received earlier than a delivery before it,
    # which therefore stays the event's content: a nightly run must find the earlier deliveries
    # of the day's events however many days back (on the landing days int_events_stitched
    # records for them), for the identity evidence, the stitched events and the order lines
    # alike. sc-r1 is a product view naming the customer on day 2, delivered without the
    # userId on days 1, 3 and 5 (on night 5 its stored first and last landing days are 1
    # and 3: the day between counts too); sc-r2 an order whose redelivery of day 4 lists
    # other products.
    def redelivered(received: str, **fields) -> dict:
        view = {"event": "Product Viewed", "properties": {"product_id": "P000003", "price": 5.0}}
        return _event("sc-r1", f"{day[1]}T20:00:00Z", received=received, **view, **fields)

    def order(received: str, product_id: str, price: float, quantity: int) -> dict:
        total = price * quantity
        properties = {"order_id": "SC-R2", "total": total, "revenue": total, "currency": "EUR"}
        line = {"product_id": product_id, "price": price, "quantity": quantity}
        return _event(
            "sc-r2",
            f"{day[2]}T09:00:00Z",
            received=received,
            event="Order Completed",
            userId=REDELIVERED,
            properties={**properties, "products": [line]},
        )

    for n, records in {
        1: [redelivered(f"{day[1]}T21:00:00Z")],
        2: [
            redelivered(f"{day[1]}T23:00:00Z", userId=REDELIVERED),
            order(f"{day[2]}T12:00:00Z", "P000001", 10.0, 1),
        ],
        3: [redelivered(f"{day[1]}T22:00:00Z")],
        4: [order(f"{day[2]}T11:00:00Z", "P000002", 12.0, 5)],
        5: [redelivered(f"{day[1]}T20:00:00Z")],
    }.items():
        _write_ndjson(
            landing / "events" / f"dt={day[n]}" / "zz_scenario_redelivered.ndjson.gz",
            [{**r, "anonymousId": REDELIVERED_ANON} for r in records],
        )

    # Redeliveries (later receivedAt, so their content wins) that take an event out of the
    # session day 1 built for it: night 2 must rebuild that session too, not only where the
    # event is now. sc-m1 moves four hours later (its visitor's 09:00 session is gone);
    # sc-m2, its visitor's only event, moves to another visitor (who is left with no
    # session); sc-m4 becomes an identify call (no activity: the 12:00 session is gone,
    # the 08:00 one stays).
    def moved(message_id: str, anonymous_id: str, at: str, **fields) -> dict:
        view = {"event": "Product Viewed", "properties": {"product_id": "P000004", "price": 7.0}}
        return _event(message_id, at, anonymousId=anonymous_id, **{**view, **fields})

    late = f"{day[2]}T05:00:00Z"
    _write_ndjson(
        landing / "events" / f"dt={day[1]}" / "zz_scenario_moved.ndjson.gz",
        [
            moved("sc-m1", MOVED_LATER_ANON, f"{day[1]}T09:00:00Z"),
            moved("sc-m2", MOVED_AWAY_ANON, f"{day[1]}T11:00:00Z"),
            moved("sc-m3", TURNED_IDENTIFY_ANON, f"{day[1]}T08:00:00Z"),
            moved("sc-m4", TURNED_IDENTIFY_ANON, f"{day[1]}T12:00:00Z"),
        ],
    )
    _write_ndjson(
        landing / "events" / f"dt={day[2]}" / "zz_scenario_moved.ndjson.gz",
        [
            moved("sc-m1", MOVED_LATER_ANON, f"{day[1]}T13:00:00Z", receivedAt=late),
            moved("sc-m2", MOVED_TO_ANON, f"{day[1]}T11:00:00Z", receivedAt=late),
            _event(
                "sc-m4",
                f"{day[1]}T12:00:00Z",
                received=late,
                anonymousId=TURNED_IDENTIFY_ANON,
                type="identify",
                traits={"plan": "trial"},
            ),
        ],
    )
