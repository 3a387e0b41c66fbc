"""The sealed identifiers of erasures waiting for their physical part, when that part is
due, and the ``erasure:`` section of config/tailor.yml."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from tailor.config import ConfigError, parse_config
from tailor.erased import Identity, PrivacyKeyError
from tailor.privacy import pending

pytestmark = pytest.mark.unit

KEY = b"k" * 32
ANN = Identity(
    customer_ids={"C0000101"},
    emails={"ann.lee@example.com"},
    anonymous_ids={"anon-ann-1"},
    order_ids={"O1"},
    event_ids={"e4"},
)


def test_sealed_identifiers_read_back_only_with_the_key():
    data = pending._identity_bytes(ANN)
    blob = pending.seal(data, KEY)
    assert b"ann.lee" not in blob and b"C0000101" not in blob
    assert pending.seal(data, KEY) == blob  # a rerun writes the same bytes
    assert pending._identity(pending.unseal(blob, KEY)) == ANN
    with pytest.raises(PrivacyKeyError):
        pending.unseal(blob, b"x" * 32)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(PrivacyKeyError):
        pending.unseal(tampered, KEY)


def test_the_deadline_counts_from_the_request_and_the_pass_runs_a_night_ahead(monkeypatch):
    monkeypatch.setenv("TAILOR_PRIVACY_KEY", "a-test-key-of-some-length")
    con = duckdb.connect()
    d = dt.date(2026, 10, 2)
    asked = dt.datetime(2026, 9, 30, 23, 0)
    assert pending.received_on(asked, d) == dt.date(2026, 9, 30)
    assert pending.received_on(None, d) == d
    assert pending.received_on(dt.datetime(2027, 1, 1), d) == d  # a date to come: the day
    assert pending.due(con, d) is False  # nothing pending
    due_on = pending.record(con, "a1", ANN, pending.received_on(asked, d), 7)
    assert due_on == dt.date(2026, 10, 7)
    assert pending.due(con, dt.date(2026, 10, 5)) is False
    assert pending.due(con, dt.date(2026, 10, 6)) is True  # one night ahead
    assert pending.due(con, dt.date(2026, 10, 20)) is True  # overdue
    assert pending.record(con, "a1", ANN, d, 7) == dt.date(2026, 10, 9)  # a rerun replaces
    [p] = pending.pending(con)
    assert (p.audit_id, p.due_on, p.identity) == ("a1", dt.date(2026, 10, 9), ANN)


def test_the_erasure_section_is_checked():
    cfg = parse_config({"erasure": {"physical_deadline_days": 3, "landing_retention_days": None}})
    assert (cfg.erasure.physical_deadline_days, cfg.erasure.landing_retention_days) == (3, None)
    assert parse_config({}).erasure.physical_deadline_days == 7
    assert parse_config({}).erasure.landing_retention_days == 90
    for bad, message in [
        ({"physical_deadline_days": 0}, "erasure.physical_deadline_days: must be at least 1"),
        ({"physical_deadline_days": 45}, "at most 30"),
        ({"physical_deadline_days": "7d"}, "expected a whole number"),
        ({"landing_retention_days": 0}, "erasure.landing_retention_days: must be at least 1"),
        ({"retention": 5}, "erasure.retention: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config({"erasure": bad})
