"""Consent fails closed: a withdrawal the loader cannot read, or reads as stamped after the
day, still keeps the person out of that night's email export.

Consent records are delivered the way a CRM writes them (NDJSON, one record a line) and
go through the real loader, so the shapes it quarantines reach the export as they would
in a night.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tailor import exports, ingest
from tailor.warehouse import connect
from tests.unit.test_export_rules import Warehouse, config, dest, member, rows

pytestmark = pytest.mark.reliability

D1 = dt.date(2026, 10, 5)
D2 = D1 + dt.timedelta(days=1)
D3 = D2 + dt.timedelta(days=1)
PEOPLE = [f"C{i}" for i in range(1, 11)]


def record(cid: str, granted, at: str, *, purpose="email_marketing", cid_key="subject_id", n=0):
    return {
        "consent_id": f"{cid}-{n}",
        cid_key: cid,
        "purpose": purpose,
        "granted": granted,
        "consented_at": at,
        "source": "preference_centre",
    }


def write_landing(settings, day: dt.date, lines: list[str]) -> None:
    folder = settings.landing / "consents" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "consents.ndjson").write_text("".join(line + "\n" for line in lines))


def deliver(settings, day: dt.date, lines: list[str]) -> None:
    """Write a consents partition and load it (a reload replaces the day)."""
    write_landing(settings, day, lines)
    con = connect(settings.warehouse, settings=settings)
    try:
        ingest.load_day(con, settings.landing, day, sources=["consents"])
    finally:
        con.close()


def exported(wh: Warehouse, cfg, day: dt.date, name: str = "mc") -> set[str]:
    """Customers in a destination's export file of the day (emails are <id>@example.com)."""
    wh.con.close()
    try:
        exports.export_all(day, wh.settings, config=cfg)
    finally:
        wh.con = connect(wh.settings.warehouse, settings=wh.settings)
    path = cfg.get(name).output_dir(wh.settings) / f"dt={day.isoformat()}" / f"{name}.csv"
    return {r[0].split("@")[0].upper() for r in rows(path)[1:]}


@pytest.fixture
def night(tailor_env):
    wh = Warehouse(tailor_env)
    wh.con.close()
    # Day 1: everyone opts in.
    deliver(
        tailor_env,
        D1,
        [json.dumps(record(c, True, "2026-10-05T08:00:00Z")) for c in PEOPLE],
    )
    wh.con = connect(tailor_env.warehouse, settings=tailor_env)
    # Every night's audience holds everyone; consent decides who is exported.
    cfg = config(dest(mode="full", capped=False))
    yield wh, cfg
    wh.close()


def withdrawals_of_day_2() -> list[str]:
    at = "2026-10-06T09:00:00Z"
    return [
        json.dumps(record("C1", "withdrawn", at, n=2)),  # a word, not a boolean
        json.dumps(record("C2", "no", at, n=2)),
        json.dumps(record("C3", False, "03/12/2026 10:00", n=2)),  # not ISO-8601
        json.dumps(record("C4", False, "2026-10-07T00:30:00Z", n=2)),  # after the day's end
        json.dumps(record("C5", False, at, purpose=None, n=2)),  # purpose unreadable
        json.dumps(record("C6", "revoked", at, n=2)),
        # a line cut short (no closing brace): not JSON, but it names its subject
        json.dumps(record("C7", False, at, n=2))[:-1],
        json.dumps(record("C8", "maybe", at, n=2)),  # neither a grant nor a withdrawal
        json.dumps(record("C9", "granted", at, n=2)),  # a grant, spelled as a word
        json.dumps(record("C11", True, "2026-10-07T00:30:00Z", n=2)),  # a grant of tomorrow
    ]


def test_every_unreadable_or_late_withdrawal_keeps_the_person_out_that_night(night):
    wh, cfg = night
    deliver(wh.settings, D2, withdrawals_of_day_2())
    wh.audiences(D2, [member(c) for c in [*PEOPLE, "C11"]])
    out = exported(wh, cfg, D2)
    for cid in ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"):
        assert cid not in out, f"{cid} withdrew on {D2} but is in the email export"
    assert out == {"C9", "C10"}  # C11's grant counts from tomorrow


def test_an_unreadable_purpose_withdraws_every_purpose(night):
    wh, _ = night
    at = "2026-10-06T08:00:00Z"
    grants = [json.dumps(record(c, True, at, purpose="analytics", n=2)) for c in PEOPLE]
    broken = json.dumps(record("C5", False, "2026-10-06T09:00:00Z", purpose="", n=9))
    deliver(wh.settings, D2, [*grants, broken])
    wh.audiences(D2, [member(c) for c in PEOPLE])
    cfg = config(
        dest(mode="full", capped=False),
        dest("an", mode="full", capped=False, consent="analytics"),
    )
    assert "C5" not in exported(wh, cfg, D2)
    assert "C5" not in exported(wh, cfg, D2, "an")
    # a readable analytics grant delivered later lifts it for analytics only
    deliver(
        wh.settings,
        D3,
        [json.dumps(record("C5", True, "2026-10-07T08:00:00Z", purpose="analytics", n=3))],
    )
    wh.audiences(D3, [member(c) for c in PEOPLE])
    assert "C5" in exported(wh, cfg, D3, "an")
    assert "C5" not in exported(wh, cfg, D3)


def test_an_unreadable_withdrawal_holds_until_a_readable_grant_arrives(night):
    wh, cfg = night
    deliver(wh.settings, D2, [json.dumps(record("C3", False, "03/12/2026 10:00", n=2))])
    wh.audiences(D2, [member(c) for c in PEOPLE])
    assert "C3" not in exported(wh, cfg, D2)
    # a grant stamped earlier than the broken record was delivered does not lift it ...
    deliver(wh.settings, D3, [json.dumps(record("C4", True, "2026-10-07T08:00:00Z", n=3))])
    wh.audiences(D3, [member(c) for c in PEOPLE])
    assert "C3" not in exported(wh, cfg, D3)
    # ... a readable grant delivered later does
    deliver(
        wh.settings,
        D3,
        [
            json.dumps(record("C4", True, "2026-10-07T08:00:00Z", n=3)),
            json.dumps(record("C3", "yes", "2026-10-07T08:00:00Z", n=3)),
        ],
    )
    assert "C3" in exported(wh, cfg, D3)
