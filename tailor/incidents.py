"""Incidents the generator can inject into its landing files, with their ground truth.

An incident is what breaks in production on one day and what the anomaly detection
(``tailor.anomalies``) must flag on that day, on the metric and dimension it names:

=====================  =========================================================  ===============================
kind                   what happens on the day (``magnitude``, default 0.5)       flagged as (metric, dimension)
=====================  =========================================================  ===============================
mobile_outage          the tracking snippet breaks on phones: that share of the   events, device=mobile
                       day's mobile events never arrive
bot_spike              a crawler adds page views: that many times the day's page  events, type=page
                       views, from a few anonymous ids that never identify
broken_price_feed      the price feed sends 0: that share of the day's priced     quarantine_rate,
                       events carry ``price: 0`` (the loader quarantines them)    reason=events:non_positive_price
consent_banner_bug     the banner records a withdrawal of personalization         consent_withdrawals,
                       consent for that share of the customers known by then      purpose=personalization
=====================  =========================================================  ===============================

``tailor generate --incident KIND:YYYY-MM-DD[:MAGNITUDE]`` (repeatable) injects them; they
are listed in ``<ground_truth>/incidents.csv`` (kind, dt, metric, dimension,
dimension_value, magnitude, records) and in ``manifest.json``, like the dirt. Records
touched by an incident are left out of ``dirt.csv`` when they would no longer be what the
dirt says (a dropped line), and every later line of the file is renumbered.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from dataclasses import dataclass

import numpy as np
import orjson

INCIDENT_KINDS = {
    # kind: (metric, dimension, dimension value)
    "mobile_outage": ("events", "device", "mobile"),
    "bot_spike": ("events", "type", "page"),
    "broken_price_feed": ("quarantine_rate", "reason", "events:non_positive_price"),
    "consent_banner_bug": ("consent_withdrawals", "purpose", "personalization"),
}
EVENT_INCIDENTS = ("mobile_outage", "bot_spike", "broken_price_feed")
DEFAULT_MAGNITUDE = 0.5
INCIDENTS_HEADER = ["kind", "dt", "metric", "dimension", "dimension_value", "magnitude", "records"]
BOT_USER_AGENT = "Mozilla/5.0 (compatible; PriceScraper/2.1; +http://scraper.invalid/bot)"


@dataclass(frozen=True)
class Incident:
    kind: str
    day: dt.date
    magnitude: float = DEFAULT_MAGNITUDE

    @property
    def expected(self) -> tuple[str, str, str]:
        """The (metric, dimension, dimension value) the detection must flag on ``day``."""
        return INCIDENT_KINDS[self.kind]


def parse_incident(text: str) -> Incident:
    """``KIND:YYYY-MM-DD[:MAGNITUDE]`` as an ``Incident``; a ValueError says what is wrong."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"{text!r}: expected KIND:YYYY-MM-DD[:MAGNITUDE]")
    kind = parts[0]
    if kind not in INCIDENT_KINDS:
        raise ValueError(f"{text!r}: unknown incident {kind!r}; known: {', '.join(INCIDENT_KINDS)}")
    try:
        day = dt.date.fromisoformat(parts[1])
    except ValueError:
        raise ValueError(f"{text!r}: {parts[1]!r} is not a date (YYYY-MM-DD)") from None
    magnitude = DEFAULT_MAGNITUDE
    if len(parts) == 3:
        try:
            magnitude = float(parts[2])
        except ValueError:
            raise ValueError(f"{text!r}: magnitude {parts[2]!r} is not a number") from None
    limit = 100.0 if kind == "bot_spike" else 1.0
    if not 0 < magnitude <= limit:
        raise ValueError(f"{text!r}: magnitude must be in (0, {limit:g}] for {kind}")
    return Incident(kind, day, magnitude)


def check_window(incidents: tuple[Incident, ...], start: dt.date, days: int) -> None:
    end = start + dt.timedelta(days=days - 1)
    for inc in incidents:
        if not start <= inc.day <= end:
            raise ValueError(
                f"incident {inc.kind} on {inc.day} is outside the window {start}..{end}"
            )


def _rng(seed: int, inc: Incident) -> np.random.Generator:
    keys = [seed, zlib.crc32(f"incident:{inc.kind}".encode()), inc.day.toordinal()]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(keys)))


def _uuid(rng: np.random.Generator) -> str:
    raw = bytearray(rng.integers(0, 256, size=16, dtype=np.uint8).tobytes())
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _parse(line: bytes) -> dict | None:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _device(rec: dict) -> str | None:
    ctx = rec.get("context")
    device = ctx.get("device") if isinstance(ctx, dict) else None
    return device.get("type") if isinstance(device, dict) else None


def apply_to_events(
    lines: list[bytes], inc: Incident, seed: int, dirty_lines: set[int]
) -> tuple[list[bytes], list[int | None], int]:
    """The day's event lines after the incident: (new lines, for each old 1-based line its
    new line number or None if dropped, records affected). Dirty lines are left alone."""
    rng = _rng(seed, inc)
    keep: list[bytes] = []
    mapping: list[int | None] = []
    affected = 0
    u = rng.random(len(lines))
    for i, line in enumerate(lines):
        rec = None if (i + 1) in dirty_lines else _parse(line)
        dropped = inc.kind == "mobile_outage" and rec is not None and _device(rec) == "mobile"
        if dropped and u[i] < inc.magnitude:
            mapping.append(None)
            affected += 1
            continue
        if inc.kind == "broken_price_feed" and rec is not None:
            props = rec.get("properties")
            price = props.get("price") if isinstance(props, dict) else None
            if isinstance(price, int | float) and price > 0 and u[i] < inc.magnitude:
                props["price"] = 0
                line = orjson.dumps(rec)
                affected += 1
        keep.append(line)
        mapping.append(len(keep))
    if inc.kind == "bot_spike":
        bots = _bot_page_views(lines, inc, rng)
        keep.extend(bots)
        affected = len(bots)
    return keep, mapping, affected


def _bot_page_views(lines: list[bytes], inc: Incident, rng: np.random.Generator) -> list[bytes]:
    pages = sum(1 for line in lines if b'"type":"page"' in line)
    n = int(round(pages * inc.magnitude))
    if n == 0:
        return []
    bots = [_uuid(rng) for _ in range(3)]
    start = dt.datetime(inc.day.year, inc.day.month, inc.day.day)
    offsets = np.sort(rng.integers(0, 86_400_000, size=n))
    products = rng.integers(1, 800, size=n)
    out = []
    for k in range(n):
        at = (start + dt.timedelta(milliseconds=int(offsets[k]))).isoformat(timespec="milliseconds")
        path = f"/p/p{int(products[k]):06d}"
        page = {
            "path": path,
            "referrer": "",
            "title": "Tailor Shop",
            "url": f"https://shop.tailor.example{path}",
        }
        rec = {
            "messageId": _uuid(rng),
            "type": "page",
            "name": "Product",
            "anonymousId": bots[k % len(bots)],
            "userId": None,
            "timestamp": at + "Z",
            "sentAt": at + "Z",
            "receivedAt": at + "Z",
            "properties": page,
            "context": {
                "page": page,
                "device": {"type": "desktop"},
                "userAgent": BOT_USER_AGENT,
                "locale": "en-US",
                "ip": "203.0.113.7",
            },
        }
        out.append(orjson.dumps(rec))
    return out


def rewrite_events_file(
    data: bytes, inc: Incident, seed: int, dirty_lines: set[int], level: int
) -> tuple[bytes, list[int | None], int, int]:
    """A gzip NDJSON events file after the incident: (bytes, line mapping, records written,
    records affected)."""
    text = gzip.decompress(data)
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    new, mapping, affected = apply_to_events(lines, inc, seed, dirty_lines)
    body = b"".join(line + b"\n" for line in new)
    return gzip.compress(body, compresslevel=level, mtime=0), mapping, len(new), affected


def consent_bug_records(
    inc: Incident,
    seed: int,
    subjects: list[str],
    first_id: int,
) -> list[dict]:
    """The withdrawals a broken consent banner records on the incident's day, for a share
    of ``subjects`` (customers known by then who granted personalization)."""
    rng = _rng(seed, inc)
    pick = sorted(
        s for s, u in zip(subjects, rng.random(len(subjects)), strict=True) if u < inc.magnitude
    )
    at = dt.datetime(inc.day.year, inc.day.month, inc.day.day, 9)
    records = []
    for n, subject in enumerate(pick):
        ts = (at + dt.timedelta(seconds=7 * n)).isoformat(timespec="seconds") + "Z"
        records.append(
            {
                "consent_id": f"CS{first_id + n:08d}",
                "subject_id": subject,
                "purpose": "personalization",
                "granted": False,
                "consented_at": ts,
                "source": "cookie_banner",
            }
        )
    return records


def ground_truth_rows(done: list[tuple[Incident, int]]) -> list[list[str]]:
    rows = []
    for inc, records in sorted(done, key=lambda x: (x[0].day, x[0].kind)):
        metric, dim, value = inc.expected
        rows.append(
            [inc.kind, inc.day.isoformat(), metric, dim, value, f"{inc.magnitude:g}", str(records)]
        )
    return rows
