"""Landing files the way Segment's (or RudderStack's) warehouse export writes them."""

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
