"""Erased people stay erased (issue 19, points 6, 7 and 9b).

Ann (C0000101, tests/integration/test_erasure.py) is erased by request. Then her shop,
CRM and tracking keep sending her, in every shape an identifier can take: her user id,
in lower case, her email as an identify trait, in ``context.traits`` and in the
properties of a sign-up, the anonymous id of her device, orders and consents under her
id, a CRM row with her email in another case, a broken line. Each record must be
tombstoned or stripped as ``erased_subject`` at load, and nothing of her rebuilt.
The ids erasure remembers must not be recoverable from the snapshot by hashing candidate
ids, and landing dot-files the loader reads must be purged too.
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import pytest

from tailor import erased, ingest
from tailor.pipeline import RunContext
from tailor.privacy import erasure, physical
from tailor.privacy.landing import landing_files
from tailor.privacy.traces import find_traces
from tailor.publish import publish_snapshot
from tailor.warehouse import connect, ensure_raw_schema
from tests.integration.test_erasure import (
    CUSTOMER_HEADER,
    D1,
    D2,
    D3,
    NEW_EMAIL,
    OLD_EMAIL,
    _csv,
    _event,
    _ndjson,
    build_derived,
    world,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.reliability

ANN = "C0000101"
# Every identifier of hers the warehouse knew, as erasure remembers them.
ANN_IDS = {
    "customer_id": [ANN],
    "email": [OLD_EMAIL, NEW_EMAIL],
    "anonymous_id": ["anon-ann-1"],
    "order_id": ["O1"],
}


def resend(landing) -> None:
    """Day 3: Ann again, in every shape, beside Bob (who must stay)."""
    _ndjson(
        landing / "events" / f"dt={D3}" / "events.ndjson",
        [
            _event("r-user", "anon-r1", ANN),
            _event("r-user-lower", "anon-r2", "c0000101"),
            _event("r-user-padded", "anon-r3", " C0000101 "),
            _event(
                "r-traits", "anon-r4", None, typ="identify", traits={"email": OLD_EMAIL.upper()}
            ),
            _event(
                "r-context-traits",
                "anon-r5",
                None,
                context={"traits": {"email": " Ann.New@Example.com"}, "locale": "de-DE"},
            ),
            _event(
                "r-properties",
                "anon-r6",
                None,
                event="Signed Up",
                properties={"email": NEW_EMAIL, "method": "newsletter"},
            ),
            _event("r-anon", "anon-ann-1", None, typ="page"),
            _event(
                "r-order",
                "anon-r7",
                None,
                event="Order Completed",
                properties={"order_id": "O1", "total": 10},
            ),
            _event("bob", "anon-bob", "C0000202"),
            '{"messageId": "r-broken", "userId": "c0000101", "event": ',
        ],
    )
    _csv(
        landing / "customers" / f"dt={D3}" / "customers.csv",
        CUSTOMER_HEADER
        + "C0000777, ANN.NEW@EXAMPLE.COM ,Ann,Lee,f,1990-01-01,DE,Berlin,Europe/Berlin,+49 1,"
        "2026-01-01T00:00:00Z,2026-10-03T08:00:00Z\n"
        + "c0000101,,Ann,Lee,f,1990-01-01,DE,Berlin,Europe/Berlin,+49 1,"
        "2026-01-01T00:00:00Z,2026-10-03T08:00:00Z\n"
        + "C0000202,bob@example.com,Bob,Roe,m,1985-01-01,DE,Berlin,Europe/Berlin,+49 2,"
        "2026-01-01T00:00:00Z,2026-10-03T08:00:00Z\n",
    )
    _csv(
        landing / "orders" / f"dt={D3}" / "orders.csv",
        "order_id,customer_id,ordered_at,status,currency,subtotal,discount,shipping,total,"
        "coupon_code,channel,country,updated_at\n"
        "O9,c0000101,2026-10-03T11:00:00Z,completed,EUR,10,0,0,10,,web,DE,2026-10-03T11:00:00Z\n"
        "O10,C0000202,2026-10-03T12:00:00Z,completed,EUR,20,0,0,20,,web,DE,2026-10-03T12:00:00Z\n",
    )
    _ndjson(
        landing / "consents" / f"dt={D3}" / "consents.ndjson",
        [
            {
                "consent_id": "k-again",
                "subject_id": "c0000101",
                "purpose": "email_marketing",
                "granted": True,
                "consented_at": "2026-10-03T00:00:00Z",
                "source": "web",
            }
        ],
    )


def test_an_erased_person_resent_in_every_shape_is_kept_out(world):  # noqa: F811
    s = world
    assert erasure.run(RunContext(day=D2, settings=s))["requests_applied"] == 1
    resend(s.landing)
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, D3)
        kept = {
            r[0]
            for r in con.execute("select message_id from raw.events where _dt = ?", [D3]).fetchall()
        }
        assert kept == {"bob"}
        tombstones = dict(
            con.execute(
                "select source, count(*) from raw.quarantine "
                "where _dt = ? and reason_code = 'erased_subject' group by 1",
                [D3],
            ).fetchall()
        )
        assert tombstones == {"events": 8, "customers": 2, "orders": 1, "consents": 1}
        (broken,) = con.execute(
            "select record from raw.quarantine where _dt = ? and reason_code = 'malformed_json'",
            [D3],
        ).fetchone()
        assert broken is None  # the broken line naming her lost its text
        assert con.execute(
            "select customer_id from raw.customers where _dt = ?", [D3]
        ).fetchall() == [("C0000202",)]
        assert con.execute("select order_id from raw.orders where _dt = ?", [D3]).fetchall() == [
            ("O10",)
        ]
        # Rebuilt from raw, nothing of her reappears: no phantom customer, audience or
        # recommendation, in any case.
        build_derived(con, D3)
        for table in ("marts.customers", "marts.audiences", "ml.recommendations", "marts.orders"):
            ids = {
                r[0].strip().lower()
                for r in con.execute(f"select customer_id from {table}").fetchall()
            }
            assert ids.isdisjoint({"c0000101", "c0000777"}), table
        (n,) = con.execute(
            "select count(*) from marts.audiences where lower(email) in (?, ?)",
            [OLD_EMAIL, NEW_EMAIL],
        ).fetchone()
        assert n == 0
        tokens = {ANN, OLD_EMAIL, NEW_EMAIL, "anon-ann-1", "C0000777"}
        assert find_traces(con, tokens, include_views=False) == []
    finally:
        con.close()


def _candidate_hashes() -> set[str]:
    """What anyone holding the snapshot can compute from a list of candidate ids: the plain
    sha256 of each, with the domain older versions used, in every normal form."""
    out = set()
    for kind, values in ANN_IDS.items():
        for v in values:
            for form in {v, v.lower(), v.upper()}:
                for domain in ("tailor:erased-subject:v1", erased.HASH_DOMAIN):
                    out.add(hashlib.sha256(f"{domain}|{kind}|{form}".encode()).hexdigest())
    return out


def _snapshot_values(path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        texts = []
        for schema, table in con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE'"
        ).fetchall():
            rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
            texts.append(json.dumps(rows, default=str))
        return "\n".join(texts)
    finally:
        con.close()


def test_erased_ids_cannot_be_recovered_from_the_snapshot_by_hashing_candidates(world):  # noqa: F811
    s = world
    erasure.run(RunContext(day=D2, settings=s))
    publish_snapshot(s)
    data = _snapshot_values(s.snapshot)
    con = duckdb.connect(str(s.snapshot), read_only=True)
    try:
        assert con.execute("select count(*) from ops.erased_subjects").fetchone()[0] == 5
        assert con.execute("select count(*) from ops.erasure_audit").fetchone()[0] == 1
    finally:
        con.close()
    found = [h for h in _candidate_hashes() if h in data]
    assert found == []


def _old_layout(con, key_rows: list[tuple[str, str]]) -> None:
    """The erasure tables as a version before keyed hashes wrote them."""
    con.execute("create schema if not exists ops")
    con.execute(
        "create table ops.erased_subjects (subject_hash varchar not null, kind varchar not null,"
        " erased_on date not null, audit_id varchar not null)"
    )
    for kind, value in key_rows:
        con.execute(
            "insert into ops.erased_subjects values (?, ?, date '2026-09-01', 'a-old')",
            [erased.legacy_subject_hash(kind, value), kind],
        )
    con.execute(
        """
        create table ops.erasure_audit (
            audit_id varchar not null, subject_hash varchar not null, request_id varchar,
            trigger varchar not null, run_date date not null, requested_at timestamp,
            erased_at timestamp not null, identifiers json not null, tables_touched json not null,
            rows_removed bigint not null, rows_anonymized bigint not null,
            landing_files_rewritten bigint not null, landing_records_removed bigint not null,
            export_files_redacted bigint not null, export_rows_redacted bigint not null,
            destinations_notified json not null, snapshot varchar not null)
        """
    )
    con.execute(
        "insert into ops.erasure_audit values ('a-old', ?, 'R0', 'erasure_requests',"
        " date '2026-09-01', null, timestamp '2026-09-01', '{}', '[]', 3, 0, 0, 0, 0, 0, '[]',"
        " 'at_next_publish')",
        [erased.legacy_subject_hash("customer_id", "C0000042")],
    )


def test_unkeyed_hashes_of_an_older_warehouse_move_out_of_reach_and_still_suppress(tmp_path):
    landing = tmp_path / "landing"
    _ndjson(
        landing / "events" / f"dt={D1}" / "events.ndjson",
        [
            _event("old-user", "anon-x1", "C0000042"),
            _event("old-email", "anon-x2", None, typ="identify", traits={"email": "Zoe@x.com"}),
            _event("old-context", "anon-x3", None, context={"traits": {"email": "zoe@x.com"}}),
            _event("bob", "anon-bob", "C0000202"),
        ],
    )
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    ensure_raw_schema(con)
    _old_layout(con, [("customer_id", "C0000042"), ("email", "zoe@x.com")])
    legacy = {
        erased.legacy_subject_hash("customer_id", "C0000042"),
        erased.legacy_subject_hash("email", "zoe@x.com"),
    }

    ingest.load_day(con, landing, D1)  # migrates, then suppresses at load

    assert [r[0] for r in con.execute("select message_id from raw.events").fetchall()] == ["bob"]
    published = json.dumps(
        con.execute("select * from ops.erased_subjects").fetchall()
        + con.execute("select * from ops.erasure_audit").fetchall(),
        default=str,
    )
    assert not any(h in published for h in legacy)
    assert {
        r[0]
        for r in con.execute("select subject_hash from private.legacy_erased_subjects").fetchall()
    } == legacy
    assert con.execute("select status from ops.erasure_audit").fetchall() == [("applied",)]
    # the audit row and the legacy subjects it added still belong together
    assert con.execute(
        "select count(*) from private.legacy_erased_subjects l join ops.erasure_audit a using (audit_id)"
    ).fetchone() == (2,)
    con.close()


def test_the_privacy_key_must_stay_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_PRIVACY_KEY", "first key, long enough")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    erased.ensure_tables(con)
    key = erased.subject_key(con)
    assert key == b"first key, long enough"
    # the warehouse keeps which key, never the key itself
    assert (
        b"first key"
        not in json.dumps(
            con.execute("select * from private.subject_key").fetchall(), default=str
        ).encode()
    )
    monkeypatch.setenv("TAILOR_PRIVACY_KEY", "another key, long enough")
    with pytest.raises(erased.PrivacyKeyError, match="not the key"):
        erased.ensure_tables(con)
    monkeypatch.delenv("TAILOR_PRIVACY_KEY")
    with pytest.raises(erased.PrivacyKeyError, match="not set"):
        erased.ensure_tables(con)
    monkeypatch.setenv("TAILOR_PRIVACY_KEY", "short")
    with pytest.raises(erased.PrivacyKeyError, match="at least 16"):
        erased.ensure_tables(con)
    con.close()


def test_without_a_key_in_the_environment_one_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("TAILOR_PRIVACY_KEY", raising=False)
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    erased.ensure_tables(con)
    first = erased.subject_key(con)
    con.close()
    con = duckdb.connect(str(path))
    assert erased.subject_key(con) == first and len(first) == 32
    assert con.execute("select origin from private.subject_key").fetchall() == [("generated",)]
    con.close()


def test_landing_dot_files_are_purged_too(world):  # noqa: F811
    """The loader skips hidden files (logged as skipped), but they may still hold the
    person: erasure purges them like every other landing file."""
    s = world
    hidden = s.landing / "events" / f"dt={D1}" / ".events-late.ndjson"
    _ndjson(
        hidden, [_event("late-ann", "anon-late", ANN), _event("late-bob", "anon-b2", "C0000202")]
    )
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, D1)
        loaded = {r[0] for r in con.execute("select message_id from raw.events").fetchall()}
        assert not {"late-ann", "late-bob"} & loaded  # the loader skips hidden files
        notes = con.execute(
            "select note from raw.load_log where source_file like '%.events-late.ndjson'"
        ).fetchall()
        assert len(notes) == 1 and "skipped" in notes[0][0]
    finally:
        con.close()
    erasure.run(RunContext(day=D2, settings=s))
    physical.run_pass(s, D2)  # the landing files' part, batched (due by the deadline)
    text = hidden.read_text()
    assert "late-ann" not in text and ANN not in text
    assert "late-bob" in text
    assert hidden in [p for _, p in landing_files(s.landing)]
