"""Erasure of a person who shared a family device with another customer: their own events
on it go (logged in, and the anonymous ones of their sessions), the other customer's stay,
and every record left behind is reported and audited with its reason."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tailor import ingest
from tailor.privacy import erasure
from tailor.warehouse import connect
from tests.reliability.segment import write_customers, write_events

pytestmark = pytest.mark.reliability

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)


def _ev(mid, anon, user, at, kind="page", email=None):
    e = {
        "messageId": mid,
        "type": kind,
        "anonymousId": anon,
        "userId": user,
        "timestamp": f"2026-10-01T{at}:00.000Z",
        "receivedAt": f"2026-10-01T{at}:01.000Z",
        "properties": {"path": "/p/1"},
        "context": {"locale": "de-DE", "userAgent": "Mozilla/5.0 (iPad; CPU OS 17_0)"},
    }
    if kind == "page":
        e["name"] = "Product"
    if kind == "track":
        e["event"] = "Product Viewed"
    if email:
        e["traits"] = {"email": email}
    return e


EVENTS = [
    # the family tablet: Ann browses, logs in, browses on after logging out
    _ev("e01", "fam", None, "10:00"),
    _ev("e02", "fam", "C1", "10:02", "identify", "ann@x.com"),
    _ev("e03", "fam", "C1", "10:05", "track"),
    _ev("e04", "fam", None, "10:20"),
    # Bob's session on it
    _ev("e05", "fam", None, "12:00"),
    _ev("e06", "fam", "C2", "12:03", "identify", "bob@x.com"),
    # both log in within one session
    _ev("e07", "fam", None, "15:00"),
    _ev("e08", "fam", "C1", "15:05", "track"),
    _ev("e09", "fam", "C2", "15:10", "track"),
    # nobody logs in; the identity graph gives the tablet to Ann (her link came first)
    _ev("e10", "fam", None, "18:00"),
    # Ann's phone and Bob's laptop
    _ev("e11", "ann-phone", None, "09:00"),
    _ev("e12", "ann-phone", "C1", "09:01", "identify", "ann@x.com"),
    _ev("e13", "bob-pc", "C2", "20:00", "track"),
]
KEPT = {"e05", "e06", "e07", "e09", "e13"}


@pytest.fixture
def family(tailor_env, monkeypatch):
    monkeypatch.delenv("TAILOR_PRIVACY_KEY", raising=False)
    s = tailor_env
    write_events(s.landing, D1, EVENTS)
    write_customers(s.landing, D1, [("C1", "ann@x.com", "Ann"), ("C2", "bob@x.com", "Bob")])
    con = connect(s.warehouse, settings=s)
    ingest.load_day(con, s.landing, D1)
    # what dbt builds from them: stitched events (graph: the tablet is Ann's, her link was
    # first) and sessions (30 minutes of inactivity)
    con.execute("create schema if not exists intermediate")
    con.execute("create schema if not exists marts")
    con.execute(
        """
        create table intermediate.int_events_stitched as
        select message_id, anonymous_id, user_id, anonymous_id as visitor_id,
               coalesce(user_id, case when anonymous_id = 'fam' then 'C1'
                                      when anonymous_id = 'ann-phone' then 'C1' else 'C2' end)
                   as customer_id,
               timezone('UTC', event_timestamp::timestamptz) as event_at
        from raw.events
        """
    )
    con.execute(
        """
        create table marts.sessions as select * from (values
            ('s1', 'fam', 'C1', timestamp '2026-10-01 10:00', timestamp '2026-10-01 10:20'),
            ('s2', 'fam', 'C2', timestamp '2026-10-01 12:00', timestamp '2026-10-01 12:03'),
            ('s3', 'fam', 'C2', timestamp '2026-10-01 15:00', timestamp '2026-10-01 15:10'),
            ('s4', 'fam', 'C1', timestamp '2026-10-01 18:00', timestamp '2026-10-01 18:00'),
            ('s5', 'bob-pc', 'C2', timestamp '2026-10-01 20:00', timestamp '2026-10-01 20:00')
        ) t(session_id, visitor_id, customer_id, started_at, ended_at)
        """
    )
    yield s, con
    con.close()


def test_an_erased_person_leaves_a_shared_device_with_only_reported_records(family):
    s, con = family
    result = erasure.erase(con, settings=s, customer_id="C1", day=D2)
    assert result.status == "applied"

    left = {r[0] for r in con.execute("select message_id from raw.events").fetchall()}
    assert left == KEPT
    landing = (s.landing / "events" / f"dt={D1}" / "events.ndjson").read_text()
    assert {json.loads(line)["messageId"] for line in landing.splitlines()} == KEPT
    stitched = con.execute(
        "select message_id, customer_id from intermediate.int_events_stitched order by 1"
    ).fetchall()
    assert all(c != "C1" for _, c in stitched)
    assert {m for m, _ in stitched} <= KEPT
    sessions = {r[0] for r in con.execute("select session_id from marts.sessions").fetchall()}
    assert sessions == {"s2", "s5"}  # s3 aggregated Ann's event e08: rebuilt from what is left

    # The tablet's id was skipped (Bob uses it), and the result says so, with reasons for
    # each anonymous event left on it.
    assert result.identity.counts()["anonymous_id"] == 1  # ann-phone
    assert result.identity.counts()["shared_anonymous_ids_skipped"] == 1
    (device,) = result.detail["shared_devices"]
    assert device["skipped_id"] == "anonymous_id"
    assert device["events_erased"] == 3  # e01, e04, e10
    assert device["events_kept"] == {"mixed_session": 1, "other_customers_session": 1}
    assert set(device["why_kept"]) == {"mixed_session", "other_customers_session"}

    # The audit records the same, without the device id itself.
    (detail, identifiers) = con.execute(
        "select detail, identifiers from ops.erasure_audit where audit_id = ?", [result.audit_id]
    ).fetchone()
    audited = json.loads(detail)["shared_devices"][0]
    assert audited["events_kept"] == device["events_kept"]
    assert audited["device"] != "fam" and "fam" not in detail
    assert json.loads(identifiers)["shared_anonymous_ids_skipped"] == 1

    # Erasing Bob afterwards: with Ann gone the tablet names only him, so it goes whole.
    second = erasure.erase(con, settings=s, customer_id="C2", day=D2)
    assert second.status == "applied" and "shared_devices" not in second.detail
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 0
