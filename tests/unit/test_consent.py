"""tailor.consent on hand-made raw rows: loaded and quarantined records, the rule's edges."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from tailor import consent
from tailor.warehouse import QUARANTINE_DDL, raw_table_ddl

pytestmark = pytest.mark.unit

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)
D3 = dt.date(2026, 10, 3)


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("create schema raw")
    c.execute(raw_table_ddl("consents"))
    c.execute(QUARANTINE_DDL)
    yield c
    c.close()


def loaded(con, consent_id, cid, granted, at, arrived, purpose="email_marketing"):
    con.execute(
        "insert into raw.consents (consent_id, subject_id, purpose, granted, consented_at,"
        " _dt, _batch_id, _source_file, _line, _loaded_at) values (?, ?, ?, ?, ?, ?, 'b', ?, 1, now())",
        [consent_id, cid, purpose, granted, at, arrived, f"consents/dt={arrived}/c.ndjson"],
    )


def quarantined(con, text, arrived, line=1, reason="invalid_value"):
    con.execute(
        "insert into raw.quarantine values ('consents', ?, 'b', ?, ?, ?, 'why', ?, now())",
        [arrived, f"consents/dt={arrived}/c.ndjson", line, reason, text],
    )


def test_a_replay_keeps_out_who_withdrew_later(con):
    loaded(con, "a", "C1", True, "2026-10-01T08:00:00Z", D1)
    loaded(con, "b", "C1", False, "2026-10-03T08:00:00Z", D3)
    assert consent.consented_customers(con, "email_marketing", D1) == {"C1"}
    latest = consent.latest_consent_day(con)
    assert latest == D3
    assert consent.consented_customers(con, "email_marketing", D1, latest_day=latest) == set()


def test_a_line_that_is_not_json_still_withdraws_its_subject(con):
    loaded(con, "a", "C1", True, "2026-10-01T08:00:00Z", D1)
    quarantined(
        con, '{"consent_id": "b", "subject_id": "C1", "granted": fal', D2, reason="malformed_json"
    )
    assert consent.consented_customers(con, "email_marketing", D2) == set()
    assert consent.consented_customers(con, "analytics", D2) == set()
    # a later readable grant for one purpose lifts it for that purpose only
    loaded(con, "c", "C1", True, "2026-10-03T08:00:00Z", D3)
    assert consent.consented_customers(con, "email_marketing", D3) == {"C1"}


def test_a_quarantined_record_with_a_spelled_value_counts_as_read(con):
    loaded(con, "a", "C1", True, "2026-10-01T08:00:00Z", D1)
    loaded(con, "a2", "C2", False, "2026-10-01T08:00:00Z", D1)
    record = {
        "consent_id": "b",
        "subject_id": "C2",
        "purpose": "Email-Marketing",
        "granted": "granted",
        "consented_at": "2026-10-02T08:00:00Z",
    }
    quarantined(con, json.dumps(record), D2)
    record = {
        "consent_id": "c",
        "subject_id": "C1",
        "purpose": "email_marketing",
        "granted": "revoked",
        "consented_at": "2026-10-02T08:00:00Z",
    }
    quarantined(con, json.dumps(record), D2, line=2)
    assert consent.consented_customers(con, "email_marketing", D2) == {"C2"}


def test_a_corrected_version_replaces_the_older_one_loaded_or_quarantined(con):
    loaded(con, "a", "C1", True, "2026-10-01T08:00:00Z", D1)
    record = {
        "consent_id": "a",
        "subject_id": "C1",
        "purpose": "email_marketing",
        "granted": "withdrawn",
        "consented_at": "2026-10-01T08:00:00Z",
    }
    quarantined(con, json.dumps(record), D2)
    assert consent.consented_customers(con, "email_marketing", D1) == {"C1"}
    assert consent.consented_customers(con, "email_marketing", D2) == set()
