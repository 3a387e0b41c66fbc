"""Incidents injected by the generator: what they break, and their ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tailor.incidents import Incident, parse_incident
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.synthetic.manifest import MANIFEST

pytestmark = pytest.mark.unit

CONFIG = GeneratorConfig(customers=300, products=80, days=5, seed=11, dirt=DirtConfig().scaled(5))
START = CONFIG.start
OUTAGE, BOTS, PRICES, BANNER = (START + dt.timedelta(days=k) for k in (1, 2, 3, 4))
INCIDENTS = (
    Incident("mobile_outage", OUTAGE, 0.5),
    Incident("bot_spike", BOTS, 1.0),
    Incident("broken_price_feed", PRICES, 0.5),
    Incident("consent_banner_bug", BANNER, 0.2),
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, incidents in (("clean", ()), ("broken", INCIDENTS)):
        root = tmp_path_factory.mktemp(name)
        generate(CONFIG, root / "landing", root / "truth", incidents=incidents)
        out[name] = root
    return out


def _lines(root: Path, source: str, day: dt.date) -> list[bytes]:
    path = root / "landing" / source / f"dt={day}" / f"{source}.ndjson.gz"
    return gzip.decompress(path.read_bytes()).splitlines()


def _records(root: Path, source: str, day: dt.date) -> list[dict]:
    out = []
    for line in _lines(root, source, day):
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return [r for r in out if isinstance(r, dict)]


def _device(r: dict) -> str | None:
    return ((r.get("context") or {}).get("device") or {}).get("type")


def test_parse_incident_says_what_is_wrong():
    assert parse_incident("bot_spike:2026-10-20:2") == Incident(
        "bot_spike", dt.date(2026, 10, 20), 2.0
    )
    assert parse_incident("mobile_outage:2026-10-20").magnitude == 0.5
    for bad, message in (
        ("meteor:2026-10-20", "unknown incident 'meteor'"),
        ("bot_spike:20/10/2026", "is not a date"),
        ("mobile_outage:2026-10-20:lots", "is not a number"),
        ("mobile_outage:2026-10-20:1.5", "magnitude must be in"),
        ("mobile_outage", "expected KIND:YYYY-MM-DD"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_incident(bad)


def test_days_without_an_incident_are_byte_identical(runs):
    clean, broken = runs["clean"] / "landing", runs["broken"] / "landing"
    touched = {("events", d) for d in (OUTAGE, BOTS, PRICES)} | {("consents", BANNER)}
    compared = 0
    for path in sorted(clean.rglob("*.*")):
        rel = path.relative_to(clean)
        if rel.name == MANIFEST:  # the generator's note lists the incidents
            continue
        source, day = rel.parts[0], dt.date.fromisoformat(rel.parts[1][3:])
        if (source, day) in touched:
            assert path.read_bytes() != (broken / rel).read_bytes(), rel
        else:
            assert path.read_bytes() == (broken / rel).read_bytes(), rel
            compared += 1
    assert compared > 20


def test_the_outage_drops_mobile_events_only(runs):
    before = Counter(_device(r) for r in _records(runs["clean"], "events", OUTAGE))
    after = Counter(_device(r) for r in _records(runs["broken"], "events", OUTAGE))
    assert 0.4 < after["mobile"] / before["mobile"] < 0.6
    assert after["desktop"] == before["desktop"] and after["tablet"] == before["tablet"]


def test_dirt_rows_still_point_at_their_dirty_records_after_the_outage(runs):
    rows = list(csv.DictReader((runs["broken"] / "truth" / "dirt.csv").open()))
    lines = _lines(runs["broken"], "events", OUTAGE)
    malformed = [
        int(r["line"])
        for r in rows
        if r["dt"] == str(OUTAGE)
        and r["source"] == "events"
        and r["dirt_class"] == "malformed_json"
    ]
    assert malformed
    for n in malformed:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(lines[n - 1])
    missing = [
        r
        for r in rows
        if r["dt"] == str(OUTAGE)
        and r["source"] == "events"
        and r["message_id"]
        and r["dirt_class"] in ("duplicate", "schema_drift")
    ]
    for r in missing:
        assert r["message_id"].encode() in lines[int(r["line"]) - 1]


def test_the_bot_spike_adds_anonymous_page_views(runs):
    before = _records(runs["clean"], "events", BOTS)
    after = _records(runs["broken"], "events", BOTS)
    pages = sum(r.get("type") == "page" for r in before)
    seen = {r.get("messageId") for r in before}
    bots = [r for r in after if r.get("messageId") not in seen]
    assert len(bots) == pytest.approx(pages, rel=0.05)  # the magnitude: one bot view per page view
    assert all(r["type"] == "page" and r["userId"] is None for r in bots)
    assert len({r["anonymousId"] for r in bots}) <= 3
    assert all(r["timestamp"].startswith(str(BOTS)) for r in bots)


def test_the_broken_price_feed_sends_zero_prices(runs):
    # the feed breaks the magnitude's share of the priced events; dirty records stay as sent
    dirty = {
        int(r["line"])
        for r in csv.DictReader((runs["broken"] / "truth" / "dirt.csv").open())
        if r["dt"] == str(PRICES) and r["source"] == "events"
    }
    after = [
        orjson.loads(line)
        for n, line in enumerate(_lines(runs["broken"], "events", PRICES), start=1)
        if n not in dirty
    ]
    prices = [r["properties"]["price"] for r in after if "price" in (r.get("properties") or {})]
    zero = sum(p == 0 for p in prices)
    assert 0.4 < zero / len(prices) < 0.6


def test_the_banner_bug_withdraws_personalization_and_the_truth_follows(runs):
    bug = [
        r for r in _records(runs["broken"], "consents", BANNER) if r["source"] == "cookie_banner"
    ]
    assert bug and all(r["purpose"] == "personalization" and r["granted"] is False for r in bug)
    ids = [r["consent_id"] for r in _records(runs["broken"], "consents", BANNER)]
    assert len(ids) == len(set(ids))
    truth = {
        (r["customer_id"], r["purpose"]): r
        for r in csv.DictReader((runs["broken"] / "truth" / "consents.csv").open())
    }
    for r in bug:
        assert truth[(r["subject_id"], "personalization")]["granted"] == "false"


def test_incidents_are_listed_in_the_ground_truth(runs):
    rows = list(csv.DictReader((runs["broken"] / "truth" / "incidents.csv").open()))
    assert [
        (r["kind"], r["dt"], r["metric"], r["dimension"], r["dimension_value"]) for r in rows
    ] == [
        ("mobile_outage", str(OUTAGE), "events", "device", "mobile"),
        ("bot_spike", str(BOTS), "events", "type", "page"),
        (
            "broken_price_feed",
            str(PRICES),
            "quarantine_rate",
            "reason",
            "events:non_positive_price",
        ),
        ("consent_banner_bug", str(BANNER), "consent_withdrawals", "purpose", "personalization"),
    ]
    assert all(int(r["records"]) > 0 for r in rows)
    manifest = json.loads((runs["broken"] / "truth" / "manifest.json").read_text())
    assert [m["kind"] for m in manifest["incidents"]] == [r["kind"] for r in rows]
    assert not (runs["clean"] / "truth" / "incidents.csv").exists()
    assert "incidents" not in json.loads((runs["clean"] / "truth" / "manifest.json").read_text())


def test_an_incident_outside_the_window_is_refused(tmp_path):
    late = Incident("bot_spike", START + dt.timedelta(days=30))
    with pytest.raises(ValueError, match="outside the window"):
        generate(CONFIG, tmp_path / "landing", tmp_path / "truth", incidents=(late,))
