"""A night's people are resolved together (the event history read once): each gets exactly
the identifiers they get alone, on devices they share with each other too."""

from __future__ import annotations

import datetime as dt

import pytest

from tailor import ingest
from tailor.privacy.identity import resolve_identities, resolve_identity
from tailor.warehouse import connect
from tests.reliability.segment import write_customers, write_events

pytestmark = pytest.mark.unit

D1 = dt.date(2026, 10, 1)


def _ev(mid, anon, user, at, kind="page", traits=None, context_traits=None):
    """An event as Segment writes it; ``context_traits``: the traits Segment copies into
    the context of a track or page call after an identify."""
    context = {"locale": "de-DE", **({"traits": context_traits} if context_traits else {})}
    stamp = f"2026-10-01T{at}:00.000Z"
    fields = dict(messageId=mid, type=kind, anonymousId=anon, userId=user, timestamp=stamp)
    return {
        **fields,
        "receivedAt": stamp,
        "context": context,
        **({"traits": traits} if traits else {}),
    }


EVENTS = [
    # a family tablet used by Ann and Bob, both asking to be erased the same night
    _ev("e01", "fam", None, "10:00"),
    _ev("e02", "fam", "C1", "10:02", "identify", {"email": "ann@x.com"}),
    _ev("e03", "fam", None, "10:20"),
    _ev("e04", "fam", None, "12:00"),
    _ev("e05", "fam", "C2", "12:03", "identify", {"email": "Bob@X.com"}),
    _ev("e06", "fam", None, "18:00"),
    # Ann's phone
    _ev("e07", "ann-phone", None, "09:00"),
    _ev("e08", "ann-phone", "C1", "09:01", "track"),
    # Cy's phone names her only by the email in the context's traits
    _ev("e09", "cy-phone", None, "11:00", "track", context_traits={"email": " CY@x.com "}),
    _ev("e10", "cy-phone", None, "11:05"),
    # Dee, not asking, on a device of her own
    _ev("e11", "dee-pc", "C4", "13:00", "identify", {"email": "dee@x.com"}),
    # Eoin's email has a quote in it (a valid address), his phone only its identify trait
    _ev("e12", "eoin-phone", None, "14:00", "identify", {"email": "Eoin.O'Brien@x.com"}),
]


@pytest.fixture
def con(tailor_env):
    s = tailor_env
    write_events(s.landing, D1, EVENTS)
    write_customers(
        s.landing,
        D1,
        [("C1", "ann@x.com", "Ann"), ("C2", "bob@x.com", "Bob"), ("C3", "cy@x.com", "Cy")]
        + [("C4", "dee@x.com", "Dee"), ("C5", "eoin.o'brien@x.com", "Eoin")],
    )
    c = connect(s.warehouse, settings=s)
    ingest.load_day(c, s.landing, D1)
    yield c
    c.close()


def _view(ident):
    return (
        sorted(ident.customer_ids),
        sorted(ident.emails),
        sorted(ident.anonymous_ids),
        sorted(ident.event_ids),
        [(d.anonymous_id, d.events_erased, sorted(d.kept.items())) for d in ident.shared],
    )


def test_a_nights_people_resolved_together_get_what_each_gets_alone(con):
    named = [("C1", None), (None, "bob@x.com"), (None, "cy@x.com")]
    together = [_view(i) for i in resolve_identities(con, named)]
    alone = [_view(resolve_identity(con, c, e)) for c, e in named]

    assert together == alone
    ann, bob, cy = together
    # the shared tablet is nobody's identifier; each one's own anonymous events on it go
    assert ann[2] == ["ann-phone"] and bob[2] == [] and "fam" not in cy[2]
    assert [d[0] for d in ann[4]] == ["fam"] and [d[0] for d in bob[4]] == ["fam"]
    assert {"e01", "e03"} <= set(ann[3]) and "e04" in bob[3]
    assert not set(ann[3]) & set(bob[3])
    # an email the person's events carry only in the context's traits still finds the device
    assert cy[:3] == (["C3"], ["cy@x.com"], ["cy-phone"])
    # nothing of Dee's is taken
    assert not any("dee-pc" in v[2] or "e11" in v[3] for v in together)
    # the temp table of the device events is gone
    assert not con.execute(
        "select 1 from duckdb_tables() where table_name = '_erase_device_events'"
    ).fetchall()


def test_the_identifier_index_resolves_what_reading_the_events_resolves(con):
    """Erasure looks the traits' emails up in the identifier index: the same devices and
    events as reading every event's traits, an email with a quote included."""
    named = [("C1", None), (None, "bob@x.com"), (None, "cy@x.com"), ("C5", None)]
    read = [_view(i) for i in resolve_identities(con, named)]
    looked_up = [_view(i) for i in resolve_identities(con, named, indexed=True)]
    assert looked_up == read
    assert looked_up[2][2] == ["cy-phone"] and looked_up[3][2] == ["eoin-phone"]
    (indexed,) = con.execute(
        "select count(*) from private.event_identifier_tags where tag = 'email|cy@x.com'"
    ).fetchone()
    assert indexed == 1
