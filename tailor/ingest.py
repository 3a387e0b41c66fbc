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
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailor import faults
from tailor.privacy.suppression import enforce_suppression
from tailor.sources import EVENT_FIELDS, LOAD_ORDER, SOURCES, Source
from tailor.sqlsafe import plain_name, quote_ident, quote_literal
from tailor.warehouse import ensure_raw_schema, raw_columns

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

# A record larger than this is quarantined (``record_too_large``) rather than carried
# through dbt, the checks and the exports: no real event, order or customer is this big.
MAX_RECORD_BYTES = 16 * 1024 * 1024

# Timestamps outside [PLAUSIBLE_FROM, end of the partition day + PLAUSIBLE_AHEAD) are
# quarantined as invalid_timestamp: a clock reset (0001-01-01, 1970-01-01) or a
# "never" placeholder (9999-12-31) is not a time something happened.
PLAUSIBLE_FROM = dt.date(1990, 1, 1)
PLAUSIBLE_AHEAD = dt.timedelta(days=1)

# Record-level checks, in the order they are tried: a record gets the first reason that fits.
REASON_CODES = (
    "malformed_json",  # an NDJSON line that is not a JSON object
    "duplicate_key",  # a JSON object that names the same field twice (which one is meant?)
    "malformed_csv",  # a CSV row with the wrong number of fields or broken quoting
    "invalid_encoding",  # bytes that are not UTF-8
    "record_too_large",  # a record over MAX_RECORD_BYTES
    "missing_required_field",
    "invalid_timestamp",  # unparseable, or outside the plausible range
    "invalid_value",  # a value that does not cast to its column's type
    "non_positive_price",
    "erased_subject",  # a record of a person erased earlier (tailor.privacy), kept out for good
)


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


# --------------------------------------------------------------------------- files


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


# --------------------------------------------------------------------------- reading


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed; a damaged gzip stops the load naming the file."""
    data = path.read_bytes()
    if not path.name.lower().endswith(".gz") or not data:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise LoadError(
            f"{path}: not a readable gzip file ({exc}); the file looks truncated or damaged, "
            "so nothing of the day was loaded: re-deliver it or move it out of the partition"
        ) from exc


def count_lines(data: bytes) -> int:
    """Physical lines in NDJSON bytes: newlines, plus a last line that has none."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def count_parquet_rows(path: Path) -> int:
    """Rows as the Parquet footer states them."""
    return pq.ParquetFile(path).metadata.num_rows


def _set_read(con: duckdb.DuckDBPyConnection, count: int) -> None:
    """Remember how many records the file held, counted before any parsing or check."""
    con.execute("create or replace temp table _read as select ?::bigint as count", [count])


def _empty_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "create or replace temp table _rej (line bigint, reason_code varchar, reason varchar, record varchar)"
    )


def _split_lines(data: bytes) -> pa.Table:
    """``(_line, _bytes)``: one row per physical line (split on ``\\n`` only), zero-copy."""
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1)).astype(np.int64)
    if len(data) == 0 or data.endswith(b"\n"):
        starts = starts[:-1]
    offsets = np.append(starts, len(data)).astype(np.int64)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return pa.table({"_line": pa.array(np.arange(1, len(starts) + 1)), "_bytes": lines})


def _read_ndjson_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``_lines(_line, _record)``: the decodable lines of a small enough size, in file
    order; ``_rej`` the others (invalid_encoding, record_too_large)."""
    data = read_bytes(path)
    _set_read(con, count_lines(data))
    _chunks = _split_lines(data)  # noqa: F841 (scanned by DuckDB by name)
    con.execute(
        """
        create or replace temp table _raw_lines as
        select _line, octet_length(_bytes) as _size,
               rtrim(try(decode(_bytes)), chr(10) || chr(13)) as _record,
               _bytes
        from _chunks
        """
    )
    del _chunks
    con.execute(
        f"""
        create or replace temp table _rej as
        select _line as line,
               case when _size > {MAX_RECORD_BYTES} then 'record_too_large' else 'invalid_encoding' end
                   as reason_code,
               case when _size > {MAX_RECORD_BYTES}
                    then 'line of ' || _size || ' bytes, over the {MAX_RECORD_BYTES}-byte limit per record'
                    else 'line is not valid UTF-8' end as reason,
               coalesce(_record, _bytes::varchar) as record
        from _raw_lines
        where _size > {MAX_RECORD_BYTES} or _record is null
        """
    )
    con.execute(
        f"create or replace temp table _lines as select _line, _record from _raw_lines "
        f"where _size <= {MAX_RECORD_BYTES} and _record is not null"
    )
    con.execute("drop table _raw_lines")


def _json_fields(source: Source) -> dict[str, str]:
    """Delivered field name -> raw column, for NDJSON sources."""
    if source.name == "events":
        return dict(EVENT_FIELDS)
    return {c: c for c in source.columns if c != "extra"}


def _json_path(field: str) -> str:
    return quote_literal("$." + plain_name(field))


def parse_ndjson(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    """Fill ``_parsed`` from an NDJSON file: the source's columns as text or JSON, ``extra``
    for unknown fields, and ``_pre_code``/``_pre_reason`` for lines that are not JSON
    objects or name a field twice."""
    _read_ndjson_lines(con, path)
    fields = _json_fields(source)
    json_cols = [f for f, c in fields.items() if source.columns.get(c) == "JSON"]
    text_cols = [f for f in fields if f not in json_cols]
    text_paths = "[" + ", ".join(_json_path(f) for f in text_cols) + "]"
    selects = [f"_t[{i + 1}] as {plain_name(fields[f])}" for i, f in enumerate(text_cols)]
    if json_cols:
        json_paths = "[" + ", ".join(_json_path(f) for f in json_cols) + "]"
        selects += [
            f"case when _js[{i + 1}]::varchar = 'null' then null else _js[{i + 1}] end as {plain_name(fields[f])}"
            for i, f in enumerate(json_cols)
        ]
    known = quote_literal(json.dumps({f: None for f in fields}))
    con.execute(
        f"""
        create or replace temp table _parsed as
        with j as (
            select _line, coalesce(_record, '') as _record, try(json(_record)) as _j
            from _lines
        ),
        objects as (
            select *, coalesce(json_type(_j) = 'OBJECT', false) as _is_object
            from j
        ),
        keyed as (
            select *, json_keys(_j) as _keys
            from objects
        ),
        checked as (
            select * exclude (_keys),
                -- the repeated names, computed only for the rare object that has any
                case when _is_object and len(_keys) <> len(list_distinct(_keys)) then
                    list_filter(list_distinct(_keys),
                                lambda k: len(list_filter(_keys, lambda x: x = k)) > 1)
                end as _dup_keys
            from keyed
        ),
        extracted as (
            select
                *,
                case when _is_object then json_extract_string(_j, {text_paths}) end as _t
                {f", case when _is_object then json_extract(_j, {json_paths}) end as _js" if json_cols else ""}
            from checked
        )
        select
            _line,
            _record,
            case
                when not _is_object then 'malformed_json'
                when len(_dup_keys) > 0 then 'duplicate_key'
            end as _pre_code,
            case
                when _record is null or trim(_record) = '' then 'empty line'
                when _j is null then 'line is not valid JSON'
                when not _is_object then 'line is JSON but not an object'
                when len(_dup_keys) > 0 then
                    'the object names a field more than once: ' || array_to_string(list_sort(_dup_keys), ', ')
            end as _pre_reason,
            {", ".join(selects)},
            case when _is_object then nullif(json_merge_patch(_j, {known}), '{{}}'::json) end as extra
        from extracted
        """
    )


def _column_names(header: list[str]) -> tuple[list[str], list[str]]:
    """(column names for DuckDB, keys for ``extra``) of a delivered header. DuckDB names
    are unique ignoring case and never one of the loader's own columns; an ``extra`` key
    is the delivered name unless it repeats an earlier one (then ``name~<position>``)."""
    reserved = {"_line", "_record", "_pre_code", "_pre_reason", "_n", "_bytes"}
    taken: set[str] = set()
    seen: set[str] = set()
    cols, keys = [], []
    for i, h in enumerate(header, start=1):
        h = h if h != "" else f"column{i}"
        key = h if h not in seen else f"{h}~{i}"
        col = key if key.casefold() not in taken | reserved else f"{key}~{i}"
        seen.add(h)
        taken.add(col.casefold())
        cols.append(col)
        keys.append(key)
    return cols, keys


_SURROGATE = re.compile("[\udc80-\udcff]")


def _csv_records(lines: list[str]) -> Iterator[tuple[int, int, list[str] | None, str | None]]:
    """(first line, end line, fields, error) per CSV record, line indexes 0-based with the
    end exclusive; the first record is the header. Quoted fields may span lines. A record
    that cannot be parsed (broken quoting, a quote left open to the end of the file), or
    that spans lines and has the wrong number of fields (a stray quote that swallowed the
    records after it), is reported on its first line alone and reading starts again on
    the next line: one bad quote costs one record."""
    pos = 0
    n = len(lines)
    width: int | None = None
    while pos < n:
        start = pos

        def feed() -> Iterator[str]:
            nonlocal pos
            while pos < n:
                pos += 1
                yield lines[pos - 1]

        try:
            for fields in csv.reader(feed(), strict=True):
                if width is not None and pos - start > 1 and len(fields) != width:
                    raise csv.Error("a quote opened on this line is closed on a later one")
                if fields:
                    width = len(fields) if width is None else width
                yield start, pos, fields, None
                start = pos
            return
        except csv.Error as exc:
            yield start, start + 1, None, f"broken quoting: {exc}"
            pos = start + 1


def _rows_table(names: list[str], rows: list[tuple]) -> pa.Table:
    return pa.table(
        {
            name: pa.array([r[i] for r in rows], pa.int64() if i == 0 else pa.large_string())
            for i, name in enumerate(names)
        }
    )


def read_csv_records(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """``_lines(_line, _record, <header columns as text>)`` from a CSV file and ``_rej``
    for the records that cannot be used; returns the column names of ``_lines``.

    Blank lines are not records. The header is the first record; when it cannot be
    parsed every record is quarantined, since no field can be named."""
    csv.field_size_limit(2**31 - 1)
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
        damaged = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")
        damaged = True
    lines = io.StringIO(text.removeprefix("\ufeff"), newline="").readlines()
    header: list[str] | None = None
    header_error: str | None = None
    good: list[tuple] = []
    rejects: list[tuple] = []
    for start, end, fields, error in _csv_records(lines):
        if fields == []:
            continue  # a blank line
        raw = "".join(lines[start:end]).rstrip("\r\n")
        line = start + 1
        if damaged and _SURROGATE.search(raw):
            raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            rejects.append((line, "invalid_encoding", "record is not valid UTF-8", raw))
            if header is None and header_error is None:
                header_error = "the header is not valid UTF-8"
        elif header is None and header_error is None:
            if error is None:
                header = fields
            else:
                header_error = f"the header line is not valid CSV ({error})"
                rejects.append((line, "malformed_csv", header_error, raw))
        elif header is None:
            rejects.append((line, "malformed_csv", f"{header_error}: no field can be named", raw))
        elif error is not None:
            rejects.append((line, "malformed_csv", error, raw))
        elif len(fields) != len(header):
            reason = f"expected {len(header)} fields, found {len(fields)}"
            rejects.append((line, "malformed_csv", reason, raw))
        else:
            good.append((line, raw, *fields))
    names, _ = _column_names(header or [])
    _chunks = _rows_table(["_line", "_record", *names], good)  # noqa: F841 (scanned by DuckDB)
    con.execute("create or replace temp table _lines as select * from _chunks")
    _rejects = _rows_table(["line", "reason_code", "reason", "record"], rejects)  # noqa: F841
    con.execute("create or replace temp table _rej as select * from _rejects")
    _set_read(con, len(good) + len(rejects))
    return names


def _extra_from(names: list[str], keys: list[str], known: Iterable[str]) -> str:
    """``extra``: every delivered field the contract does not name, under its delivered
    name (``_``-prefixed fields, ``dt`` and names of the loader's own columns included)."""
    known = set(known)
    unknown = [(n, k) for n, k in zip(names, keys, strict=True) if n not in known]
    if not unknown:
        return "null::json"
    return (
        "json_object("
        + ", ".join(f"{quote_literal(k)}, {quote_ident(n)}" for n, k in unknown)
        + ")"
    )


def _select_parsed(
    con: duckdb.DuckDBPyConnection, source: Source, header: list[str], cast: str
) -> None:
    """``_parsed`` from ``_lines`` whose columns are ``header`` (as ``_column_names`` made them)."""
    _, keys = _column_names(header)
    cols = [c for c in source.columns if c != "extra"]
    selects = [
        f"{quote_ident(c)}{cast} as {plain_name(c)}"
        if c in header
        else f"null::varchar as {plain_name(c)}"
        for c in cols
    ]
    con.execute(
        f"""
        create or replace temp table _parsed as
        select _line, _record, null::varchar as _pre_code, null::varchar as _pre_reason,
               {", ".join(selects)}, {_extra_from(header, keys, cols)} as extra
        from _lines
        """
    )


def parse_csv(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    header = read_csv_records(con, path)
    _select_parsed(con, source, header, "")


def parse_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    try:
        _set_read(con, count_parquet_rows(path))
        table = pq.ParquetFile(path).read()
    except (pa.ArrowException, OSError) as exc:
        raise LoadError(f"{path}: not a readable Parquet file ({exc})") from exc
    header, _ = _column_names(table.column_names)
    table = table.rename_columns(header)
    records = (
        "json_object("
        + ", ".join(f"{quote_literal(h)}, {quote_ident(h)}" for h in header)
        + ")::varchar"
    )
    _chunks = table.append_column(  # noqa: F841 (scanned by DuckDB by name)
        "_line", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    )
    con.execute(
        f"create or replace temp table _lines as select *, {records} as _record from _chunks"
    )
    _empty_rejects(con)
    _select_parsed(con, source, header, "::varchar")


PARSERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Path, Source], None]] = {
    "ndjson": parse_ndjson,
    "csv": parse_csv,
    "parquet": parse_parquet,
}


# --------------------------------------------------------------------------- checks


def _display_name(source: Source, column: str) -> str:
    """The field name as the sender wrote it (messageId, not message_id)."""
    if source.name == "events":
        for delivered, col in EVENT_FIELDS.items():
            if col == column:
                return delivered
    return column


def _timestamp_checks(source: Source, day: dt.date | None) -> list[tuple[str, str, str]]:
    """Unparseable timestamps, and those outside the plausible range: before
    ``PLAUSIBLE_FROM``, or (with a partition day) ``PLAUSIBLE_AHEAD`` past its end."""
    lowest = f"timestamptz {quote_literal(f'{PLAUSIBLE_FROM.isoformat()} 00:00:00+00')}"
    checks = []
    for col in source.timestamps:
        shown = _display_name(source, col)
        ts = f"try_cast({plain_name(col)} as timestamptz)"
        checks.append(
            (
                f"{col} is not null and {ts} is null",
                "invalid_timestamp",
                f"{quote_literal(f'unparseable timestamp in {shown}: ')} || {col}",
            )
        )
        out_of_range = f"{ts} < {lowest}"
        bound = f"before {PLAUSIBLE_FROM.isoformat()}"
        if day is not None:
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) + PLAUSIBLE_AHEAD
            out_of_range += (
                f" or {ts} >= timestamptz {quote_literal(f'{end:%Y-%m-%d %H:%M:%S}+00')}"
            )
            bound += f" or from {end:%Y-%m-%d %H:%M} UTC on ({PLAUSIBLE_AHEAD.days} day after the partition's end)"
        checks.append(
            (
                out_of_range,
                "invalid_timestamp",
                f"{quote_literal(f'implausible timestamp in {shown} ({bound}): ')} || {col}",
            )
        )
    return checks


def reason_cases(source: Source, day: dt.date | None = None) -> list[tuple[str, str, str]]:
    """(condition, reason_code, reason expression) for every record-level check after the
    structural ones (``_pre_code``), in order."""
    checks: list[tuple[str, str, str]] = []
    for col in source.required:
        checks.append(
            (
                f"{col} is null or trim({col}::varchar) = ''",
                "missing_required_field",
                quote_literal(f"missing required field: {_display_name(source, col)}"),
            )
        )
    if source.name == "events":
        checks.append(
            (
                "anonymous_id is null and user_id is null",
                "missing_required_field",
                quote_literal("missing required field: anonymousId or userId"),
            )
        )
    checks += _timestamp_checks(source, day)
    for col, typ in source.columns.items():
        if typ in ("VARCHAR", "JSON"):
            continue
        checks.append(
            (
                f"{col} is not null and try_cast({col} as {typ}) is null",
                "invalid_value",
                f"{quote_literal(f'{col} is not a valid {typ.lower()}: ')} || {col}",
            )
        )
    for col in source.positive:
        checks.append(
            (
                f"try_cast({col} as double) <= 0",
                "non_positive_price",
                f"{quote_literal(f'{col} must be greater than 0, got ')} || {col}",
            )
        )
    if source.name == "events":
        price = "json_extract_string(properties, '$.price')"
        checks.append(
            (
                f"{price} is not null and try_cast({price} as double) is null",
                "invalid_value",
                f"'properties.price is not a number: ' || {price}",
            )
        )
        checks.append(
            (
                f"try_cast({price} as double) <= 0",
                "non_positive_price",
                f"'properties.price must be greater than 0, got ' || {price}",
            )
        )
    return checks


def check_parsed(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    extra_checks: Iterable[tuple[str, str, str]] = (),
    day: dt.date | None = None,
) -> None:
    """``_cand`` = ``_parsed`` plus ``_reason_code`` / ``_reason`` (null for a good record).

    The parser's own verdict (``_pre_code``: malformed_json, duplicate_key) comes first;
    ``extra_checks`` are (condition, reason_code, reason expression) an adapter adds for
    columns of its own, tried next; then ``reason_cases``. ``day`` is the partition day
    that bounds plausible timestamps (None for adapters' files, which span many days).
    """
    checks = list(extra_checks) + reason_cases(source, day)
    code = (
        "case when _pre_code is not null then _pre_code "
        + " ".join(f"when {c} then {quote_literal(rc)}" for c, rc, _ in checks)
        + " end"
    )
    reason = (
        "case when _pre_code is not null then _pre_reason "
        + " ".join(f"when {c} then {r}" for c, _, r in checks)
        + " end"
    )
    con.execute(
        f"create or replace temp table _cand as select *, {code} as _reason_code, {reason} as _reason from _parsed"
    )


# --------------------------------------------------------------------------- writing


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


# --------------------------------------------------------------------------- partitions


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


def load_day(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    day: dt.date,
    sources: Iterable[str] | None = None,
) -> list[FileLoad]:
    """Load every source's partition for one logical day in a single transaction."""
    ensure_raw_schema(con)
    wanted = [s for s in LOAD_ORDER if sources is None or s in set(sources)]
    con.execute("begin transaction")
    try:
        loads: list[FileLoad] = []
        for name in wanted:
            loads += load_partition(con, landing, name, day)
        # A re-delivered partition must not bring an erased person back.
        enforce_suppression(con, day)
        faults.maybe_fail("load.before_commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
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


def available_days(landing: Path, sources: Iterable[str] | None = None) -> list[dt.date]:
    days: set[dt.date] = set()
    for found in landing_partitions(landing, sources).values():
        days.update(found)
    return sorted(days)


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
