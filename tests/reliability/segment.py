"""Landing files the way Segment's (or RudderStack's) warehouse export writes them, and
the CRM's customers CSV beside them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any


def product_views(day: dt.date, n: int, tag: str = "ajs") -> list[dict[str, Any]]:
    """``n`` ordinary analytics.js ``Product Viewed`` track calls on ``day``."""
    stamp = f"{day}T09:30:00.000Z"
    return [
        {
            "messageId": f"{tag}-{i:04d}",
            "type": "track",
            "event": "Product Viewed",
            "anonymousId": f"anon-{i}",
            "timestamp": stamp,
            "sentAt": stamp,
            "receivedAt": stamp,
            "context": {"library": {"name": "analytics.js", "version": "4.1.0"}},
            "properties": {"product_id": "P000001", "price": 19.9},
        }
        for i in range(n)
    ]


def write_events(landing: Path, day: dt.date, events: list[dict[str, Any]]) -> Path:
    """The day's events partition as one NDJSON file."""
    folder = landing / "events" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def write_customers(landing: Path, day: dt.date, people: list[tuple[str, str, str]]) -> Path:
    """The day's CRM customers partition: (customer_id, email, first_name) per person, all
    in Germany, created and updated on 2026-01-01."""
    folder = landing / "customers" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "customers.csv"
    stamp = "2026-01-01T00:00:00Z"
    path.write_text(
        "customer_id,email,first_name,country,created_at,updated_at\n"
        + "".join(f"{c},{e},{n},DE,{stamp},{stamp}\n" for c, e, n in people)
    )
    return path
