"""Access to the DuckDB warehouse.

DuckDB allows one read-write process or many read-only ones. The pipeline is the only
writer; analysts read the published snapshot (see ``publish``). Every connection made in
one process uses the same configuration, which DuckDB requires for a shared file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from tailor.settings import Settings, get_settings
from tailor.sources import META_COLUMNS, SOURCES
from tailor.sqlsafe import quote_ident

SCHEMAS = ("raw", "ops")

QUARANTINE_DDL = """
create table if not exists raw.quarantine (
    source varchar not null,          -- the source (raw table) the record was meant for
    _dt date,                         -- landing partition
    _batch_id varchar not null,
    source_file varchar not null,
    line bigint,                      -- line (NDJSON) or physical line of the record (CSV), 1-based
    reason_code varchar not null,     -- tailor.ingest.REASON_CODES: malformed_json | duplicate_key | malformed_csv | invalid_encoding | record_too_large | missing_required_field | invalid_timestamp | invalid_value | non_positive_price | negative_price | erased_subject
    reason varchar not null,          -- human-readable detail
    record varchar,                   -- the original text (or the record as JSON)
    _loaded_at timestamp not null
)
"""

LOAD_LOG_DDL = """
create table if not exists raw.load_log (
    _batch_id varchar not null,
    source varchar not null,
    _dt date,
    source_file varchar not null,
    checksum varchar not null,        -- sha256 of the file's bytes
    file_bytes bigint not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    started_at timestamp not null,
    finished_at timestamp not null,
    note varchar                      -- why a file was not read (skipped, refused, empty); null when loaded
)
"""


class WarehouseLocked(RuntimeError):
    """Another process holds the DuckDB file in a way that excludes this connection; the
    message says which process and what to do."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def lock_message(target: Path, error: str, read_only: bool, settings: Settings) -> str | None:
    """The operator's explanation of DuckDB's "Could not set lock on file" error, or None
    for any other error."""
    if "Could not set lock on file" not in error:
        return None
    m = _LOCK_HOLDER.search(error)
    holder = f"{Path(m['program']).name}, PID {m['pid']}" if m else "another process"
    snapshot = f"the analyst snapshot {settings.snapshot} (`tailor sql`)"
    if read_only:
        return (
            f"{target} is being written by another program ({holder}), e.g. a run:"
            f" wait for it to finish, or query {snapshot}"
        )
    return (
        f"{target} is open in another program ({holder}) and DuckDB lets one program"
        " write a file or several read it, never both: close that session (a duckdb"
        f" shell, a notebook, a SQL client) and try again; analysts should query {snapshot}"
    )


def connect(
    path: Path | str | None = None,
    *,
    read_only: bool = False,
    settings: Settings | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (or another DuckDB file) with Tailor's configuration.

    The memory limit comes with a temp directory so that large sorts and joins spill to
    disk instead of failing. A file another process holds raises :class:`WarehouseLocked`.
    """
    s = settings or get_settings()
    target = Path(path) if path is not None else s.warehouse
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(target), read_only=read_only, config=duckdb_config(s))
    except duckdb.IOException as exc:
        message = lock_message(target, str(exc), read_only, s)
        if message is None:
            raise
        raise WarehouseLocked(message) from None


CHECKPOINT_THRESHOLD = "1GB"


def duckdb_config(settings: Settings | None = None) -> dict[str, str | int]:
    """The configuration every connection to a Tailor DuckDB file uses (dbt's profile and
    the SQLAlchemy engine for Great Expectations pass the same values)."""
    s = settings or get_settings()
    s.duckdb_temp.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | int] = {
        "memory_limit": s.duckdb_memory_limit,
        "temp_directory": str(s.duckdb_temp),
        # a run writes a private copy and checkpoints it once before the commit; the
        # default (checkpoint whenever the WAL passes 16 MB) rewrote tables in the middle
        # of dbt's model commits, several times a night
        "checkpoint_threshold": CHECKPOINT_THRESHOLD,
    }
    if s.duckdb_threads:
        config["threads"] = s.duckdb_threads
    return config


@contextlib.contextmanager
def session(
    path: Path | str | None = None, *, read_only: bool = False, settings: Settings | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only, settings=settings)
    try:
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything written in the body commits together; anything raised (an interrupt
    too) rolls it all back and goes on up."""
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def raw_table_ddl(name: str) -> str:
    source = SOURCES[name]
    cols = dict(source.columns)
    cols.setdefault("extra", "JSON")  # fields the contract does not know (schema drift)
    cols.update(META_COLUMNS)
    body = ",\n    ".join(f"{c} {t}" for c, t in cols.items())
    return f"create table if not exists raw.{name} (\n    {body}\n)"


def raw_columns(name: str) -> list[str]:
    cols = list(SOURCES[name].columns)
    if "extra" not in cols:
        cols.append("extra")
    return cols + list(META_COLUMNS)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for name in SOURCES:
        con.execute(raw_table_ddl(name))
    con.execute(QUARANTINE_DDL)
    con.execute(LOAD_LOG_DDL)
    # warehouses created before the note column
    con.execute("alter table raw.load_log add column if not exists note varchar")


def table_counts(
    con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] | None = None
) -> list[tuple[str, str, int]]:
    """(schema, table, rows) for every base table, optionally limited to some schemas."""
    rows = con.execute(
        """
        select table_schema, table_name
        from information_schema.tables
        where table_type = 'BASE TABLE' and table_catalog = current_database()
        order by 1, 2
        """
    ).fetchall()
    out = []
    for schema, table in rows:
        if schemas and schema not in schemas:
            continue
        (n,) = con.execute(
            f"select count(*) from {quote_ident(schema)}.{quote_ident(table)}"
        ).fetchone()
        out.append((schema, table, n))
    return out
