"""marts' consent (int_consents_resolved, dbt) and the exports' consent (tailor.consent)
agree on every shape of consent record, loaded or quarantined, as of several days."""

from __future__ import annotations

import json

import pytest

from tailor import consent, ingest, transform
from tailor.sources import CONSENT_PURPOSES
from tailor.warehouse import connect
from tests.reliability.test_consent_fails_closed import (
    D1,
    D2,
    D3,
    PEOPLE,
    record,
    withdrawals_of_day_2,
    write_landing,
)

pytestmark = pytest.mark.integration


def lines_of_day_3() -> list[str]:
    return [
        json.dumps(record("C3", True, "2026-10-07T08:00:00Z", n=3)),  # lifts C3's broken record
        json.dumps(record("C8", "yes", "2026-10-07T08:00:00Z", n=3)),
        json.dumps(record("C1", True, "2026-10-06T08:00:00Z", n=3)),  # older than the withdrawal
        json.dumps(record("C12", True, "2026-10-07T08:00:00Z", purpose="Email Marketing", n=3)),
    ]


def test_dbt_and_the_exports_agree_on_consent(tailor_env):
    s = tailor_env
    write_landing(s, D1, [json.dumps(record(c, True, "2026-10-05T08:00:00Z")) for c in PEOPLE])
    write_landing(s, D2, withdrawals_of_day_2())
    write_landing(s, D3, lines_of_day_3())
    con = connect(s.warehouse, settings=s)
    try:
        for day in (D1, D2, D3):
            ingest.load_day(con, s.landing, day, sources=["consents"])
    finally:
        con.close()
    for day in (D2, D3):
        transform.build(day, select="+int_consents_resolved", settings=s, unit_tests=False)
        con = connect(s.warehouse, settings=s)
        try:
            for purpose in CONSENT_PURPOSES:
                dbt_side = {
                    r[0]
                    for r in con.execute(
                        "select customer_id from intermediate.int_consents_resolved"
                        " where purpose = ? and is_granted",
                        [purpose],
                    ).fetchall()
                }
                assert consent.consented_customers(con, purpose, day) == dbt_side, (day, purpose)
            email = consent.consented_customers(con, "email_marketing", day)
        finally:
            con.close()
        if day == D2:
            assert email == {"C9", "C10"}
        else:
            assert email == {"C3", "C8", "C9", "C10", "C11", "C12"}  # C11: stamped on D3
