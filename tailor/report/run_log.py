"""The run log as a table: ``load_run_log`` loads the JSON lines of the run log file into
``ops.run_log``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

RUN_LOG_TABLE = "ops.run_log"

RUN_LOG_DDL = f"""
create table if not exists {RUN_LOG_TABLE} (
    event_id varchar not null,      -- sha256 of the event's JSON line (the key: reloading replaces)
    logged_at timestamp,            -- the event's "at": when it was recorded (UTC)
    status varchar not null,        -- task_failed | run_failed | run_succeeded | ...
    dag_id varchar,
    dag_run_id varchar,
    day date,                       -- the logical day of the run
    task_id varchar,
    try_number integer,
    error varchar,
    record json not null,           -- the whole event as logged
    loaded_at timestamp not null    -- UTC
)
"""


def load_run_log(con: duckdb.DuckDBPyConnection, path: Path | str) -> int:
    """Load the run log (JSON lines written by ``tailor.orchestration.record_event``) into
    ``ops.run_log``. Idempotent: an event's key is the sha256 of its canonical JSON, and
    loading replaces the rows of the keys read (older events no longer in the file stay).
    Lines that are not JSON objects are skipped. Returns the number of events read."""
    path = Path(path)
    con.execute("create schema if not exists ops")
    con.execute(RUN_LOG_DDL)
    if not path.exists():
        return 0
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows: dict[str, tuple] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        canonical = json.dumps(event, sort_keys=True, default=str)
        key = hashlib.sha256(canonical.encode()).hexdigest()
        rows[key] = (
            key,
            _parse_ts(event.get("at")),
            str(event.get("status") or "unknown"),
            _str_or_none(event.get("dag_id")),
            _str_or_none(event.get("dag_run_id")),
            _parse_day(event.get("day")),
            _str_or_none(event.get("task_id")),
            event.get("try_number") if isinstance(event.get("try_number"), int) else None,
            _str_or_none(event.get("error")),
            canonical,
            now,
        )
    con.execute("begin transaction")
    try:
        if rows:
            con.execute("create temp table _run_log_keys (event_id varchar)")
            con.executemany("insert into _run_log_keys values (?)", [[k] for k in rows])
            con.execute(
                f"delete from {RUN_LOG_TABLE} where event_id in (select event_id from _run_log_keys)"
            )
            con.execute("drop table _run_log_keys")
            con.executemany(
                f"insert into {RUN_LOG_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [list(r) for r in rows.values()],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)


def _parse_ts(v: Any) -> dt.datetime | None:
    if not isinstance(v, str):
        return None
    try:
        ts = dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts


def _parse_day(v: Any) -> dt.date | None:
    if not isinstance(v, str):
        return None
    try:
        return dt.date.fromisoformat(v[:10])
    except ValueError:
        return None
