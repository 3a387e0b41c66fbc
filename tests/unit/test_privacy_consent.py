"""Current consent as of a day, straight from raw.consents (the export gate's rule)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from tailor.consent import consented_customers, consented_customers_sql
from tailor.warehouse import raw_table_ddl

pytestmark = pytest.mark.unit


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("create schema raw")
    c.execute(raw_table_ddl("consents"))
    yield c
    c.close()


def add(con, consent_id, cid, granted, at, arrived, purpose="email_marketing", line=1):
    con.execute(
        "insert into raw.consents (consent_id, subject_id, purpose, granted, consented_at, source,"
        " _dt, _batch_id, _source_file, _line, _loaded_at) values (?, ?, ?, ?, ?, 'crm', ?, 'b', ?, ?, now())",
        [consent_id, cid, purpose, granted, at, arrived, f"consents/dt={arrived}/c.ndjson", line],
    )


def consented(con, day, purpose="email_marketing"):
    return consented_customers(con, purpose, day)


def test_latest_record_wins_as_of_the_day(con):
    add(con, "a", "C1", True, "2026-10-01T10:00:00Z", dt.date(2026, 10, 1))
    add(con, "b", "C1", False, "2026-10-03T10:00:00Z", dt.date(2026, 10, 3))
    add(con, "c", "C1", True, "2026-10-05T10:00:00Z", dt.date(2026, 10, 5))
    assert consented(con, dt.date(2026, 10, 2)) == {"C1"}
    assert consented(con, dt.date(2026, 10, 3)) == set()
    assert consented(con, dt.date(2026, 10, 5)) == {"C1"}


def test_records_count_only_once_arrived_and_happened(con):
    # happened on the 2nd, delivered late on the 4th
    add(con, "a", "C1", True, "2026-10-02T10:00:00Z", dt.date(2026, 10, 4))
    assert consented(con, dt.date(2026, 10, 3)) == set()
    assert consented(con, dt.date(2026, 10, 4)) == {"C1"}
    # a grant stamped in the future does not count yet
    add(con, "b", "C2", True, "2026-10-09T10:00:00Z", dt.date(2026, 10, 4))
    assert consented(con, dt.date(2026, 10, 4)) == {"C1"}


def test_offsets_are_converted_to_utc(con):
    # 2026-10-06 01:30 in Berlin is still the 5th in UTC
    add(con, "a", "C1", True, "2026-10-06T01:30:00+02:00", dt.date(2026, 10, 5))
    assert consented(con, dt.date(2026, 10, 5)) == {"C1"}


def test_a_tie_is_a_withdrawal_and_purposes_are_separate(con):
    add(con, "a", "C1", True, "2026-10-01T10:00:00Z", dt.date(2026, 10, 1))
    add(con, "b", "C1", False, "2026-10-01T10:00:00Z", dt.date(2026, 10, 1))
    add(con, "c", "C2", True, "2026-10-01T10:00:00Z", dt.date(2026, 10, 1), purpose="analytics")
    assert consented(con, dt.date(2026, 10, 1)) == set()
    assert consented(con, dt.date(2026, 10, 1), "analytics") == {"C2"}


def test_a_redelivered_consent_record_keeps_its_latest_version(con):
    add(con, "a", "C1", True, "2026-10-01T10:00:00Z", dt.date(2026, 10, 1))
    add(con, "a", "C1", False, "2026-10-01T10:00:00Z", dt.date(2026, 10, 2))  # corrected
    assert consented(con, dt.date(2026, 10, 1)) == {"C1"}
    assert consented(con, dt.date(2026, 10, 2)) == set()


def test_unknown_purpose_is_refused(con):
    with pytest.raises(ValueError):
        consented_customers_sql("telepathy", dt.date(2026, 10, 1))
