"""Publishing the analyst snapshot when things go wrong or data is odd: a killed publish's
partial file, an unwritable folder, contact data in unexpected places (JSON keys at any
depth, schema drift, quarantined lines), the restricted key schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tailor import publish
from tailor.cli import main
from tailor.publish import publish_snapshot
from tailor.warehouse import connect, ensure_raw_schema

pytestmark = pytest.mark.reliability

EMAIL = "Ann.Smith+vip@Example.org"
PHONE = "+49 151 2345 6789"
IP = "203.0.113.77"


@pytest.fixture
def warehouse(tailor_env):
    """A hand-made warehouse: one customer whose contact data sits in columns, in
    Segment JSON (traits, context.ip, nested objects), in schema drift and in the
    quarantine; a staging view over it; a restricted key."""
    s = tailor_env
    con = connect(s.warehouse, settings=s)
    ensure_raw_schema(con)
    con.execute(
        "insert into raw.customers (customer_id, email, first_name, last_name, phone, country,"
        " city, extra, _dt, _batch_id, _source_file, _line, _loaded_at)"
        " values ('C1', ?, 'Ann', 'Smith', ?, 'DE', 'Berlin', ?, current_date, 'b', 'f', 2, now())",
        [EMAIL, PHONE, json.dumps({"street": "Hauptstr. 1", "loyalty_tier": "gold"})],
    )
    event = {
        "messageId": "m1",
        "type": "identify",
        "userId": "C1",
        "traits": {"email": EMAIL, "firstName": "Ann", "name": "Ann Smith", "plan": "pro"},
        "context": {"ip": IP, "traits": {"email": EMAIL.lower()}, "locale": "de-DE"},
    }
    con.execute(
        "insert into raw.events (message_id, type, user_id, traits, context, properties, extra,"
        " _dt, _batch_id, _source_file, _line, _loaded_at)"
        " values ('m1', 'identify', 'C1', ?, ?, ?, ?, current_date, 'b', 'f', 1, now())",
        [
            json.dumps(event["traits"]),
            json.dumps(event["context"]),
            json.dumps({"name": "Product page", "contact": {"phone": PHONE}}),
            json.dumps({"note": f"reach me at {EMAIL}"}),
        ],
    )
    for source, record in (
        ("events", json.dumps(event)[:150]),  # a truncated line
        ("customers", f"C2,{EMAIL},Ann,Smith,,DE,Berlin,{PHONE}"),
    ):
        con.execute(
            "insert into raw.quarantine values (?, current_date, 'b', 'f', 3, 'malformed',"
            " 'bad line', ?, now())",
            [source, record],
        )
    con.execute("create schema staging")
    con.execute(
        "create view staging.stg_crm__customers as select customer_id, lower(trim(email)) as email,"
        " first_name from raw.customers"
    )
    con.execute("create schema private")
    con.execute("create table private.notes as select 'secret' as x")
    con.execute("create view staging.leaky as select * from private.notes")
    con.close()
    return s


def _all_text(path, s) -> str:
    con = connect(path, read_only=True, settings=s)
    try:
        rels = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_catalog = current_database()"
        ).fetchall()
        out = []
        for schema, table in rels:
            for row in con.execute(f'select * from "{schema}"."{table}"').fetchall():
                out += [str(v) for v in row]
        return "\n".join(out)
    finally:
        con.close()


def test_contact_data_is_gone_wherever_it_hides(warehouse):
    s = warehouse
    publish_snapshot(s)
    text = _all_text(s.snapshot, s).lower()
    for needle in (EMAIL.lower(), "ann.smith", "2345 6789", "15123456789", IP, "hauptstr", "ann"):
        assert needle not in text, needle
    con = connect(s.snapshot, read_only=True, settings=s)
    try:
        (cust,) = con.execute("select * from raw.customers").fetchall()
        cols = [d[0] for d in con.description]
        row = dict(zip(cols, cust, strict=True))
        assert row["email"].startswith("email:") and row["phone"].startswith("phone:")
        assert row["first_name"] is None and row["last_name"] is None
        assert row["customer_id"] == "C1" and row["city"] == "Berlin"
        assert json.loads(row["extra"]) == {"street": None, "loyalty_tier": "gold"}
        traits, context, props = con.execute(
            "select traits, context, properties from raw.events"
        ).fetchall()[0]
        assert json.loads(traits) == {"email": None, "firstName": None, "name": None, "plan": "pro"}
        assert json.loads(context) == {"ip": None, "traits": {"email": None}, "locale": "de-DE"}
        # `name` of a product stays: only traits name people
        assert json.loads(props)["name"] == "Product page"
        records = dict(con.execute("select source, record from raw.quarantine").fetchall())
        assert records["customers"] is None
        assert records["events"].startswith('{"messageId": "m1"')
        # the view over the pseudonymised table gives the same pseudonym
        (v_email,) = con.execute("select email from staging.stg_crm__customers").fetchall()[0]
        assert v_email == row["email"]
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        views = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    finally:
        con.close()
    assert "private" not in schemas
    assert "leaky" not in views and "stg_crm__customers" in views


def test_the_key_is_created_once_in_the_restricted_warehouse(warehouse, monkeypatch):
    s = warehouse
    publish_snapshot(s)
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        (secret,) = con.execute("select secret from private.subject_key").fetchall()[0]
    finally:
        con.close()
    assert len(secret) == 32
    expected = publish.pseudonym(bytes(secret), "email", EMAIL)

    def published_email():
        c = connect(s.snapshot, read_only=True, settings=s)
        try:
            return c.execute("select email from raw.customers").fetchall()[0][0]
        finally:
            c.close()

    assert published_email() == expected
    publish_snapshot(s)
    assert published_email() == expected  # stable across publishes
    # another key would orphan the erased subjects' hashes: refused, with a clear error
    monkeypatch.setenv("TAILOR_PRIVACY_KEY", "another key, long enough")
    with pytest.raises(publish.PublishError, match="TAILOR_PRIVACY_KEY is not the key"):
        publish_snapshot(s)
    assert published_email() == expected


def test_full_pii_setting_publishes_contact_data(warehouse, monkeypatch):
    s = warehouse
    monkeypatch.setenv(publish.PII_ENV, "full")
    publish_snapshot(s)
    assert EMAIL in _all_text(s.snapshot, s)
    con = connect(s.snapshot, read_only=True, settings=s)
    try:
        assert "private" not in {
            r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()
        }
    finally:
        con.close()


def test_a_killed_publish_leaves_a_partial_file_that_the_next_one_removes(warehouse):
    s = warehouse
    s.snapshot.parent.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)  # a process that has ended
    partial = s.snapshot.with_name(f".{s.snapshot.name}.{pid}.tmp")
    partial.write_bytes(b"half a database")
    partial.with_name(partial.name + ".wal").write_bytes(b"x")
    alive = s.snapshot.with_name(f".{s.snapshot.name}.{os.getppid()}.tmp")
    alive.write_bytes(b"another publish at work")
    publish_snapshot(s)
    assert not partial.exists() and not partial.with_name(partial.name + ".wal").exists()
    assert alive.exists()  # a running publish's file is left alone
    assert s.snapshot.exists()
    assert not list(s.snapshot.parent.glob(f".{s.snapshot.name}.{os.getpid()}.tmp*"))


def test_an_unwritable_snapshot_folder_is_a_clear_error(warehouse, monkeypatch, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the snapshot folder should be")
    monkeypatch.setenv("TAILOR_SNAPSHOT", str(blocker / "tailor_published.duckdb"))
    result = CliRunner().invoke(main, ["publish"])
    assert result.exit_code == 1
    assert "cannot write the analyst snapshot" in result.output
    assert "warehouse is committed" in result.output
    assert "is a file, not a folder" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
