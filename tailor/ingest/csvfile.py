"""Reading CSV (shop and CRM exports): records with Python's ``csv`` module, quoted fields
over several lines, and a record that cannot be parsed quarantined on its own
(malformed_csv, invalid_encoding) while reading goes on."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from tailor.ingest.reading import _column_names, _select_parsed, _set_read, read_bytes
from tailor.sources import Source

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


def parse_csv(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    header = read_csv_records(con, path)
    _select_parsed(con, source, header, "")
