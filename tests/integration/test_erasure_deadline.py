"""No trace of an erased person outlives the physical deadline (issue 25, point 3).

The tiny warehouse of ``test_erasure`` (Ann, C0000101, with a CRM record whose email
changed, consents, an order, events, a quarantined line and an export; her erasure
request R1 arrived on D2, asked for at 2026-10-02 09:00 UTC). Nights then run as the
scheduler runs them (a working copy: load, the erase stage, commit; the snapshot
published; the exports of the day): the night the request is applied she is gone from
every table, the snapshot and the day's exports while her landing records wait; with a
deadline of 7 days the night of D8 (one night ahead of D9) runs the physical pass, and
after it not one byte of her is left in the landing zone, the warehouse file (free blocks
included) or the snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tailor import exports, ingest
from tailor.exports import load_config
from tailor.privacy.traces import find_traces, landing_traces
from tailor.publish import publish_snapshot
from tailor.warehouse import connect
from tests.integration.test_erasure import (  # noqa: F401  (world is a fixture)
    CONFIG,
    D2,
    NEW_EMAIL,
    OLD_EMAIL,
    TOKENS,
    _csv,
    build_derived,
    night_copy,
    world,
)

pytestmark = pytest.mark.integration

DUE = D2 + dt.timedelta(days=7)  # the request's day + erasure.physical_deadline_days
FLUSH_NIGHT = DUE - dt.timedelta(days=1)  # one night ahead of the deadline
# Ann's identifiers as bytes in any file: the emails and the customer id are what DuckDB
# stores as plain strings (the other tokens are checked through the tables).
RAW_BYTES = [OLD_EMAIL.encode(), NEW_EMAIL.encode(), b"C0000101"]


def _deliver(landing: Path, day: dt.date) -> None:
    """A quiet day: Bob's CRM record again (every night has something to load)."""
    _csv(
        landing / "customers" / f"dt={day}" / "customers.csv",
        "customer_id,email,first_name,last_name,gender,birth_date,country,city,timezone,phone,"
        "created_at,updated_at\n"
        f"C0000202,bob@example.com,Bob,Roe,m,1985-01-01,DE,Berlin,Europe/Berlin,+49 2,"
        f"2026-01-01T00:00:00Z,{day}T06:00:00Z\n",
    )


def _night(s, day: dt.date) -> dict:
    """One night as `tailor run` runs its load and erase stages, then the snapshot and the
    day's exports."""
    _deliver(s.landing, day)
    with night_copy(s, day) as (work, out):
        con = connect(work.warehouse, settings=work)
        try:
            build_derived(con, day)
        finally:
            con.close()
    publish_snapshot(s)
    exports.export_all(day, s, config=load_config(CONFIG))
    return out


def _mtimes(landing: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}


def _holding(path: Path) -> list[bytes]:
    data = path.read_bytes().lower()
    return [b for b in RAW_BYTES if b.lower() in data]


def _audit(s) -> tuple:
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return con.execute(
            "select physical_due_on, physically_erased_on, landing_records_removed"
            " from ops.erasure_audit where request_id = 'R1'"
        ).fetchone()
    finally:
        con.close()


def _exported_lines(s, day: dt.date) -> list[str]:
    """The day's export files as lines, the delete instructions left out."""
    lines = []
    for dest in load_config(CONFIG).destinations:
        for path in sorted((dest.output_dir(s) / f"dt={day}").iterdir()):
            if "removes" in path.name:
                continue
            lines += [
                x for x in path.read_text().splitlines() if not ('"op"' in x and "delete" in x)
            ]
    return lines


def test_gone_from_tables_at_once_and_from_every_byte_by_the_deadline(world):  # noqa: F811
    s = world
    d3 = D2 + dt.timedelta(days=1)
    landing_before = _mtimes(s.landing)

    out = _night(s, d3)

    # That night: applied to every table, nothing of her in the warehouse's tables or
    # views, the snapshot (its bytes included: it is written afresh), the day's exports.
    assert out["requests_applied"] == 1
    for path in (s.warehouse, s.snapshot):
        con = connect(path, read_only=True, settings=s)
        try:
            assert find_traces(con, TOKENS) == [], path
        finally:
            con.close()
    assert _holding(s.snapshot) == []
    exported = "\n".join(_exported_lines(s, d3)).lower()
    assert exported and not any(t.lower() in exported for t in TOKENS)
    # ... and no landing file rewritten, no compaction: her records wait in the landing
    # zone (but for the request's row, removed with the commit), her bytes in free blocks
    # of the warehouse file.
    after = _mtimes(s.landing)
    assert {p: after[p] for p in landing_before if "erasure_requests" not in p.parts} == {
        p: m for p, m in landing_before.items() if "erasure_requests" not in p.parts
    }
    assert landing_traces(s.landing, TOKENS)
    assert _holding(s.warehouse)  # (so the byte check below can see them)
    assert "physical" not in out and out["physical_due_on"] == [str(DUE)]
    assert _audit(s)[:2] == (DUE, None)

    # The nights before the deadline night do no physical work.
    day = d3 + dt.timedelta(days=1)
    while day < FLUSH_NIGHT:
        out = _night(s, day)
        assert "physical" not in out and out["physical_pending_due_on"] == str(DUE), day
        assert landing_traces(s.landing, TOKENS), day
        day += dt.timedelta(days=1)

    # The night one ahead of the deadline runs the pass: nothing of her is left anywhere.
    out = _night(s, FLUSH_NIGHT)
    assert out["physical"]["requests"] == 1 and out["physical"]["compacted"]
    assert out["physical_pending_due_on"] is None
    assert landing_traces(s.landing, TOKENS) == []
    assert _holding(s.warehouse) == []
    assert _holding(s.snapshot) == []
    for path in (s.warehouse, s.snapshot):
        con = connect(path, read_only=True, settings=s)
        try:
            assert find_traces(con, TOKENS) == [], path
            # the sealed identifiers went with the pass
            if path == s.warehouse:
                assert con.execute("select count(*) from private.erasure_pending").fetchone() == (
                    0,
                )
        finally:
            con.close()
    due, gone_on, landing_removed = _audit(s)
    assert (due, gone_on) == (DUE, FLUSH_NIGHT) and gone_on <= due
    assert landing_removed >= 10

    # The next night finds nothing more to do.
    out = _night(s, DUE)
    assert "physical" not in out and out["physical_pending_due_on"] is None


def test_tailor_erase_flush_runs_the_pending_pass_now(world):  # noqa: F811
    from tailor.cli import main

    s = world
    d3 = D2 + dt.timedelta(days=1)
    _night(s, d3)
    assert landing_traces(s.landing, TOKENS)
    assert _holding(s.warehouse)  # her rows deleted, their bytes still in free blocks

    result = CliRunner().invoke(main, ["erase", "--flush", "--date", str(d3)])
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["requests"] == 1 and done["landing_records"] >= 10
    assert landing_traces(s.landing, TOKENS) == []
    assert _holding(s.warehouse) == [] and _holding(s.snapshot) == []
    assert _audit(s)[:2] == (DUE, d3)

    # nothing pending: a second flush does nothing, not even a compaction
    result = CliRunner().invoke(main, ["erase", "--flush", "--date", str(d3)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["compacted"] is False
    assert (
        "--flush takes no"
        in CliRunner().invoke(main, ["erase", "--flush", "--email", OLD_EMAIL]).output
    )


def test_tailor_erase_defer_leaves_the_files_to_the_pass(world):  # noqa: F811
    from tailor.cli import main

    s = world
    d3 = D2 + dt.timedelta(days=1)
    bob = {"C0000202", "bob@example.com"}
    landing_before = _mtimes(s.landing)
    result = CliRunner().invoke(
        main, ["erase", "--customer-id", "C0000202", "--defer", "--date", str(d3)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["physical_due_on"] == str(d3 + dt.timedelta(days=7))
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        assert find_traces(con, bob) == []
    finally:
        con.close()
    assert _mtimes(s.landing) == landing_before  # not one landing file touched
    assert landing_traces(s.landing, bob)
    # `tailor erase` of someone else cleans the pending person's files in the same pass
    result = CliRunner().invoke(main, ["erase", "--email", OLD_EMAIL, "--date", str(d3)])
    assert result.exit_code == 0, result.output
    assert landing_traces(s.landing, bob) == []
    assert b"bob@example.com" not in s.warehouse.read_bytes()


def test_landing_partitions_past_retention_go_once_loaded_and_are_recorded(tailor_env):
    from tailor.privacy.retention import expire_landing

    s = tailor_env
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(6)]
    for day in days:
        _deliver(s.landing, day)
    con = connect(s.warehouse, settings=s)
    try:
        for day in days[1:]:  # the first day was delivered but never loaded
            ingest.load_day(con, s.landing, day)
        # a file delivered late into a loaded partition, never read by the warehouse
        late = s.landing / "customers" / f"dt={days[2]}" / "customers-late.csv"
        late.write_text("customer_id,email\n")
        # nothing with no retention
        assert expire_landing(con, s.landing, days[5], None) == []
        gone = expire_landing(con, s.landing, days[5], 1)
        assert [(e.source, e.day) for e in gone] == [("customers", days[1]), ("customers", days[3])]
        assert sorted(p.name for p in (s.landing / "customers").iterdir()) == [
            f"dt={d}" for d in (days[0], days[2], days[4], days[5])
        ]
        assert con.execute(
            "select run_date, source, partition_date, files from ops.landing_retention"
            " order by partition_date"
        ).fetchall() == [(days[5], "customers", days[1], 1), (days[5], "customers", days[3], 1)]
        # the rows stay in raw
        (n,) = con.execute("select count(*) from raw.customers where _dt = ?", [days[1]]).fetchone()
        assert n == 1
        assert expire_landing(con, s.landing, days[5], 1) == []  # nothing more
    finally:
        con.close()
