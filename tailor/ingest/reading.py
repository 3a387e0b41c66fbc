"""What every reader shares: a file's bytes (decompressed), the records counted before
any parsing (``_read``), the rejects table (``_rej``), and the ``_parsed`` table built
from delivered columns with unknown fields kept in ``extra``."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from isal import igzip, isal_zlib

from tailor.ingest.outcome import LoadError
from tailor.sources import Source
from tailor.sqlsafe import plain_name, quote_ident, quote_literal

# A record larger than this is quarantined (``record_too_large``) rather than carried
# through dbt, the checks and the exports: no real event, order or customer is this big.
MAX_RECORD_BYTES = 16 * 1024 * 1024


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed (by ISA-L: twice as fast as zlib); a damaged gzip
    stops the load naming the file."""
    data = path.read_bytes()
    if not path.name.lower().endswith(".gz") or not data:
        return data
    try:
        return igzip.decompress(data)
    except (OSError, EOFError, zlib.error, isal_zlib.error) as exc:
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
