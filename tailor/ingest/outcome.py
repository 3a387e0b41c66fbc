"""What loading a file gives: a ``FileLoad`` (rows read, loaded and quarantined, or why
the file was not read), and the errors that stop a load with the warehouse unchanged."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class LoadError(RuntimeError):
    """A load could not be carried out; the warehouse is unchanged."""


class ReconciliationError(LoadError):
    """Rows read did not equal rows loaded plus rows quarantined."""


@dataclass(frozen=True)
class FileLoad:
    source: str
    dt: dt.date | None
    source_file: str
    checksum: str
    file_bytes: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    note: str | None = None  # why nothing was read (skipped file, empty file), else None
