"""The run log: one JSON line per event of a run (a task failed, a run succeeded or was
skipped, anomalies found, exports held), appended to ``<TAILOR_DATA>/runs/run_log.jsonl``.

A plain file, so recording works whatever state the warehouse is in; every writer (the
Airflow callbacks in ``tailor.orchestration``, the anomalies stage, ``tailor run``) appends
with :func:`record_event`. :func:`load_run_log` brings the file into ``ops.run_log`` (the
report and the published snapshot read it there). :func:`post_alert` posts to the alert
webhook (``TAILOR_ALERT_WEBHOOK``), :func:`notify` posts one event there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    import duckdb

RUN_LOG_NAME = "run_log.jsonl"
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


def run_log_path(settings: Settings | None = None) -> Path:
    s = settings or get_settings()
    return s.data / "runs" / RUN_LOG_NAME


def record_event(event: Mapping[str, Any], settings: Settings | None = None) -> Path:
    """Append one JSON line to the run log (one ``write`` of a whole line, then fsync)."""
    path = run_log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(jsonable(dict(event)), sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return path


def read_run_log(settings: Settings | None = None) -> list[dict[str, Any]]:
    path = run_log_path(settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def jsonable(value: Any) -> Any:
    """A value as plain JSON types: stage results (stored as XComs, shown in the UI) and
    the outcomes and sample rows of the expectation suites.

    Dates and times as ISO text, decimals as numbers, non-finite floats as null (JSON has
    no NaN), paths and anything else as text, dataclasses as objects.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def notify(event: Mapping[str, Any], url: str | None = None, timeout: float = 10.0) -> bool:
    """POST the event as JSON to ``TAILOR_ALERT_WEBHOOK`` (if set); True if it was accepted."""
    url = url or os.environ.get("TAILOR_ALERT_WEBHOOK")
    if not url:
        return False
    text = (
        f"Tailor {event.get('dag_id')}: {event.get('status')} for day {event.get('day')}"
        f" at task {event.get('task_id')}: {event.get('error')}"
    )
    return post_alert({"text": text, "event": jsonable(dict(event))}, url, timeout)


def post_alert(payload: Mapping[str, Any], url: str, timeout: float = 10.0) -> bool:
    """POST ``payload`` as JSON to the alert webhook ``url``; True if it was accepted."""
    import urllib.request

    body = json.dumps(jsonable(dict(payload))).encode()
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (configured URL)
        return 200 <= resp.status < 300


# --------------------------------------------------------------------------- ops.run_log


def load_run_log(con: duckdb.DuckDBPyConnection, path: Path | str) -> int:
    """Load the run log (JSON lines written by :func:`record_event`) into
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
