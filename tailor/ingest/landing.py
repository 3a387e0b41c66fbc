"""The landing zone as the loader sees it: ``<source>/dt=YYYY-MM-DD/`` partitions, the
days present, and each entry of a partition either a data file to read or the reason it
is not read (hidden, temporary, unsupported, a folder, a link out of the zone)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from tailor.ingest.outcome import LoadError
from tailor.sources import SOURCES

log = logging.getLogger(__name__)


PARTITION_RE = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
DATA_SUFFIXES = (
    ".ndjson",
    ".ndjson.gz",
    ".jsonl",
    ".jsonl.gz",
    ".json.gz",
    ".csv",
    ".csv.gz",
    ".parquet",
)
# Files a writer leaves while it is still writing, or that are hidden: never read, logged.
TEMPORARY_SUFFIXES = ("~", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp")


def file_checksum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".json.gz")):
        return "ndjson"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise LoadError(f"{path}: unknown file format (expected NDJSON, CSV or Parquet)")


_reported_folders: set[Path] = set()


def _partition_day(folder: Path) -> dt.date | None:
    """The logical day of a ``dt=YYYY-MM-DD`` folder; None (reported once) for a folder
    that looks like a partition but names no real day, such as ``dt=2026-13-45``."""
    m = PARTITION_RE.match(folder.name)
    if m:
        try:
            return dt.date.fromisoformat(m.group(1))
        except ValueError:
            pass
    if folder.name.startswith("dt=") and folder not in _reported_folders:
        _reported_folders.add(folder)
        log.warning("%s: not a partition of a real day (dt=YYYY-MM-DD); skipped", folder)
    return None


def landing_partitions(
    landing: Path, sources: Iterable[str] | None = None
) -> dict[str, list[dt.date]]:
    """The logical days present in the landing zone, per source."""
    out: dict[str, list[dt.date]] = {}
    for name in sources or SOURCES:
        folder = landing / name
        days = []
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and (day := _partition_day(child)) is not None:
                    days.append(day)
        out[name] = sorted(days)
    return out


def skip_reason(path: Path, landing: Path) -> str | None:
    """Why a partition entry is not loaded, or None for a data file the loader reads."""
    name = path.name
    if name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES):
        return "skipped: hidden or temporary file (still being written?), not read"
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "refused: broken symbolic link, not followed"
    if not target.is_relative_to(landing.resolve()):
        # a link to a file, or a partition folder that is itself a link, out of the zone
        return "refused: symbolic link to a file outside the landing zone, not followed"
    if path.is_dir():
        return "skipped: a folder inside a partition, not read"
    if not path.is_file():
        return "skipped: not a regular file, not read"
    if not name.lower().endswith(DATA_SUFFIXES):
        return (
            "skipped: unsupported file type, not read "
            "(expected .ndjson, .jsonl, .json.gz, .csv, optionally gzipped, or .parquet)"
        )
    return None


def partition_entries(landing: Path, source: str, day: dt.date) -> list[tuple[Path, str | None]]:
    """Every entry of a partition folder with its skip reason (None: a data file to load)."""
    folder = landing / source / f"dt={day.isoformat()}"
    if not folder.is_dir():
        return []
    return [(p, skip_reason(p, landing)) for p in sorted(folder.iterdir())]


def partition_files(landing: Path, source: str, day: dt.date) -> list[Path]:
    """The data files of a partition the loader reads."""
    return [p for p, reason in partition_entries(landing, source, day) if reason is None]


def available_days(landing: Path, sources: Iterable[str] | None = None) -> list[dt.date]:
    days: set[dt.date] = set()
    for found in landing_partitions(landing, sources).values():
        days.update(found)
    return sorted(days)
