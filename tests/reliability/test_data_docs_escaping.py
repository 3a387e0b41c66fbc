"""Values from data shown in the Great Expectations Data Docs are text, never markup.

A failing gate lists sample failing values (and failing rows) in its validation page. Here
the samples are script tags and event-handler attributes delivered in ids, event types and
event names; every page of the Data Docs site is parsed and must hold them only as text.
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest

from tests.reliability.segment import product_views, write_events

pytestmark = pytest.mark.reliability

DAY = dt.date(2026, 10, 14)
MARK = "alert(1)"
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)>",
]


class _Page(HTMLParser):
    """What a browser would run or show: script bodies, event handlers, text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_script = False
        self.executable: list[str] = []  # script bodies and handler values holding MARK
        self.elements: list[str] = []  # elements a planted value would have created
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.in_script = True
        if tag == "svg" or (tag == "img" and dict(attrs).get("src") == "x"):
            self.elements.append(f"<{tag} {attrs}>")
        for name, value in attrs:
            # GX's own pages have handlers (onclick=...); only a planted one carries MARK
            if MARK in (value or ""):
                self.executable.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and MARK in data:
            self.executable.append(data)
        elif not self.in_script:
            self.text.append(data)


def _write_events(landing) -> None:
    """A Segment-style day: ordinary track calls and a few whose fields carry markup."""
    lines = product_views(DAY, 30)
    stamp = lines[0]["timestamp"]
    for value in HOSTILE:
        common = {"timestamp": stamp, "receivedAt": stamp, "properties": {"price": 1}}
        # an id, a user id and an event type the gates reject: their values are samples
        lines.append(
            {**common, "messageId": value, "type": value, "anonymousId": value, "userId": value}
        )
        # a track call without an event name: the gate lists the whole row
        lines.append({**common, "messageId": value, "type": "track", "event": " ", "userId": "u1"})
    write_events(landing, DAY, lines)


def test_failure_samples_in_data_docs_are_escaped(tailor_env):
    from expectations.runner import ValidationFailed, validate_layer
    from tailor import ingest
    from tailor.warehouse import connect

    s = tailor_env
    _write_events(s.landing)
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, DAY)
    finally:
        con.close()

    with pytest.raises(ValidationFailed) as failed:
        validate_layer("raw", DAY, s)
    # the gate saw the values as they are (the run's message and results keep them)
    assert HOSTILE[0] in str(failed.value)

    pages = sorted((s.reports / "data_docs").rglob("*.html"))
    validation_pages = [p for p in pages if "validations" in p.parts]
    assert validation_pages, "no validation page was written"
    shown = ""
    for page in pages:
        parser = _Page()
        parser.feed(page.read_text())
        parser.close()
        rel = page.relative_to(s.reports)
        assert parser.executable == [], f"{rel}: data became code: {parser.executable[:3]}"
        assert parser.elements == [], f"{rel}: data became elements: {parser.elements[:3]}"
        shown += "\n".join(parser.text)
    # and the samples are still there to read, as text
    for value in HOSTILE:
        assert value in shown
