"""The ops tables exports keep: what was sent where, and when.

``ops.export_log`` has one row per export attempt. Its ``status`` follows the export from
the run to the destination (see ``tailor.exports.publication``): ``staged`` (written in the
run's staging area), then, once the warehouse has committed the night, ``succeeded`` (in
place under the exports folder; for a webhook, delivered too), ``published`` (a webhook
being sent) or ``send_failed`` (not delivered: sent again at the next run's start or
commit). ``replayed`` (an older day redone: published with ``replay: true``, never sent)
and ``written`` (a webhook export made with ``--no-send``) leave the state as it was;
``failed`` exports wrote nothing.

``ops.export_state`` keeps, per destination, every version of every member ever exported
(valid_from / valid_to are export days), so the state "after the last export before D" is
always available: that is the baseline a delta for D is computed against, which is what
makes rerunning D give the same files.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from tailor import erased

EXPORT_LOG_DDL = """
create table if not exists ops.export_log (
    export_id varchar not null,          -- '<destination>:<run date>' (one per destination and day)
    run_id varchar,                      -- the pipeline run that made it, when known
    run_date date not null,              -- the logical day exported
    destination varchar not null,
    audience_id varchar not null,
    format varchar not null,
    mode varchar not null,               -- full | delta
    consent_purpose varchar not null,
    status varchar not null,             -- staged | succeeded | published | send_failed | replayed | written | failed (module docstring)
    baseline_date date,                  -- the export the adds/updates/removes are relative to
    members bigint,                      -- audience members as of the run date (treated + control)
    exported_members bigint,             -- members the destination holds after this export
    rows_written bigint,                 -- data rows across the export's files
    adds bigint,
    updates bigint,
    removes bigint,
    unchanged bigint,
    erasure_removes bigint,              -- removes of erased people (from the erasure outbox)
    held_out_control bigint,             -- A/B control members not exported
    excluded_no_consent bigint,
    excluded_missing_key bigint,
    excluded_capped bigint,              -- adds held back by the frequency cap
    excluded_erased bigint,
    output_dir varchar,
    manifest_sha256 varchar,
    files json,                          -- [{"name", "role", "rows", "bytes", "sha256"}]
    "schema" json,                       -- [{"name", "type", "source"}] of the main file
    http_batches bigint,
    http_attempts bigint,
    error varchar,
    started_at timestamp not null,       -- wall-clock UTC
    finished_at timestamp not null,
    replay boolean,                      -- an older day redone (a later day was already exported)
    staged_dir varchar,                  -- where the run staged the folder until its publication
    published_at timestamp               -- when the folder was moved into place (wall-clock UTC)
)
"""

# Columns added after the first release, for warehouses created before them.
EXPORT_LOG_ADDED = {"replay": "boolean", "staged_dir": "varchar", "published_at": "timestamp"}

# Statuses of exports that recorded the destination's state (what it holds after them).
STATE_STATUSES = ("staged", "published", "send_failed", "succeeded")
_STATE_IN = "(" + ", ".join(f"'{s}'" for s in STATE_STATUSES) + ")"

EXPORT_STATE_DDL = """
create table if not exists ops.export_state (
    destination varchar not null,
    customer_id varchar not null,
    key_fields json not null,            -- the destination's key columns as exported (what a remove sends)
    row_hash varchar not null,           -- sha256 of the exported row
    valid_from date not null,            -- export day that sent this version
    valid_to date                        -- export day that changed or removed it; null while current
)
"""

MESSAGE_LOG_DDL = """
create table if not exists ops.message_log (
    send_date date not null,             -- export day
    destination varchar not null,
    audience_id varchar not null,
    customer_id varchar not null         -- one row per person added to a capped destination
)
"""

HOLDOUT_DDL = """
create table if not exists ops.holdout_assignments (
    send_date date not null,             -- export day
    destination varchar not null,
    audience_id varchar not null,
    experiment_id varchar not null,
    customer_id varchar not null,
    is_control boolean not null,         -- held out (never exported for this audience)
    is_sent boolean not null             -- in the destination after this export (treated only)
)
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ops")
    for ddl in (EXPORT_LOG_DDL, EXPORT_STATE_DDL, MESSAGE_LOG_DDL, HOLDOUT_DDL):
        con.execute(ddl)
    for column, typ in EXPORT_LOG_ADDED.items():
        con.execute(f"alter table ops.export_log add column if not exists {column} {typ}")
    erased.ensure_tables(con)


def baseline_date(con: duckdb.DuckDBPyConnection, destination: str, day: dt.date) -> dt.date | None:
    """The day of the last export to the destination before ``day`` that recorded its state."""
    (d,) = con.execute(
        "select max(run_date) from ops.export_log"
        f" where destination = ? and status in {_STATE_IN} and run_date < ?",
        [destination, day],
    ).fetchone()
    return d


def later_export(con: duckdb.DuckDBPyConnection, destination: str, day: dt.date) -> dt.date | None:
    """The first later day whose export recorded the destination's state: exporting ``day``
    then is a replay."""
    (d,) = con.execute(
        "select min(run_date) from ops.export_log"
        f" where destination = ? and status in {_STATE_IN} and run_date > ?",
        [destination, day],
    ).fetchone()
    return d


def baseline(
    con: duckdb.DuckDBPyConnection, destination: str, day: dt.date
) -> dict[str, tuple[str, str]]:
    """customer_id -> (key_fields JSON, row_hash): what the destination held before ``day``."""
    rows = con.execute(
        """
        select customer_id, key_fields::varchar, row_hash
        from ops.export_state
        where destination = ? and valid_from < ? and (valid_to is null or valid_to >= ?)
        """,
        [destination, day, day],
    ).fetchall()
    return {c: (k, h) for c, k, h in rows}


def messages_before(
    con: duckdb.DuckDBPyConnection,
    customers: list[str],
    day: dt.date,
    window_days: int,
    earlier_destinations: list[str],
) -> dict[str, int]:
    """Messages each customer already got in the cap window: the previous window_days - 1
    days, plus today's from destinations that come earlier in the file."""
    if not customers:
        return {}
    first = day - dt.timedelta(days=window_days - 1)
    rows = con.execute(
        """
        with wanted as (select unnest(?::varchar[]) as customer_id)
        select m.customer_id, count(*)
        from ops.message_log m
        join wanted w on w.customer_id = m.customer_id
        where (m.send_date >= ? and m.send_date < ?)
           or (m.send_date = ? and m.destination in (select unnest(?::varchar[])))
        group by m.customer_id
        """,
        [customers, first, day, day, earlier_destinations],
    ).fetchall()
    return dict(rows)
