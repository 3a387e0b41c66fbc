"""Loading: one file (parse, check, write), one (source, day) partition replaced, one
day in one transaction (``load_day``), a range of days, and which days are loaded."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import duckdb

from tailor import faults
from tailor.ingest.checks import check_parsed
from tailor.ingest.csvfile import parse_csv
from tailor.ingest.landing import available_days, data_format, file_checksum, partition_entries
from tailor.ingest.ndjson import parse_ndjson
from tailor.ingest.outcome import FileLoad, LoadError
from tailor.ingest.parquet import parse_parquet
from tailor.ingest.writing import _now, batch_id_for, log_file, write_candidates
from tailor.privacy.suppression import enforce_suppression
from tailor.sources import LOAD_ORDER, SOURCES, Source
from tailor.warehouse import ensure_raw_schema, transaction

PARSERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Path, Source], None]] = {
    "ndjson": parse_ndjson,
    "csv": parse_csv,
    "parquet": parse_parquet,
}


def _skipped(source: str, day: dt.date, path: Path, rel: str, note: str) -> FileLoad:
    """A partition entry that is not read: logged with 0 rows and the reason. Its bytes are
    summed only when it is a regular file inside the landing zone."""
    readable = not note.startswith("refused") and path.is_file()
    return FileLoad(
        source,
        day,
        rel,
        file_checksum(path) if readable else "",
        path.lstat().st_size,
        0,
        0,
        0,
        note,
    )


def load_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    day: dt.date,
    path: Path,
    rel: str,
    checksum: str,
    batch_id: str,
    started: dt.datetime,
) -> FileLoad:
    """Parse, check and write one data file of a partition."""
    size = path.stat().st_size
    if size == 0:
        return FileLoad(source.name, day, rel, checksum, 0, 0, 0, 0, "empty file: no records")
    try:
        PARSERS[data_format(path)](con, path, source)
    except duckdb.Error as exc:
        # A file DuckDB cannot read at all: nothing of the day is written, and the
        # message names the file.
        raise LoadError(f"{rel}: cannot read the file: {exc}") from exc
    check_parsed(con, source, day=day)
    read, loaded, quarantined = write_candidates(
        con, source, day=day, batch_id=batch_id, source_file=rel, loaded_at=started
    )
    return FileLoad(source.name, day, rel, checksum, size, read, loaded, quarantined)


def load_partition(
    con: duckdb.DuckDBPyConnection, landing: Path, source_name: str, day: dt.date
) -> list[FileLoad]:
    """Replace one (source, day) partition with the files now in the landing zone.

    Runs inside the caller's transaction (see ``load_day``); it only deletes and inserts.
    Entries that are not read (see ``skip_reason``) get a load-log row with their reason.
    """
    source = SOURCES[source_name]
    entries = partition_entries(landing, source_name, day)
    if not entries:
        return []
    prefix = f"{source_name}/dt={day.isoformat()}/"
    files = [(p, file_checksum(p)) for p, reason in entries if reason is None]
    skipped = [(p, reason) for p, reason in entries if reason is not None]
    batch_id = batch_id_for(
        [
            source_name,
            day.isoformat(),
            *(c for _, c in files),
            *(f"skip:{p.name}" for p, _ in skipped),
        ]
    )
    if files:
        con.execute(
            f"delete from {source.table} where _dt = ? and starts_with(_source_file, ?)",
            [day, prefix],
        )
        con.execute(
            "delete from raw.quarantine where source = ? and _dt = ? and starts_with(source_file, ?)",
            [source_name, day, prefix],
        )
        con.execute(
            "delete from raw.load_log where source = ? and _dt = ? and starts_with(source_file, ?)",
            [source_name, day, prefix],
        )
    else:
        # Nothing to read (the data files were cleaned up): keep what was loaded, and only
        # renew the log of what was skipped.
        con.execute(
            "delete from raw.load_log where source = ? and _dt = ? and starts_with(source_file, ?) "
            "and rows_read = 0 and note is not null",
            [source_name, day, prefix],
        )
    loads = []
    for path, reason in skipped:
        now = _now()
        load = _skipped(source_name, day, path, path.relative_to(landing).as_posix(), reason)
        log_file(con, load, batch_id, now, now)
        loads.append(load)
    for path, checksum in files:
        started = _now()
        rel = path.relative_to(landing).as_posix()
        load = load_file(con, source, day, path, rel, checksum, batch_id, started)
        log_file(con, load, batch_id, started, _now())
        faults.maybe_fail("load.after_file")
        loads.append(load)
    return loads


@contextlib.contextmanager
def load_transaction(con: duckdb.DuckDBPyConnection, day: dt.date | None = None) -> Iterator[None]:
    """One load (a day's partitions, or a real export) in one transaction: what the body
    writes is committed together, after the erased people who came back are tombstoned
    again (a re-delivered partition must not bring an erased person back); anything
    raised rolls it all back."""
    with transaction(con):
        yield
        enforce_suppression(con, day)
        faults.maybe_fail("load.before_commit")


def load_day(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    day: dt.date,
    sources: Iterable[str] | None = None,
) -> list[FileLoad]:
    """Load every source's partition for one logical day in a single transaction."""
    ensure_raw_schema(con)
    wanted = [s for s in LOAD_ORDER if sources is None or s in set(sources)]
    loads: list[FileLoad] = []
    with load_transaction(con, day):
        for name in wanted:
            loads += load_partition(con, landing, name, day)
    return loads


def day_loaded(con: duckdb.DuckDBPyConnection, day: dt.date) -> bool:
    """Some raw table holds records of ``day`` (from the landing zone or an adapter)."""
    ensure_raw_schema(con)
    return any(
        con.execute(f"select exists (select 1 from {s.table} where _dt = ?)", [day]).fetchone()[0]
        for s in SOURCES.values()
    )


def loaded_days(warehouse: Path) -> list[dt.date]:
    """The days some raw table of the warehouse holds (a history loaded with
    ``tailor load --from/--to`` or an adapter), read without writing; none if there is no
    warehouse yet."""
    from tailor.warehouse import connect

    if not warehouse.exists():
        return []
    con = connect(warehouse, read_only=True)
    try:
        have = {
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw'"
            ).fetchall()
        }
        days: set[dt.date] = set()
        for s in SOURCES.values():
            if s.name in have:
                days.update(
                    r[0]
                    for r in con.execute(
                        f"select distinct _dt from {s.table} where _dt is not null"
                    ).fetchall()
                )
        return sorted(days)
    finally:
        con.close()


def load_range(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
    sources: Iterable[str] | None = None,
    progress: Callable[[dt.date, list[FileLoad]], None] | None = None,
) -> list[FileLoad]:
    """Load each day in [start, end] that has landing files (all days when both are None)."""
    sources = list(sources) if sources else None
    days = [
        d
        for d in available_days(landing, sources)
        if (start is None or d >= start) and (end is None or d <= end)
    ]
    loads: list[FileLoad] = []
    for day in days:
        done = load_day(con, landing, day, sources)
        loads += done
        if progress:
            progress(day, done)
    return loads
