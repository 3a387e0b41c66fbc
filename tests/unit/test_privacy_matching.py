"""Which rows erasure takes: identity columns and id-like keys, never look-alike values."""

from __future__ import annotations

import duckdb
import pytest

from tailor import erased
from tailor.erased import Identity
from tailor.privacy import erasure
from tailor.privacy.erase_tables import erase_rows, erase_rows_many
from tailor.privacy.matching import match_sql
from tailor.privacy.requests import pending_requests
from tailor.privacy.suppression import quarantine_suppressed_sql

pytestmark = pytest.mark.unit


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def taken(con, table: str, ident: Identity) -> list:
    cols = con.execute(
        "select column_name, data_type from information_schema.columns where table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    cond = match_sql(cols, ident)
    if cond is None:
        return []
    return [
        r[0] for r in con.execute(f"select tag from {table} where {cond} order by tag").fetchall()
    ]


def test_numeric_customer_ids_do_not_take_products_or_quantities(con):
    # Online Retail: customer 12346 and stock code 12346 can both exist.
    ident = Identity(
        customer_ids={"12346"}, emails=set(), anonymous_ids=set(), order_ids={"536365"}
    )
    con.execute(
        """
        create table lines as select * from (values
            ('mine', '536365', '85123A', 6, '12346'),
            ('stock code', '536366', '12346', 12346, '17850'),
            ('other order', '5363650', '22423', 1, '17851')
        ) t(tag, order_id, product_id, quantity, customer_id)
        """
    )
    assert taken(con, "lines", ident) == ["mine"]


def test_json_and_record_columns_match_identifier_keys_never_free_text(con):
    # Identifier keys at the places Segment puts them, compared whole and case-folded; an
    # email or id elsewhere in the text (a user agent, a search term, a broken line) is not
    # an identifier field. Quarantined records (raw.quarantine) are parsed in Python, see
    # tests/reliability/test_erasure_bounds.py.
    ident = Identity(
        customer_ids={"C0000101"},
        emails={"ann@x.com"},
        anonymous_ids={"a-1"},
        order_ids=set(),
    )
    con.execute(
        """
        create table q (tag varchar, record varchar, extra json);
        insert into q values
            ('csv record', '{"customer_id":"c0000101","email":" ANN@X.COM "}', null),
            ('visitor', '{"visitorId":"user:C0000101"}', null),
            ('email in text', 'bad line mentioning Ann@x.com somewhere', null),
            ('email in a search term', '{"properties": {"query": "ann@x.com"}}', null),
            ('anon in context', null, '{"context": {"anonymousId": "a-1"}}'),
            ('email in context traits', null, '{"context": {"traits": {"email": "Ann@x.com"}}}'),
            ('longer email', '{"email":"joann@x.com"}', null),
            ('longer id', '{"customer_id":"C00001012"}', null),
            ('id as a product', '{"product_id":"C0000101"}', null),
            ('nothing', '{"a":1}', '{"b":"a-10"}');
        """
    )
    assert taken(con, "q", ident) == [
        "anon in context",
        "csv record",
        "email in context traits",
        "visitor",
    ]


def test_email_columns_match_normalized_and_hashed(con):
    ident = Identity(customer_ids=set(), emails={"ann@x.com"}, anonymous_ids=set(), order_ids=set())
    sha = next(iter(ident.email_sha256s))
    con.execute(
        f"""
        create table c as select * from (values
            ('raw', '  Ann@X.com ', null),
            ('hash', null, '{sha}'),
            ('other', 'bob@x.com', 'ffff')
        ) t(tag, email, traits_email_sha256)
        """
    )
    assert taken(con, "c", ident) == ["hash", "raw"]


def test_tables_without_identity_columns_are_left_alone(con):
    ident = Identity(customer_ids={"C1"}, emails={"a@x.com"}, anonymous_ids=set(), order_ids=set())
    assert match_sql([("product_id", "VARCHAR"), ("price", "DOUBLE")], ident) is None


def test_quarantined_text_is_checked_against_hashed_identifiers(con):
    con.execute("create schema ops")
    erased.ensure_tables(con)
    key = erased.subject_key(con)
    for kind, value in (("customer_id", "C0000101"), ("email", "ann@x.com")):
        con.execute(
            "insert into ops.erased_subjects (subject_hash, kind, erased_on, audit_id) "
            "values (?, ?, date '2026-10-01', 'a')",
            [erased.subject_hash(kind, value, key), kind],
        )
    con.execute(
        """
        create table q as select * from (values
            ('broken json', '{"messageId": "m", "userId": "C0000101", "x": '),
            ('email', 'Ann@X.com,Ann,Lee'),
            ('lower-case id', '{"customer_id": "c0000101", "email": ""}'),
            ('context traits', '{"userId": null, "context": {"traits": {"email": "ANN@x.com"}}}'),
            ('someone else', '{"userId": "C0000102"}'),
            ('searched for her', '{"userId": "C0000102", "properties": {"query": "ann@x.com"}}'),
            ('free text', 'bad line mentioning ann@x.com and C0000101 somewhere')
        ) t(tag, record)
        """
    )
    cond = quarantine_suppressed_sql("record")
    got = [r[0] for r in con.execute(f"select tag from q where {cond} order by tag").fetchall()]
    assert got == ["broken json", "context traits", "email", "lower-case id"]


def _night_with_two_people() -> duckdb.DuckDBPyConnection:
    from tailor.warehouse import ensure_raw_schema

    con = duckdb.connect()
    ensure_raw_schema(con)
    con.execute(
        """
        insert into raw.events
            (message_id, user_id, anonymous_id, traits, _dt, _batch_id, _source_file, _line, _loaded_at)
        values
            ('m1', 'C1', 'a-1', null, date '2026-10-01', 'b1', 'ev.ndjson', 1, timestamp '2026-10-02'),
            ('m2', null, 'a-2', '{"email": "Bo@x.com"}', date '2026-10-01', 'b1', 'ev.ndjson', 2, timestamp '2026-10-02'),
            -- names both: Ann's customer id, Bo's email -> counted for the first of them
            ('m3', 'C1', null, '{"email": "bo@x.com"}', date '2026-10-01', 'b1', 'ev.ndjson', 3, timestamp '2026-10-02'),
            ('m4', 'C3', 'a-3', null, date '2026-10-01', 'b1', 'ev.ndjson', 4, timestamp '2026-10-02');
        insert into raw.load_log (_batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded, rows_quarantined, started_at, finished_at) values
            ('b1', 'events', date '2026-10-01', 'ev.ndjson', 'x', 1, 4, 4, 0, timestamp '2026-10-02', timestamp '2026-10-02');
        insert into raw.quarantine values
            ('events', date '2026-10-01', 'b1', 'ev.ndjson', 5, 'malformed_json', 'bad', '{"userId": "C2", "x"', timestamp '2026-10-02'),
            ('events', date '2026-10-01', 'b1', 'ev.ndjson', 6, 'malformed_json', 'bad', '{"userId": "C3", "x"', timestamp '2026-10-02');
        create table main.customer_profiles as select * from (values
            ('C1', 'ann@x.com'), ('C2', 'bo@x.com'), ('C3', 'cy@x.com')
        ) t(customer_id, email);
        """
    )
    return con


def test_erasing_a_nights_people_in_one_scan_matches_erasing_them_one_by_one():
    ann = Identity(customer_ids={"C1"}, emails={"ann@x.com"}, anonymous_ids={"a-1"})
    bo = Identity(customer_ids={"C2"}, emails={"bo@x.com"}, anonymous_ids={"a-2"})
    tables = ["raw.events", "raw.quarantine", "raw.load_log", "main.customer_profiles"]

    def summary(touched):
        return sorted((t.table, t.rows_removed, t.rows_anonymized) for t in touched)

    def contents(con):
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}

    one_by_one = _night_with_two_people()
    separately = [summary(erase_rows(one_by_one, p)) for p in (ann, bo)]
    together = _night_with_two_people()
    at_once = [summary(t) for t in erase_rows_many(together, [ann, bo])]

    assert at_once == separately
    assert at_once[0] == [
        ("main.customer_profiles", 1, 0),
        ("raw.events", 2, 0),  # m1, and m3 that names Bo too
    ]
    assert at_once[1] == [
        ("main.customer_profiles", 1, 0),
        ("raw.events", 1, 0),
        ("raw.quarantine", 0, 1),
    ]
    assert contents(together) == contents(one_by_one)
    assert [r[0] for r in together.execute("select message_id from raw.events").fetchall()] == [
        "m4"
    ]
    # read = loaded + quarantined still holds: three rows became tombstones
    assert together.execute(
        "select rows_loaded, rows_quarantined from raw.load_log"
    ).fetchall() == [(1, 3)]


def test_a_nights_requests_get_one_audit_row_each_with_their_own_rows(tailor_env):
    import datetime as dt
    import json

    from tailor.warehouse import connect, ensure_raw_schema

    s = tailor_env
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(s.warehouse, settings=s)
    ensure_raw_schema(con)
    con.execute(
        """
        insert into raw.customers (customer_id, email, _dt, _batch_id, _source_file, _line, _loaded_at)
        values ('C1', 'ann@x.com', date '2026-10-01', 'b0', 'c.csv', 1, timestamp '2026-10-02'),
               ('C2', 'bo@x.com', date '2026-10-01', 'b0', 'c.csv', 2, timestamp '2026-10-02'),
               ('C3', 'cy@x.com', date '2026-10-01', 'b0', 'c.csv', 3, timestamp '2026-10-02'),
               ('C1', 'ann@x.com', date '2026-10-01', 'b0', 'c.csv', 4, timestamp '2026-10-02');
        insert into raw.load_log (_batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded, rows_quarantined, started_at, finished_at) values
            ('b0', 'customers', date '2026-10-01', 'c.csv', 'x', 1, 4, 4, 0, timestamp '2026-10-02', timestamp '2026-10-02'),
            ('b1', 'erasure_requests', date '2026-10-02', 'r.csv', 'x', 1, 2, 2, 0, timestamp '2026-10-03', timestamp '2026-10-03');
        insert into raw.erasure_requests
            (request_id, customer_id, email, requested_at, _dt, _batch_id, _source_file, _line, _loaded_at)
        values ('R-bo', null, 'Bo@x.com', '2026-10-02T08:00:00Z', date '2026-10-02', 'b1', 'r.csv', 2, timestamp '2026-10-03'),
               ('R-ann', 'C1', null, '2026-10-02T09:00:00Z', date '2026-10-02', 'b1', 'r.csv', 3, timestamp '2026-10-03');
        """
    )

    results = erasure.apply_requests(con, dt.date(2026, 10, 2), s)

    key = erased.subject_key(con)
    assert [(r.request_id, r.subject_hash) for r in results] == [
        ("R-bo", erased.subject_hash("customer_id", "C2", key)),
        ("R-ann", erased.subject_hash("customer_id", "C1", key)),
    ]
    audit = con.execute(
        "select request_id, subject_hash, rows_removed, tables_touched from ops.erasure_audit "
        "order by requested_at"
    ).fetchall()
    assert [(a[0], a[1], a[2]) for a in audit] == [
        ("R-bo", results[0].subject_hash, 2),  # the CRM row and the request itself
        ("R-ann", results[1].subject_hash, 3),  # two CRM rows and the request
    ]
    assert {t["table"] for t in json.loads(audit[0][3])} == {
        "raw.customers",
        "raw.erasure_requests",
    }
    assert con.execute("select customer_id from raw.customers").fetchall() == [("C3",)]
    assert pending_requests(con, dt.date(2026, 10, 2)) == []  # applied, once
    con.close()


def test_quarantined_records_are_parsed_and_their_identifier_fields_compared():
    from tailor.warehouse import ensure_raw_schema

    con = duckdb.connect()
    ensure_raw_schema(con)
    records = {
        "csv row": '{"customer_id": "c0000101", "email": "", "first_name": "Ann"}',
        "rejected csv line": 'C0000101,"ann@x.com,Ann',
        "broken event": '{"messageId": "m9", "traits": {"email": "ANN@X.COM"}, "x": ',
        "her order": '{"order_id": "O1", "total": "ten"}',
        "another visitor's search": '{"userId": "C7", "properties": {"query": "ann@x.com"}}',
        "user agent": '{"userId": "C7", "context": {"userAgent": "C0000101 Chrome"}}',
        "longer id": '{"customer_id": "C00001012"}',
        "free text": "note: ann@x.com called about C0000101",
    }
    for line, record in enumerate(records.values()):
        con.execute(
            "insert into raw.quarantine values ('customers', date '2026-10-01', 'b', 'f.csv', ?,"
            " 'bad', 'bad', ?, timestamp '2026-10-02')",
            [line, record],
        )
    ann = Identity(customer_ids={"C0000101"}, emails={"ann@x.com"}, order_ids={"O1"})
    touched = erase_rows(con, ann)
    assert [(t.table, t.rows_anonymized) for t in touched] == [("raw.quarantine", 4)]
    kept = {r[0] for r in con.execute("select record from raw.quarantine").fetchall()}
    assert kept - {None} == {
        records[k] for k in ("another visitor's search", "user agent", "longer id", "free text")
    }
