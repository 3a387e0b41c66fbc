"""Erasure end to end on a tiny warehouse loaded from real landing files.

One person (C0000101, "Ann") has a CRM record whose email changed, consents, an order, events on
her own device and on a device shared with C0000202, an identify call carrying her email, an
event of another device naming her in its properties, a malformed event line naming her
(quarantined) and an erasure request that gives only her old email. Derived, ML and ops tables are built from raw the way dbt and the ML jobs shape
them, and she was exported to a delta destination.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tailor import erased, exports, ingest
from tailor.exports import load_config
from tailor.pipeline import RunContext, erase_and_publish, stage_erase, working_copy
from tailor.privacy import erasure, physical
from tailor.privacy.identity import resolve_identity
from tailor.privacy.landing import purge_committed_requests
from tailor.privacy.requests import pending_requests
from tailor.privacy.suppression import enforce_suppression
from tailor.privacy.traces import find_traces, landing_traces
from tailor.publish import publish_snapshot
from tailor.settings import Settings
from tailor.warehouse import connect

pytestmark = pytest.mark.integration

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)
D3 = dt.date(2026, 10, 3)
OLD_EMAIL = "ann.lee@example.com"
NEW_EMAIL = "ann.new@example.com"
TOKENS = {
    "C0000101",
    OLD_EMAIL,
    NEW_EMAIL,
    hashlib.sha256(OLD_EMAIL.encode()).hexdigest(),
    hashlib.sha256(NEW_EMAIL.encode()).hexdigest(),
    "anon-ann-1",
}
CUSTOMER_HEADER = "customer_id,email,first_name,last_name,gender,birth_date,country,city,timezone,phone,created_at,updated_at\n"


def _csv(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _ndjson(path: Path, lines: list, gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    if gz:
        path.write_bytes(gzip.compress(body.encode(), mtime=0))
    else:
        path.write_text(body)


def _event(mid, anon, user, event="Product Viewed", typ="track", **extra):
    e = {
        "messageId": mid,
        "type": typ,
        "event": event if typ == "track" else None,
        "anonymousId": anon,
        "userId": user,
        "timestamp": "2026-10-01T10:00:00Z",
        "receivedAt": "2026-10-01T10:00:01Z",
        "properties": {"product_id": "P1", "price": 10},
        "context": {"page": {"url": "https://shop.example/p/1"}},
    }
    e.update(extra)
    return e


def write_landing(landing: Path) -> None:
    _csv(
        landing / "customers" / f"dt={D1}" / "customers.csv",
        CUSTOMER_HEADER
        + "C0000101, Ann.Lee@Example.com ,Ann,Lee,f,1990-01-01,DE,Berlin,Europe/Berlin,+49 1,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z\n"
        + "C0000202,bob@example.com,Bob,Roe,m,1985-01-01,DE,Berlin,Europe/Berlin,+49 2,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z\n",
    )
    _csv(
        landing / "customers" / f"dt={D2}" / "customers.csv",
        CUSTOMER_HEADER
        + f"C0000101,{NEW_EMAIL},Ann,Lee,f,1990-01-01,DE,Berlin,Europe/Berlin,+49 1,2026-01-01T00:00:00Z,2026-10-02T08:00:00Z\n",
    )
    _ndjson(
        landing / "consents" / f"dt={D1}" / "consents.ndjson",
        [
            {
                "consent_id": f"k{c}",
                "subject_id": c,
                "purpose": "email_marketing",
                "granted": True,
                "consented_at": "2026-09-01T00:00:00Z",
                "source": "web",
            }
            for c in ("C0000101", "C0000202")
        ],
    )
    _csv(
        landing / "orders" / f"dt={D1}" / "orders.csv",
        "order_id,customer_id,ordered_at,status,currency,subtotal,discount,shipping,total,coupon_code,channel,country,updated_at\n"
        "O1,C0000101,2026-10-01T11:00:00Z,completed,EUR,10,0,0,10,,web,DE,2026-10-01T11:00:00Z\n"
        "O2,C0000202,2026-10-01T12:00:00Z,completed,EUR,20,0,0,20,,web,DE,2026-10-01T12:00:00Z\n",
    )
    _csv(
        landing / "order_items" / f"dt={D1}" / "order_items.csv",
        "order_id,line_number,product_id,title,quantity,unit_price,discount,currency\n"
        "O1,1,P1,Mug,1,10,0,EUR\nO2,1,P2,Cup,2,10,0,EUR\n",
    )
    _ndjson(
        landing / "events" / f"dt={D1}" / "events.ndjson.gz",
        [
            _event("e1", "anon-ann-1", None, typ="page"),
            _event(
                "e2",
                "anon-ann-1",
                "C0000101",
                typ="identify",
                traits={"email": " Ann.Lee@Example.com"},
            ),
            _event("e3", "anon-ann-1", "C0000101"),
            _event("e4", "anon-shared", "C0000101"),
            _event("e5", "anon-shared", "C0000202"),
            _event("e6", "anon-shared", None),
            _event(
                "e7", "anon-bob", "C0000202", typ="identify", traits={"email": "bob@example.com"}
            ),
            _event(
                "e8",
                "anon-ann-1",
                "C0000101",
                event="Order Completed",
                properties={"order_id": "O1", "total": 10},
            ),
            # somebody else's device names her in a property only (a gift sent to her)
            _event(
                "e9",
                "anon-gift",
                None,
                event="Gift Card Sent",
                properties={"email": "Ann.Lee@example.com", "amount": 25},
            ),
            '{"messageId": "broken", "userId": "C0000101", "traits": {"email": "ann.lee@example.com"}',
        ],
        gz=True,
    )
    _csv(
        landing / "erasure_requests" / f"dt={D2}" / "erasure_requests.csv",
        f"request_id,customer_id,email,requested_at\nR1,,{OLD_EMAIL},2026-10-02T09:00:00Z\n",
    )


def build_derived(con, day: dt.date) -> None:
    """What dbt and the ML jobs would have built, in their shapes (a few columns each)."""
    for schema in ("staging", "intermediate", "marts", "ml"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        "create or replace view staging.stg_crm__customers as "
        "select trim(customer_id) as customer_id, lower(trim(email)) as email, "
        "sha256(lower(trim(email))) as email_sha256, first_name from raw.customers"
    )
    con.execute(
        """
        create or replace table marts.customers as
        select customer_id, email, email_sha256, first_name
        from staging.stg_crm__customers
        qualify row_number() over (partition by customer_id order by email = 'ann.new@example.com' desc) = 1
        """
    )
    con.execute(
        """
        create or replace table intermediate.int_events_stitched as
        select message_id, anonymous_id, user_id,
               coalesce(user_id, case when anonymous_id = 'anon-ann-1' then 'C0000101' end) as customer_id,
               coalesce(anonymous_id, 'user:' || user_id) as visitor_id,
               json_extract_string(properties, '$.order_id') as order_id
        from raw.events
        """
    )
    con.execute(
        "create or replace table intermediate.int_identity_graph as "
        "select distinct anonymous_id, user_id as customer_id from raw.events where user_id is not null"
    )
    con.execute(
        "create or replace table marts.sessions as select md5(visitor_id) as session_id, visitor_id, "
        "anonymous_id, customer_id from intermediate.int_events_stitched"
    )
    con.execute(
        "create or replace table marts.orders as select order_id, customer_id, total from raw.orders"
    )
    con.execute(
        "create or replace table marts.customer_segment_history as "
        f"select customer_id, date '{day}' as snapshot_date, 'Champions' as rfm_segment from marts.customers"
    )
    con.execute(
        """
        create or replace table ml.recommendations as
        select customer_id, 1 as rank, 'P1' as product_id, 0.7 as score from marts.customers
        """
    )
    con.execute(
        f"""
        create or replace table marts.audiences as
        select 'rfm_champions' as audience_id, customer_id, 'rfm_champions:test' as experiment_id,
               false as is_control, email, first_name, null::varchar as segment_name,
               null::varchar as last_name, date '{day}' as as_of_date
        from marts.customers
        """
    )
    con.execute(
        f"create or replace table marts.audience_definitions as select 'rfm_champions' as audience_id, date '{day}' as as_of_date"
    )


CONFIG = {
    "destinations": [
        {
            "name": "mc",
            "format": "mailchimp_csv",
            "audience": "rfm_champions",
            "consent": "email_marketing",
            "fields": {"Email Address": "email", "First Name": "first_name"},
        },
        {
            "name": "feed",
            "format": "jsonl",
            "audience": "rfm_champions",
            "consent": "email_marketing",
            "mode": "full",
            "capped": False,
            "fields": {"customer_id": "customer_id", "email": "email", "first_name": "first_name"},
        },
    ]
}


def reconciles(con) -> list[str]:
    """Files whose load_log does not match the rows and quarantine (tombstones included)."""
    problems = []
    for source, batch, path, read, loaded, quarantined in con.execute(
        "select source, _batch_id, source_file, rows_read, rows_loaded, rows_quarantined from raw.load_log"
    ).fetchall():
        (n_raw,) = con.execute(
            f"select count(*) from raw.{source} where _batch_id = ? and _source_file = ?",
            [batch, path],
        ).fetchone()
        (n_q,) = con.execute(
            "select count(*) from raw.quarantine where source = ? and _batch_id = ? and source_file = ?",
            [source, batch, path],
        ).fetchone()
        if (n_raw, n_q) != (loaded, quarantined) or read != loaded + quarantined:
            problems.append(
                f"{path}: read {read}, loaded {loaded}/{n_raw}, quarantined {quarantined}/{n_q}"
            )
    return problems


@pytest.fixture
def world(tailor_env):
    s = tailor_env
    write_landing(s.landing)
    shutil.copytree(s.landing, s.data / "landing_as_delivered")
    con = connect(s.warehouse, settings=s)
    for day in (D1, D2):
        ingest.load_day(con, s.landing, day)
    build_derived(con, D2)
    con.close()
    exports.export_all(D2, s, config=load_config(CONFIG))
    publish_snapshot(s)
    return s


@contextmanager
def night_copy(s, day: dt.date) -> Iterator[tuple[Settings, dict]]:
    """The load and erase stages of a night as the nightly run does them, on its working
    copy: yields the copy's settings and the erase stage's result; committed when the body
    passes."""
    with working_copy(s) as work:
        con = connect(work.warehouse, settings=work)
        try:
            ingest.load_day(con, work.landing, day)
        finally:
            con.close()
        yield work, stage_erase(RunContext(day=day, settings=work))


def _traces(path: Path, **kw):
    con = connect(path, read_only=True)
    try:
        return find_traces(con, TOKENS, **kw)
    finally:
        con.close()


def test_the_person_is_everywhere_before(world):
    s = world
    found = {t for t, _, _ in _traces(s.warehouse)}
    assert {
        "raw.customers",
        "raw.events",
        "raw.quarantine",
        "ops.export_state",
        "ml.recommendations",
    } <= found
    con = connect(s.warehouse, read_only=True)
    ident = resolve_identity(con, email=OLD_EMAIL)
    con.close()
    assert ident.customer_ids == {"C0000101"}
    assert ident.emails == {OLD_EMAIL, NEW_EMAIL}
    assert ident.anonymous_ids == {"anon-ann-1"}  # the shared device is not hers alone
    assert ident.order_ids == {"O1"}


def test_the_identifier_index_finds_the_events_reading_them_finds(world, monkeypatch):
    """raw.events' JSON columns are looked up in private.event_identifier_tags instead of
    read: the same rows for the same people, including events that name Ann only in
    their JSON (her email in an identify call's traits)."""
    from tailor.privacy import erase_tables
    from tailor.privacy.matching import match_sql

    s = world
    con = connect(s.warehouse, settings=s)
    try:
        people = [resolve_identity(con, email=OLD_EMAIL), resolve_identity(con, "C0000202")]

        def found() -> set[tuple]:
            con.execute("begin transaction")
            try:
                erase_tables.find_hits(con, people)
                return set(con.execute(f"select * from {erase_tables.ROWS}").fetchall())
            finally:
                con.execute("rollback")

        indexed = found()
        monkeypatch.setattr(
            erase_tables, "_condition", lambda c, sc, t, cols, e: match_sql(cols, e)
        )
        read = found()
        assert indexed == read
        json_only = [
            rid
            for tbl, rid, person in read
            if tbl == "raw.events"
            and con.execute(
                "select anonymous_id from raw.events where rowid = ?", [rid]
            ).fetchone()[0]
            == "anon-gift"
        ]
        assert json_only, "no event names Ann in its JSON only: the index is not exercised"
    finally:
        con.close()


def test_erasure_request_removes_every_trace_and_sticks(world):
    s = world
    con = connect(s.warehouse, settings=s)
    c2_before = {t: n for t, _, n in find_traces(con, {"C0000202"}, include_views=False)}
    con.close()

    out = erasure.run(RunContext(day=D2, settings=s))
    assert out["requests_applied"] == 1
    publish_snapshot(s)

    # Nothing of her is queryable: warehouse (tables and views) and published snapshot.
    assert _traces(s.warehouse) == []
    assert _traces(s.snapshot) == []
    # The files wait for the batched physical pass (due erasure.physical_deadline_days
    # after the request): her landing records are still there until it runs ...
    request = s.landing / "erasure_requests" / f"dt={D2}" / "erasure_requests.csv"
    assert len(landing_traces(s.landing, TOKENS)) > 1
    assert physical.run_pass(s, D2)["requests"] == 1
    # ... then gone from the landing zone, but for the request itself, which stays until the
    # erasure is committed (then commit_run removes it), while everybody else's records are
    # still there; and from the warehouse file's free blocks (it was compacted).
    assert landing_traces(s.landing, TOKENS) == [request]
    assert NEW_EMAIL.encode() not in s.warehouse.read_bytes()
    assert purge_committed_requests(s) == 1
    assert landing_traces(s.landing, TOKENS) == []
    assert landing_traces(s.landing, {"bob@example.com", "anon-shared"})

    con = connect(s.warehouse, settings=s)
    try:
        # Other people are untouched: C2 appears exactly as often as before, and the shared
        # device keeps its anonymous event.
        c2_after = {t: n for t, _, n in find_traces(con, {"C0000202"}, include_views=False)}
        assert c2_after == c2_before
        assert con.execute(
            "select message_id from raw.events where anonymous_id = 'anon-shared' order by 1"
        ).fetchall() == [("e5",), ("e6",)]
        # Tombstones keep "read = loaded + quarantined" per file; the quarantined line lost its text.
        assert reconciles(con) == []
        reasons = dict(
            con.execute("select reason_code, count(*) from raw.quarantine group by 1").fetchall()
        )
        assert reasons["erased_subject"] >= 10
        assert con.execute(
            "select count(*) from raw.quarantine where record is null and reason_code = 'malformed_json'"
        ).fetchone() == (1,)
        # The audit: hashed id, time, tables touched, rows removed; no identifier in clear.
        audit = con.execute(
            "select subject_hash, request_id, trigger, erased_at, tables_touched, rows_removed,"
            " landing_records_removed, destinations_notified, physical_due_on,"
            " physically_erased_on from ops.erasure_audit"
        ).fetchall()
        assert len(audit) == 1
        subject, request, trigger, erased_at, tables, removed, landing_removed, notified = audit[0][
            :8
        ]
        assert audit[0][8:] == (D2 + dt.timedelta(days=7), D2)  # due by, fully gone on
        assert subject == erased.subject_hash("customer_id", "C0000101", erased.subject_key(con))
        assert (request, trigger) == ("R1", "erasure_requests")
        assert erased_at is not None and removed > 0 and landing_removed >= 10
        touched = {t["table"] for t in json.loads(tables)}
        assert {
            "raw.customers",
            "raw.events",
            "raw.orders",
            "raw.order_items",
            "raw.consents",
            "raw.erasure_requests",
            "intermediate.int_events_stitched",
            "marts.sessions",
            "marts.customer_segment_history",
            "ml.recommendations",
            "ops.export_state",
            "ops.message_log",
            "marts.audiences",
        } <= touched
        assert sorted(json.loads(notified)) == ["feed", "mc"]
        kinds = dict(
            con.execute("select kind, count(*) from ops.erased_subjects group by 1").fetchall()
        )
        assert kinds == {"customer_id": 1, "email": 2, "anonymous_id": 1, "order_id": 1}
        # A second run applies nothing new.
        assert pending_requests(con, D3) == []
    finally:
        con.close()

    # The next exports carry a remove for her, once.
    con = connect(s.warehouse, settings=s)
    build_derived(con, D3)
    con.close()
    cfg = load_config(CONFIG)
    results = {r.destination: r for r in exports.export_all(D3, s, config=cfg)}
    assert results["mc"].counts["erasure_removes"] == 1
    mc = cfg.get("mc").output_dir(s) / f"dt={D3}"
    assert list(csv.reader(io.StringIO((mc / "mc.removes.csv").read_text()))) == [
        ["Email Address"],
        [NEW_EMAIL],
    ]
    feed = (cfg.get("feed").output_dir(s) / f"dt={D3}" / "feed.jsonl").read_text().splitlines()
    assert json.loads(feed[0]) == {"op": "delete", "key": {"customer_id": "C0000101"}}
    # Rerunning D3 gives the same files (the outbox entry is kept for that day) ...
    before = (mc / "mc.removes.csv").read_bytes()
    exports.export_all(D3, s, config=cfg)
    assert (mc / "mc.removes.csv").read_bytes() == before
    # ... and the next day no longer mentions her; the outbox is emptied.
    d4 = D3 + dt.timedelta(days=1)
    con = connect(s.warehouse, settings=s)
    build_derived(con, d4)
    con.close()
    exports.export_all(d4, s, config=cfg)
    assert (
        cfg.get("mc").output_dir(s) / f"dt={d4}" / "mc.removes.csv"
    ).read_text().strip() == "Email Address"
    assert not list((s.exports / ".erasure_outbox").rglob("*.json"))
    # Local copies of earlier exports were redacted (their manifests say so).
    earlier = cfg.get("mc").output_dir(s) / f"dt={D2}"
    assert NEW_EMAIL not in (earlier / "mc.upserts.csv").read_text()
    assert json.loads((earlier / "manifest.json").read_text())["redacted"] is True

    # Re-delivery of the old landing files, as they were: the loader tombstones her records
    # in the same transaction that loads them (suppression), so she is never in raw, even
    # for a moment; the nightly erasure stage's suppression then finds nothing more.
    shutil.rmtree(s.landing)
    shutil.copytree(s.data / "landing_as_delivered", s.landing)
    con = connect(s.warehouse, settings=s)
    try:
        for day in (D1, D2):
            ingest.load_day(con, s.landing, day)
            assert find_traces(con, TOKENS, include_views=False) == []
            con.execute("begin transaction")
            assert enforce_suppression(con, day) == {}
            con.execute("commit")
        (tombstones,) = con.execute(
            "select count(*) from raw.quarantine where _dt = ? and reason_code = 'erased_subject'",
            [D1],
        ).fetchone()
        assert tombstones > 0  # her records were read again, and kept out
        assert find_traces(con, TOKENS) == []
        assert reconciles(con) == []
    finally:
        con.close()
    out = erasure.run(RunContext(day=D3, settings=s))
    assert out["requests_applied"] == 0 and out["resuppressed"] == {}


def test_a_failed_run_leaves_its_erasure_requests_for_the_rerun(world, tmp_path, monkeypatch):
    """The erase stage works on the run's copy of the warehouse; when a later stage fails the
    copy is thrown away, so the requests must still be in the landing zone for the rerun.
    (A one-day deadline: the night also runs the physical pass over the landing files.)"""
    s = world
    config = tmp_path / "tailor.yml"
    config.write_text("erasure:\n  physical_deadline_days: 1\n")
    monkeypatch.setenv("TAILOR_CONFIG", str(config))
    bob = {"C0000202", "bob@example.com", "anon-bob"}
    ann_request = s.landing / "erasure_requests" / f"dt={D2}" / "erasure_requests.csv"
    bob_request = s.landing / "erasure_requests" / f"dt={D3}" / "erasure_requests.csv"
    _csv(
        bob_request,
        "request_id,customer_id,email,requested_at\nR2,C0000202,,2026-10-03T08:00:00Z\n",
    )

    def night(fail: bool) -> dict:
        with night_copy(s, D3) as (_, out):
            if fail:
                raise RuntimeError("stage 'validate_raw' failed")
        return out

    with pytest.raises(RuntimeError, match="validate_raw"):
        night(fail=True)
    con = connect(s.warehouse, settings=s)
    try:  # the warehouse is as it was: both people there, Ann's request pending
        assert find_traces(con, bob, include_views=False)
        assert find_traces(con, TOKENS, include_views=False)
        assert [r["request_id"] for r in pending_requests(con, D3)] == ["R1"]
    finally:
        con.close()
    # their other records are gone from the landing zone, their requests are not
    assert landing_traces(s.landing, bob) == [bob_request]
    assert landing_traces(s.landing, TOKENS) == [ann_request]

    out = night(fail=False)
    assert out["requests_applied"] == 2
    con = connect(s.warehouse, read_only=True)
    try:
        assert find_traces(con, bob | TOKENS) == []
        assert sorted(
            r[0] for r in con.execute("select request_id from ops.erasure_audit").fetchall()
        ) == ["R1", "R2"]
    finally:
        con.close()
    # committed: the requests' rows left the landing zone with the commit
    assert landing_traces(s.landing, bob | TOKENS) == []
    assert bob_request.read_text() == "request_id,customer_id,email,requested_at\n"


def test_cli_erasure_by_customer_id_republishes_the_snapshot(world):
    s = world
    assert _traces(s.snapshot)
    assert NEW_EMAIL.encode() in s.warehouse.read_bytes()
    result = erase_and_publish(s, customer_id="C0000101", day=D2)
    assert result.rows_removed > 0
    con = connect(s.warehouse, read_only=True)
    try:
        key = erased.subject_key(con)
    finally:
        con.close()
    assert result.subject_hash == erased.subject_hash("customer_id", "C0000101", key)
    assert _traces(s.warehouse) == []
    assert _traces(s.snapshot) == []
    assert not list(s.warehouse.parent.glob(".*.run-*"))  # the working copy is gone
    # not even in free blocks of the files: the warehouse was rewritten compactly
    for path in (s.warehouse, s.snapshot):
        data = path.read_bytes()
        assert NEW_EMAIL.encode() not in data and OLD_EMAIL.encode() not in data
    # erasing again is harmless and finds nothing more
    again = erase_and_publish(s, customer_id="C0000101", day=D2)
    assert again.rows_removed == 0


def test_suppression_sql_matches_the_python_hash(world):
    s = world
    con = connect(s.warehouse, read_only=True)
    try:
        key = erased.subject_key(con)
        (h,) = con.execute(
            f"select {erased.subject_hash_sql('email', chr(39) + '  Ann.Lee@Example.com ' + chr(39))}"
        ).fetchone()
    finally:
        con.close()
    assert h == erased.subject_hash("email", OLD_EMAIL, key)
    assert h != hashlib.sha256(OLD_EMAIL.encode()).hexdigest()
