"""Landing retention: the nightly run deletes landing partitions (``<source>/dt=D``)
older than ``erasure.landing_retention_days`` once every file of them is in
``raw.load_log`` (:func:`expire_landing`), and records each one in
``ops.landing_retention``. ``raw.*`` keeps every record read (loaded, or quarantined with
its text), so what goes is a second copy; what stays bounds the physical erasure pass."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tailor.consent import has_table
from tailor.sources import SOURCES
from tailor.warehouse import transaction

RETENTION_DDL = """
create table if not exists ops.landing_retention (
    run_date date not null,           -- the night that deleted the partition
    source varchar not null,
    partition_date date not null,     -- the dt= of the folder
    files bigint not null,
    bytes bigint not null,
    deleted_at timestamp not null     -- wall-clock UTC
)
"""


@dataclass
class Expired:
    source: str
    day: dt.date
    path: Path
    files: int
    bytes: int


def _partition_day(name: str) -> dt.date | None:
    if not name.startswith("dt="):
        return None
    try:
        return dt.date.fromisoformat(name[3:])
    except ValueError:
        return None


def expired_partitions(
    con: duckdb.DuckDBPyConnection, landing: Path, day: dt.date, retention_days: int
) -> list[Expired]:
    """The partitions of the known sources older than ``retention_days`` before ``day``
    whose every file was loaded (its path, relative to the landing zone, in
    ``raw.load_log``). A partition with a file the warehouse never read is kept."""
    cutoff = day - dt.timedelta(days=retention_days)
    if not landing.is_dir() or not has_table(con, "raw", "load_log"):
        return []
    loaded = {
        r[0]
        for r in con.execute(
            "select distinct source_file from raw.load_log where _dt < ?", [cutoff]
        ).fetchall()
    }
    out = []
    for source in SOURCES:
        folder = landing / source
        if not folder.is_dir():
            continue
        for part in sorted(folder.iterdir()):
            when = _partition_day(part.name)
            if when is None or when >= cutoff or not part.is_dir():
                continue
            files = [p for p in part.rglob("*") if p.is_file()]
            if not files or any(p.relative_to(landing).as_posix() not in loaded for p in files):
                continue
            size = sum(p.stat().st_size for p in files)
            out.append(Expired(source, when, part, len(files), size))
    return out


def expire_landing(
    con: duckdb.DuckDBPyConnection, landing: Path, day: dt.date, retention_days: int | None
) -> list[Expired]:
    """Delete the :func:`expired_partitions` (none when ``retention_days`` is None) and
    record them in ``ops.landing_retention``, in one transaction of ``con``: when the
    record cannot be written, no folder is deleted."""
    if retention_days is None:
        return []
    gone = expired_partitions(con, landing, day, retention_days)
    if not gone:
        return []
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("create schema if not exists ops")
    con.execute(RETENTION_DDL)
    with transaction(con):
        con.executemany(
            "insert into ops.landing_retention values (?, ?, ?, ?, ?, ?)",
            [[day, e.source, e.day, e.files, e.bytes, now] for e in gone],
        )
        for e in gone:
            shutil.rmtree(e.path)
    return gone
