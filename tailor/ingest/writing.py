"""Writing one checked file: good records into the raw table, the others into
``raw.quarantine`` with their reason, read = loaded + quarantined enforced, and the file's
row in ``raw.load_log``."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import duckdb

from tailor.ingest.outcome import FileLoad, ReconciliationError
from tailor.sources import Source
from tailor.warehouse import raw_columns


def _typed(col: str, typ: str) -> str:
    if typ == "VARCHAR":
        return col
    if typ == "JSON":
        return f"{col}::json"
    return f"cast({col} as {typ})"


def write_candidates(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    day: dt.date | None,
    batch_id: str,
    source_file: str,
    loaded_at: dt.datetime,
    day_expr: str | None = None,
) -> tuple[int, int, int]:
    """Insert ``_cand`` good rows into the raw table and bad ones (plus ``_rej``) into the
    quarantine. Returns (read, loaded, quarantined): read as counted when the file was
    parsed, the other two as counted in the warehouse afterwards."""
    cols = [c for c in raw_columns(source.name) if not c.startswith("_")]
    typed = [_typed(c, source.columns.get(c, "JSON")) for c in cols]
    fixed_day = f"date '{day.isoformat()}'" if day is not None else "null::date"
    dt_cand = day_expr or fixed_day
    dt_rej = fixed_day if day_expr is None else "null::date"
    con.execute(
        f"""
        insert into {source.table} ({", ".join(cols)}, _dt, _batch_id, _source_file, _line, _loaded_at)
        select {", ".join(typed)}, {dt_cand}, ?, ?, _line, ?
        from _cand where _reason_code is null
        """,
        [batch_id, source_file, loaded_at],
    )
    con.execute(
        f"""
        insert into raw.quarantine
        select ?, {dt_cand}, ?, ?, _line, _reason_code, _reason, _record, ?
        from _cand where _reason_code is not null
        union all
        select ?, {dt_rej}, ?, ?, line, reason_code, reason, record, ?
        from _rej
        """,
        [source.name, batch_id, source_file, loaded_at] * 2,
    )
    (read,) = con.execute("select count from _read").fetchone()
    (loaded,) = con.execute(
        f"select count(*) from {source.table} where _batch_id = ? and _source_file = ?",
        [batch_id, source_file],
    ).fetchone()
    (quarantined,) = con.execute(
        "select count(*) from raw.quarantine where source = ? and _batch_id = ? and source_file = ?",
        [source.name, batch_id, source_file],
    ).fetchone()
    if read != loaded + quarantined:
        raise ReconciliationError(
            f"{source_file}: read {read} records but loaded {loaded} and quarantined {quarantined}"
        )
    return read, loaded, quarantined


def log_file(
    con: duckdb.DuckDBPyConnection,
    load: FileLoad,
    batch_id: str,
    started_at: dt.datetime,
    finished_at: dt.datetime,
) -> None:
    con.execute(
        """
        insert into raw.load_log (
            _batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded,
            rows_quarantined, started_at, finished_at, note
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            batch_id,
            load.source,
            load.dt,
            load.source_file,
            load.checksum,
            load.file_bytes,
            load.rows_read,
            load.rows_loaded,
            load.rows_quarantined,
            started_at,
            finished_at,
            load.note,
        ],
    )


def batch_id_for(parts: Iterable[str]) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
