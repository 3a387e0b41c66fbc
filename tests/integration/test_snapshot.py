"""The analyst snapshot of a warehouse built by the pipeline: no direct identifier in any
column of any table, stable pseudonyms, the full-PII setting, and a file the DuckDB CLI
shipped with the project opens read-only."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tailor import publish
from tailor.pipeline import run_day
from tailor.publish import publish_snapshot
from tailor.sqlsafe import quote_ident, quote_literal
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.warehouse import connect
from tests.conftest import point_tailor_at

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """`tailor generate --customers 50 --products 20 --days 2 --seed 3`, then the nightly
    run of the first day (which publishes the snapshot)."""
    root = tmp_path_factory.mktemp("snapshot")
    with pytest.MonkeyPatch.context() as mp:
        point_tailor_at(mp, root / "data")
        mp.delenv("TAILOR_DESTINATIONS", raising=False)
        from tailor.settings import get_settings

        s = get_settings()
        generate(
            GeneratorConfig(
                customers=50, products=20, days=2, start=START, seed=3, dirt=DirtConfig()
            ),
            s.landing,
            s.ground_truth,
        )
        run_day(START, s, report=False)
        yield s, mp


def _identifiers(s) -> dict[str, set[str]]:
    """The people's emails, phones (as delivered and without separators), IP addresses
    and names, read from the restricted warehouse."""
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        people = con.execute(
            "select email, phone, first_name, last_name from raw.customers"
        ).fetchall()
        ips = con.execute(
            "select distinct context->>'ip' from raw.events where context->>'ip' is not null"
        ).fetchall()
    finally:
        con.close()
    return {
        "email": {e.strip().lower() for e, *_ in people if e and e.strip()},
        "phone": {p.strip() for _, p, *_ in people if p and p.strip()}
        | {re.sub(r"[^0-9+]", "", p) for _, p, *_ in people if p and p.strip()},
        "ip": {ip for (ip,) in ips},
        "name": {n.strip() for *_, f, la in people for n in (f, la) if n and n.strip()},
    }


def _found(path: Path, s, ids: dict[str, set[str]]) -> list[tuple[str, str, str, int]]:
    """(kind, table, column, rows) wherever an identifier occurs in the database: every
    column of every table and view, cast to text (a column that cannot be cast fails). Emails, phones and IPs as substrings
    (any case); names as whole words (a name is often part of another word)."""
    con = connect(path, read_only=True, settings=s)
    try:
        cols = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where table_catalog = current_database() order by all"
        ).fetchall()
        patterns = {
            kind: ("(?i)" if kind != "name" else "")
            + (r"\b(" if kind == "name" else "(")
            + "|".join(re.escape(v) for v in sorted(values))
            + (r")\b" if kind == "name" else ")")
            for kind, values in ids.items()
            if values
        }
        by_relation: dict[tuple[str, str], list[str]] = {}
        for schema, table, col in cols:
            by_relation.setdefault((schema, table), []).append(col)
        hits = []
        for (schema, table), names in by_relation.items():
            rel = f"{quote_ident(schema)}.{quote_ident(table)}"
            # every column of a row as one text: one regex pass per kind and relation
            row_text = (
                "concat_ws(chr(31), " + ", ".join(f"{quote_ident(c)}::varchar" for c in names) + ")"
            )
            counts = ", ".join(
                f"count(*) filter (where regexp_matches(t, {quote_literal(p)}))"
                for p in patterns.values()
            )
            row = con.execute(
                f"select {counts} from (select {row_text} as t from {rel})"
            ).fetchall()
            for kind, n in zip(patterns, row[0], strict=True):
                if not n:
                    continue
                for col in names:  # which columns
                    (m,) = con.execute(
                        f"select count(*) from {rel} where regexp_matches("
                        f"{quote_ident(col)}::varchar, {quote_literal(patterns[kind])})"
                    ).fetchall()[0]
                    if m:
                        hits.append((kind, f"{schema}.{table}", col, m))
        return hits
    finally:
        con.close()


def test_the_snapshot_holds_no_email_phone_ip_or_name(world):
    s, _ = world
    ids = _identifiers(s)
    assert all(ids.values()), {k: len(v) for k, v in ids.items()}
    # the scan does find them where they are: the restricted warehouse
    assert {kind for kind, *_ in _found(s.warehouse, s, ids)} == {"email", "phone", "ip", "name"}
    assert _found(s.snapshot, s, ids) == []
    # ... and the key behind the pseudonyms stays in the restricted warehouse
    con = connect(s.snapshot, read_only=True, settings=s)
    try:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
    finally:
        con.close()
    assert "private" not in schemas
    assert {"raw", "staging", "intermediate", "marts", "ml", "ops"} <= schemas


def test_exports_still_hold_the_emails_of_consenting_people(world):
    s, _ = world
    emails = _identifiers(s)["email"]
    exported = set()
    for path in s.exports.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".jsonl"):
            text = path.read_text().lower()
            exported |= {e for e in emails if e in text}
    assert exported, "no export file holds an email"


def test_pseudonyms_are_stable_and_keep_counts_and_joins(world):
    s, _ = world
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        (distinct,) = con.execute(
            "select count(distinct lower(trim(email))) from marts.customers"
        ).fetchall()[0]
    finally:
        con.close()

    def snapshot_emails():
        c = connect(s.snapshot, read_only=True, settings=s)
        try:
            return c.execute(
                "select customer_id, email from marts.customers order by 1"
            ).fetchall(), c.execute(
                "select count(*) from marts.customer_360 c join marts.customers m using (email)"
                " where c.customer_id = m.customer_id"
            ).fetchall()[0][0]
        finally:
            c.close()

    first, joined = snapshot_emails()
    assert len({e for _, e in first if e}) == distinct
    assert all(e is None or re.fullmatch(r"email:[0-9a-f]{32}", e) for _, e in first)
    assert joined == sum(1 for _, e in first if e)
    publish_snapshot(s)
    assert snapshot_emails()[0] == first  # the same key the next night


def test_views_are_recreated_and_tables_keep_their_rows(world):
    s, _ = world

    def counts(path):
        c = connect(path, read_only=True, settings=s)
        try:
            rels = c.execute(
                "select table_schema, table_name, table_type from information_schema.tables"
                " where table_catalog = current_database() and table_schema <> ? order by all",
                ["private"],
            ).fetchall()
            return {
                (sch, t, typ): c.execute(
                    f"select count(*) from {quote_ident(sch)}.{quote_ident(t)}"
                ).fetchall()[0][0]
                for sch, t, typ in rels
            }
        finally:
            c.close()

    assert counts(s.snapshot) == counts(s.warehouse)


def test_full_pii_snapshot_for_teams_allowed_one(world):
    s, mp = world
    emails = _identifiers(s)["email"]
    mp.setenv(publish.PII_ENV, "full")
    try:
        publish_snapshot(s)
        assert {k for k, *_ in _found(s.snapshot, s, {"email": emails})} == {"email"}
    finally:
        mp.delenv(publish.PII_ENV)
        publish_snapshot(s)
    assert _found(s.snapshot, s, {"email": emails}) == []


def _duckdb_cli() -> Path:
    """The DuckDB CLI of the project's environment (the duckdb-cli package);
    TAILOR_DUCKDB_CLI names another one."""
    beside = Path(sys.executable).parent / "duckdb"
    if beside.exists():
        return beside
    other = os.environ.get("TAILOR_DUCKDB_CLI")
    if other and Path(other).exists():
        return Path(other)
    pytest.skip(
        f"no DuckDB CLI at {beside}: the environment predates the duckdb-cli dependency"
        " (run `make install`)"
    )


def test_the_duckdb_cli_of_the_project_opens_the_snapshot_read_only(world):
    s, _ = world
    cli = _duckdb_cli()
    version = subprocess.run(
        [str(cli), "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert version.startswith("v1.5."), version  # the release the README names
    done = subprocess.run(
        [
            str(cli),
            "-readonly",
            "-csv",
            str(s.snapshot),
            "-c",
            "select count(distinct email) as people from marts.customers;"
            " select count(*) as crm_rows from staging.stg_crm__customers;",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "people" and int(lines[1]) > 0, done.stdout
    assert lines[2] == "crm_rows" and int(lines[3]) > 0, done.stdout
    # the file is left as the publish wrote it: read-only means no WAL, no change
    assert not s.snapshot.with_name(s.snapshot.name + ".wal").exists()


def test_tailor_sql_without_a_query_opens_the_duckdb_shell_read_only(world):
    s, _ = world
    cli = _duckdb_cli()
    env = {**os.environ, "PATH": f"{cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "tailor.cli", "sql"],
        input="select count(*) as customers from marts.customers;\n"
        "create table marts.scratch as select 1;\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert "customers" in done.stdout, done.stdout + done.stderr
    assert "read-only" in (done.stdout + done.stderr).lower()  # writes are refused
