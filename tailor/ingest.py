"""Loss-free loading of the landing zone into ``raw.*``.

Every record read from a file ends up either in its raw table or in ``raw.quarantine``
with the file, the line and a reason; ``raw.load_log`` keeps, per file, the rows read,
loaded and quarantined and the file's sha256. A load replaces a whole partition (one
source, one logical day) inside one transaction, so reloading changes nothing and a
failure or a crash part-way leaves the partition as it was.

All parsing and checking happens in DuckDB (vectorized), never row by row in Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tailor import faults, privacy
from tailor.sources import EVENT_FIELDS, LOAD_ORDER, SOURCES, Source
from tailor.warehouse import ensure_raw_schema, raw_columns

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

# Record-level checks, in the order they are tried: a record gets the first reason that fits.
REASON_CODES = (
    "malformed_json",  # an NDJSON line that is not a JSON object
    "malformed_csv",  # a CSV row with the wrong number of fields or broken quoting
    "invalid_encoding",  # bytes that are not UTF-8
    "missing_required_field",
    "invalid_timestamp",
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
                m = PARTITION_RE.match(child.name)
                if child.is_dir() and m:
                    days.append(dt.date.fromisoformat(m.group(1)))
        out[name] = sorted(days)
    return out


def partition_files(landing: Path, source: str, day: dt.date) -> list[Path]:
    folder = landing / source / f"dt={day.isoformat()}"
    if not folder.is_dir():
        return []
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES)
    )
    return files


# --------------------------------------------------------------------------- parsing


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _drop_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table if exists _rej_errors")
    con.execute("drop table if exists _rej_scans")


def _physical_lines(con: duckdb.DuckDBPyConnection, first_line: int) -> None:
    """Number the parsed records by their physical line, skipping the lines DuckDB rejected.

    Reads ``_lines(_n, ...)`` (records in file order) and ``_rej`` (rejected lines) and
    adds ``_line``. Without rejects the line is simply ``_n`` plus the header offset.
    """
    (n_rej,) = con.execute("select count(distinct line) from _rej").fetchone()
    if n_rej == 0:
        con.execute(
            f"create or replace temp table _lines as select *, _n + {first_line - 1} as _line from _lines"
        )
        return
    (n,) = con.execute("select count(*) from _lines").fetchone()
    con.execute(
        f"""
        create or replace temp table _lines as
        with phys as (
            select l, row_number() over (order by l) as k
            from range({first_line}, {first_line + n + n_rej}) t(l)
            where l not in (select line from _rej)
        )
        select _lines.*, phys.l as _line
        from _lines join phys on phys.k = _lines._n
        """
    )


def _collect_rejects(con: duckdb.DuckDBPyConnection, fmt: str) -> None:
    code = "malformed_json" if fmt == "ndjson" else "malformed_csv"
    con.execute(
        f"""
        create or replace temp table _rej as
        select
            line,
            case when bool_or(error_type = 'INVALID ENCODING') then 'invalid_encoding' else '{code}' end
                as reason_code,
            string_agg(error_message, '; ') as reason,
            any_value(csv_line) as record
        from _rej_errors
        group by line
        """
    )


def _read_ndjson_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``_lines(_n, _record)``: one row per physical line, in file order."""
    _drop_rejects(con)
    # Each line is read whole as one text column: chr(30) never occurs in valid JSON text.
    con.execute(
        f"""
        create or replace temp table _lines as
        select row_number() over () as _n, line as _record
        from read_csv({_sql_str(str(path))}, columns = {{'line': 'VARCHAR'}}, delim = chr(30),
                      quote = '', escape = '', header = false, auto_detect = false,
                      store_rejects = true, rejects_table = '_rej_errors', rejects_scan = '_rej_scans')
        """
    )
    _collect_rejects(con, "ndjson")
    _physical_lines(con, first_line=1)
    _count_read(con, "_lines")


def _count_read(con: duckdb.DuckDBPyConnection, records: str) -> None:
    """Remember how many records the file held (parsed plus rejected) before any check runs."""
    con.execute(
        f"create or replace temp table _read as select (select count(*) from {records}) + (select count(*) from _rej) as count"
    )


def _json_fields(source: Source) -> dict[str, str]:
    """Delivered field name -> raw column, for NDJSON sources."""
    if source.name == "events":
        return dict(EVENT_FIELDS)
    return {c: c for c in source.columns if c != "extra"}


def parse_ndjson(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    """Fill ``_parsed`` from an NDJSON file: the source's columns as text or JSON, ``extra``
    for unknown fields, and ``_pre_code``/``_pre_reason`` for lines that are not JSON objects."""
    _read_ndjson_lines(con, path)
    fields = _json_fields(source)
    json_cols = [f for f, c in fields.items() if source.columns.get(c) == "JSON"]
    text_cols = [f for f in fields if f not in json_cols]
    text_paths = "[" + ", ".join(_sql_str(f"$.{f}") for f in text_cols) + "]"
    selects = [f"_t[{i + 1}] as {fields[f]}" for i, f in enumerate(text_cols)]
    if json_cols:
        json_paths = "[" + ", ".join(_sql_str(f"$.{f}") for f in json_cols) + "]"
        selects += [
            f"case when _js[{i + 1}]::varchar = 'null' then null else _js[{i + 1}] end as {fields[f]}"
            for i, f in enumerate(json_cols)
        ]
    known = "{" + ", ".join(f'"{f}": null' for f in fields) + "}"
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
        extracted as (
            select
                *,
                case when _is_object then json_extract_string(_j, {text_paths}) end as _t
                {f", case when _is_object then json_extract(_j, {json_paths}) end as _js" if json_cols else ""}
            from objects
        )
        select
            _line,
            _record,
            case when not _is_object then 'malformed_json' end as _pre_code,
            case
                when _record is null or trim(_record) = '' then 'empty line'
                when _j is null then 'line is not valid JSON'
                when not _is_object then 'line is JSON but not an object'
            end as _pre_reason,
            {", ".join(selects)},
            case when _is_object then nullif(json_merge_patch(_j, {_sql_str(known)}), '{{}}'::json) end as extra
        from extracted
        """
    )


def read_csv_records(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """``_lines(_n, _line, _record, <header columns as text>)`` from a CSV file; returns the header."""
    _drop_rejects(con)
    reader = (
        f"read_csv({_sql_str(str(path))}, header = true, all_varchar = true, delim = ',', quote = '\"',"
        " escape = '\"', store_rejects = true, rejects_table = '_rej_errors', rejects_scan = '_rej_scans')"
    )
    header = con.sql(f"select * from {reader} limit 0").columns
    _drop_rejects(con)
    record = "json_object(" + ", ".join(f'{_sql_str(h)}, "{h}"' for h in header) + ")::varchar"
    con.execute(
        f"create or replace temp table _lines as "
        f"select row_number() over () as _n, {record} as _record, * from {reader}"
    )
    _collect_rejects(con, "csv")
    _physical_lines(con, first_line=2)
    _count_read(con, "_lines")
    return list(header)


def _extra_from(header: list[str], known: Iterable[str]) -> str:
    unknown = [h for h in header if h not in set(known) and not h.startswith("_")]
    if not unknown:
        return "null::json"
    return "json_object(" + ", ".join(f'{_sql_str(h)}, "{h}"' for h in unknown) + ")"


def parse_csv(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    header = read_csv_records(con, path)
    cols = [c for c in source.columns if c != "extra"]
    selects = [f'"{c}"' if c in header else f"null::varchar as {c}" for c in cols]
    con.execute(
        f"""
        create or replace temp table _parsed as
        select _line, _record, null::varchar as _pre_code, null::varchar as _pre_reason,
               {", ".join(selects)}, {_extra_from(header, cols)} as extra
        from _lines
        """
    )


def parse_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    _drop_rejects(con)
    con.execute(
        "create or replace temp table _rej (line bigint, reason_code varchar, reason varchar, record varchar)"
    )
    reader = f"read_parquet({_sql_str(str(path))}, file_row_number = true)"
    con.execute(
        f"create or replace temp table _read as select sum(num_rows)::bigint as count "
        f"from parquet_file_metadata({_sql_str(str(path))})"
    )
    header = [
        c for c in con.sql(f"select * from {reader} limit 0").columns if c != "file_row_number"
    ]
    cols = [c for c in source.columns if c != "extra"]
    selects = [f'"{c}"::varchar as {c}' if c in header else f"null::varchar as {c}" for c in cols]
    record = "json_object(" + ", ".join(f'{_sql_str(h)}, "{h}"' for h in header) + ")::varchar"
    con.execute(
        f"""
        create or replace temp table _parsed as
        select file_row_number + 1 as _line, {record} as _record,
               null::varchar as _pre_code, null::varchar as _pre_reason,
               {", ".join(selects)}, {_extra_from(header, cols)} as extra
        from {reader}
        """
    )


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


def reason_cases(source: Source) -> list[tuple[str, str, str]]:
    """(condition, reason_code, reason expression) for every record-level check, in order."""
    checks: list[tuple[str, str, str]] = [
        ("_pre_code is not null", "malformed_json", "_pre_reason")
    ]
    for col in source.required:
        checks.append(
            (
                f"{col} is null or trim({col}::varchar) = ''",
                "missing_required_field",
                _sql_str(f"missing required field: {_display_name(source, col)}"),
            )
        )
    if source.name == "events":
        checks.append(
            (
                "anonymous_id is null and user_id is null",
                "missing_required_field",
                _sql_str("missing required field: anonymousId or userId"),
            )
        )
    for col in source.timestamps:
        checks.append(
            (
                f"{col} is not null and try_cast({col} as timestamptz) is null",
                "invalid_timestamp",
                f"{_sql_str(f'unparseable timestamp in {_display_name(source, col)}: ')} || {col}",
            )
        )
    for col, typ in source.columns.items():
        if typ in ("VARCHAR", "JSON"):
            continue
        checks.append(
            (
                f"{col} is not null and try_cast({col} as {typ}) is null",
                "invalid_value",
                f"{_sql_str(f'{col} is not a valid {typ.lower()}: ')} || {col}",
            )
        )
    for col in source.positive:
        checks.append(
            (
                f"try_cast({col} as double) <= 0",
                "non_positive_price",
                f"{_sql_str(f'{col} must be greater than 0, got ')} || {col}",
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
) -> None:
    """``_cand`` = ``_parsed`` plus ``_reason_code`` / ``_reason`` (null for a good record).

    ``extra_checks`` are (condition, reason_code, reason expression) an adapter adds for
    columns of its own; they are tried right after the structural checks.
    """
    base = reason_cases(source)
    checks = base[:1] + list(extra_checks) + base[1:]
    code = "case " + " ".join(f"when {c} then '{rc}'" for c, rc, _ in checks) + " end"
    reason = "case " + " ".join(f"when {c} then {r}" for c, _, r in checks) + " end"
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
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ],
    )


def batch_id_for(parts: Iterable[str]) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------- partitions


def load_partition(
    con: duckdb.DuckDBPyConnection, landing: Path, source_name: str, day: dt.date
) -> list[FileLoad]:
    """Replace one (source, day) partition with the files now in the landing zone.

    Runs inside the caller's transaction (see ``load_day``); it only deletes and inserts.
    """
    source = SOURCES[source_name]
    files = partition_files(landing, source_name, day)
    if not files:
        # Nothing delivered (or the landing zone was cleaned up): keep what was loaded.
        return []
    prefix = f"{source_name}/dt={day.isoformat()}/"
    checksums = [(f, file_checksum(f)) for f in files]
    batch_id = batch_id_for([source_name, day.isoformat(), *(c for _, c in checksums)])
    con.execute(
        f"delete from {source.table} where _dt = ? and starts_with(_source_file, ?)", [day, prefix]
    )
    con.execute(
        "delete from raw.quarantine where source = ? and _dt = ? and starts_with(source_file, ?)",
        [source_name, day, prefix],
    )
    con.execute(
        "delete from raw.load_log where source = ? and _dt = ? and starts_with(source_file, ?)",
        [source_name, day, prefix],
    )
    loads = []
    for path, checksum in checksums:
        started = _now()
        rel = path.relative_to(landing).as_posix()
        try:
            PARSERS[data_format(path)](con, path, source)
        except duckdb.Error as exc:
            # A file DuckDB cannot read at all (truncated gzip, not Parquet, ...): nothing of
            # the day is written, and the message names the file.
            raise LoadError(f"{rel}: cannot read the file: {exc}") from exc
        check_parsed(con, source)
        read, loaded, quarantined = write_candidates(
            con, source, day=day, batch_id=batch_id, source_file=rel, loaded_at=started
        )
        load = FileLoad(
            source_name, day, rel, checksum, path.stat().st_size, read, loaded, quarantined
        )
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
        privacy.enforce_suppression(con, day)
        faults.maybe_fail("load.before_commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return loads


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
