"""Reading NDJSON (Segment/RudderStack events, consents, ...): lines split on ``\\n`` only,
each line a JSON object or quarantined (malformed_json, duplicate_key, invalid_encoding,
record_too_large)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tailor.ingest.reading import MAX_RECORD_BYTES, _set_read, count_lines, read_bytes
from tailor.sources import EVENT_FIELDS, Source
from tailor.sqlsafe import plain_name, quote_literal


def _split_lines(data: bytes) -> pa.Table:
    """``(_line, _bytes, _text_bytes)``: one row per physical line (split on ``\\n`` only),
    zero-copy. ``_bytes`` is the line with its newline; ``_text_bytes`` the length of the
    line without its trailing newline and carriage returns (what the record is: slicing
    there costs DuckDB a tenth of an ``rtrim`` of the decoded text)."""
    newlines = _newlines(data)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    if len(data) == 0 or data.endswith(b"\n"):
        starts = starts[:-1]
    offsets = np.append(starts, len(data)).astype(np.int64)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    ends = offsets[1:].copy()
    ends[: len(newlines)] = newlines  # a line's newline, or the end of the data
    buf = np.frombuffer(data, dtype=np.uint8)
    cr = np.flatnonzero((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))
    while len(cr):  # carriage returns before the newline (CRLF files), as many as there are
        ends[cr] -= 1
        cr = cr[(ends[cr] > starts[cr]) & (buf[np.maximum(ends[cr] - 1, 0)] == 13)]
    return pa.table(
        {
            "_line": pa.array(np.arange(1, len(starts) + 1)),
            "_bytes": lines,
            "_text_bytes": pa.array(ends - starts),
        }
    )


def _newlines(data: bytes, block: int = 1 << 22) -> np.ndarray:
    """Offsets of the ``\\n`` bytes, found a 4 MB block at a time: a file-sized boolean
    array (300 MB for a day of 10M events) costs more in fresh memory than the search."""
    buf = np.frombuffer(data, dtype=np.uint8)
    found = [np.flatnonzero(buf[at : at + block] == 10) + at for at in range(0, len(buf), block)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


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
               try(decode(_bytes[1:_text_bytes])) as _record,
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
