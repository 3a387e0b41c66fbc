"""Loss-free loading of the landing zone into ``raw.*``.

Every record read from a file ends up either in its raw table or in ``raw.quarantine``
with the file, the line and a reason; ``raw.load_log`` keeps, per file, the rows read,
loaded and quarantined and the file's sha256. A load replaces a whole partition (one
source, one logical day) inside one transaction, so reloading changes nothing and a
failure or a crash part-way leaves the partition as it was.

How a file becomes records, and how they are counted:

* Python opens every file by its literal path (a name with ``*``, ``?`` or ``[0-9]`` is a
  name, never a pattern) and decompresses it; DuckDB never sees a path from the landing
  zone, so nothing it does with paths (globbing, Hive partition columns such as ``dt``)
  can add or lose records.
* NDJSON is split into lines on ``\\n`` only (a bare carriage return is JSON whitespace,
  not a line break) with numpy; no line is too long to be read (one over
  ``MAX_RECORD_BYTES`` is quarantined whole, never dropped). CSV records are read
  with Python's ``csv`` module (quotes may span lines); a record that cannot be parsed is
  quarantined on its own and reading goes on at the next line. Parquet is read with
  pyarrow.
* "Read" is counted from the bytes, apart from the reader: NDJSON physical lines (a last
  line without a newline counts), CSV records, the Parquet footer's row count. After the
  insert, loaded and quarantined are counted in the warehouse; a file where read differs
  from loaded + quarantined stops the load (``ReconciliationError``).
* Every entry of a partition folder is either loaded or logged in ``raw.load_log`` with
  a ``note`` saying why it was not read: unsupported file types, hidden and temporary
  files (names starting with ``.`` or ending in ``~``, ``.tmp``, ``.part``), folders, and
  symbolic links that point outside the landing zone (never followed).

Names and values from data become SQL only through ``tailor.sqlsafe``. Checks run in
DuckDB, vectorized; only CSV tokenizing is a Python loop.

The package owns loading the landing zone into ``raw.*``, one step per file:

* ``landing``: partitions, the days present, and which entries are read or skipped why;
* ``reading`` (what readers share), ``ndjson``, ``csvfile``, ``parquet``: a file's records
  into ``_parsed``, with those that cannot be parsed in ``_rej``;
* ``checks``: the quarantine reasons (``REASON_CODES``) and ``check_parsed``;
* ``writing``: records into the raw table or ``raw.quarantine``, reconciled, and the file's
  row in ``raw.load_log``;
* ``load``: a file, a partition, a day in one transaction, a range of days;
* ``outcome``: ``FileLoad`` and the errors ``LoadError``, ``ReconciliationError``.

The names other modules use are importable from ``tailor.ingest``; a test that replaces
one patches the module that looks it up (``tailor.ingest.load`` for ``check_parsed``).
"""

from tailor.ingest.checks import REASON_CODES, check_parsed, reason_cases
from tailor.ingest.csvfile import read_csv_records
from tailor.ingest.landing import (
    DATA_SUFFIXES,
    PARTITION_RE,
    available_days,
    file_checksum,
    landing_partitions,
    partition_entries,
    partition_files,
    skip_reason,
)
from tailor.ingest.load import (
    day_loaded,
    load_day,
    load_file,
    load_partition,
    load_range,
    loaded_days,
)
from tailor.ingest.outcome import FileLoad, LoadError, ReconciliationError
from tailor.ingest.writing import _now as _now  # the load clock, for tailor.check
from tailor.ingest.writing import batch_id_for, log_file, write_candidates
from tailor.sources import SOURCES

__all__ = [
    "DATA_SUFFIXES",
    "PARTITION_RE",
    "REASON_CODES",
    "SOURCES",
    "FileLoad",
    "LoadError",
    "ReconciliationError",
    "available_days",
    "batch_id_for",
    "check_parsed",
    "day_loaded",
    "file_checksum",
    "landing_partitions",
    "load_day",
    "load_file",
    "load_partition",
    "load_range",
    "loaded_days",
    "log_file",
    "partition_entries",
    "partition_files",
    "read_csv_records",
    "reason_cases",
    "skip_reason",
    "write_candidates",
]
