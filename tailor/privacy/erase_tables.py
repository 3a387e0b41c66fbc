"""Erasure in the warehouse's tables: the blast radius of requests (:func:`blast_radius`),
the rows removed from every table of every schema (:func:`erase_rows_many`), raw rows
replaced by tombstones in ``raw.quarantine`` (:func:`tombstone`), and the identifiers in
diagnostic text replaced in place (:func:`redact_text_columns`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from tailor.consent import has_table
from tailor.erased import Identity, merged
from tailor.privacy.matching import (
    ERASED_MARK,
    alternation,
    base_tables,
    match_sql,
    needles_of,
    record_matches,
)
from tailor.sources import SOURCES
from tailor.sqlsafe import quote_ident, quote_literal

# Tables erasure never touches: they hold only keyed hashes and counts.
PROTECTED = {
    ("ops", "erased_subjects"),
    ("ops", "erasure_audit"),
    ("raw", "load_log"),
    ("private", "subject_key"),
    ("private", "legacy_erased_subjects"),
}
QUARANTINE = ("raw", "quarantine")
TOMBSTONE_REASON = "erased_subject"
TOMBSTONE_TEXT = "record removed: erased subject (right to be forgotten)"
REDACTED_TEXT = "record text removed: erased subject (right to be forgotten)"
# Diagnostic tables whose free text (failure samples, error messages) can quote any
# identifier as a bare value: the identifiers are replaced by ERASED_MARK, the rows kept.
REDACT_IN_PLACE = {("ops", "validation_results"), ("ops", "run_log")}


@dataclass
class TableTouch:
    table: str
    rows_removed: int = 0
    rows_anonymized: int = 0


def erase_rows(con: duckdb.DuckDBPyConnection, ident: Identity) -> list[TableTouch]:
    """Remove the person's rows from every table of every schema (run inside the caller's
    transaction); returns the tables that had rows of the person."""
    return erase_rows_many(con, [ident])[0]


def _scanned_tables(
    con: duckdb.DuckDBPyConnection,
) -> Iterator[tuple[str, str, list[tuple[str, str]]]]:
    """The tables erasure scans: all but the protected ones, temp tables and the
    diagnostic tables redacted in place."""
    for schema, table, columns in base_tables(con):
        if (schema, table) in PROTECTED or schema == "temp":
            continue
        yield schema, table, columns


def quarantine_hits(con: duckdb.DuckDBPyConnection, idents: list[Identity]) -> list[set[int]]:
    """Per person, the rowids of ``raw.quarantine`` whose record text names them in an
    identifier field: a SQL prefilter on the identifiers as substrings, then each
    candidate record parsed (:func:`record_matches`)."""
    out: list[set[int]] = [set() for _ in idents]
    needles = sorted({n for ident in idents for n in needles_of(ident)})
    if not needles or not has_table(con, *QUARANTINE):
        return out
    rows = con.execute(
        "select rowid, record from raw.quarantine "
        "where record is not null and regexp_matches(lower(record), ?)",
        [alternation(needles)],
    ).fetchall()
    folded = [ident.folded() for ident in idents]
    for rowid, record in rows:
        for k, f in enumerate(folded):
            if record_matches(record, f):
                out[k].add(rowid)
    return out


def _first_owner(hits: list[set[int]]) -> list[int]:
    """Rows per person when each row counts for the first person it names."""
    seen: set[int] = set()
    counts = []
    for mine in hits:
        counts.append(len(mine - seen))
        seen |= mine
    return counts


def blast_radius(
    con: duckdb.DuckDBPyConnection, idents: list[Identity]
) -> list[dict[str, tuple[int, int]]]:
    """What erasing each person would touch, before anything is touched: per person,
    table -> (rows naming them, rows in the table). One scan of each table for all of
    them."""
    out: list[dict[str, tuple[int, int]]] = [{} for _ in idents]
    # the table walk of erase_rows_many: this one counts, that one deletes
    if not idents:
        return out
    everyone = merged(idents)
    for schema, table, columns in _scanned_tables(con):
        name = f"{schema}.{table}"
        rel = f"{quote_ident(schema)}.{quote_ident(table)}"
        if (schema, table) == QUARANTINE:
            (total,) = con.execute(f"select count(*) from {rel}").fetchone()
            for k, mine in enumerate(quarantine_hits(con, idents)):
                if mine:
                    out[k][name] = (len(mine), total)
            continue
        if (schema, table) in REDACT_IN_PLACE:
            continue  # diagnostic text, rows kept
        cond = match_sql(columns, everyone)
        if cond is None:
            continue
        # the rows naming anyone, once; then each person's among those few
        con.execute(f"create or replace temp table _blast_hits as select * from {rel} where {cond}")
        conds = [match_sql(columns, ident) or "false" for ident in idents]
        counts = ", ".join(f"count(*) filter (where {c})" for c in conds)
        per = con.execute(f"select {counts} from _blast_hits").fetchone()
        con.execute("drop table _blast_hits")
        if any(per):
            (total,) = con.execute(f"select count(*) from {rel}").fetchone()
            for k, n in enumerate(per):
                if n:
                    out[k][name] = (n, total)
    return out


def erase_rows_many(
    con: duckdb.DuckDBPyConnection, idents: list[Identity]
) -> list[list[TableTouch]]:
    """Remove several people's rows from every table of every schema (inside the caller's
    transaction) with one scan of each table for all of them: the rows that name any of
    them are collected once, then counted against the first person they name, as erasing
    the people one after another would. Returns the tables touched, per person.

    A scan of the event history costs the same for one person or ten, and a night's
    requests used to pay it once each."""
    touched: list[list[TableTouch]] = [[] for _ in idents]
    # the table walk of blast_radius: that one counts, this one deletes
    if not idents:
        return touched
    everyone = merged(idents)
    for schema, table, columns in _scanned_tables(con):
        name = f"{schema}.{table}"
        rel = f"{quote_ident(schema)}.{quote_ident(table)}"
        if (schema, table) in REDACT_IN_PLACE:
            for k, ident in enumerate(idents):  # small diagnostic tables
                n = redact_text_columns(con, schema, table, columns, ident)
                if n:
                    touched[k].append(TableTouch(name, rows_anonymized=n))
            continue
        if (schema, table) == QUARANTINE:
            hits = quarantine_hits(con, idents)
            rowids = sorted(set().union(*hits))
            if rowids:
                con.execute(
                    "update raw.quarantine set record = null, reason = ? "
                    "where rowid in (select unnest(?::bigint[]))",
                    [REDACTED_TEXT, rowids],
                )
            for k, c in enumerate(_first_owner(hits)):
                if c:
                    touched[k].append(TableTouch(name, rows_anonymized=c))
            continue
        cond = match_sql(columns, everyone)
        if cond is None:
            continue
        con.execute(
            f"create or replace temp table _erase_hits as "
            f"select rowid as _erase_rid, null::integer as _erase_person, * from {rel} where {cond}"
        )
        (n,) = con.execute("select count(*) from _erase_hits").fetchone()
        if n:
            counts = [n] if len(idents) == 1 else _attribute(con, columns, idents)
            hits_sql = "rowid in (select _erase_rid from _erase_hits)"
            if schema == "raw" and table in SOURCES:
                tombstone(con, table, hits_sql)
            else:
                con.execute(f"delete from {rel} where {hits_sql}")
            for k, c in enumerate(counts):
                if c:
                    touched[k].append(TableTouch(name, rows_removed=c))
        con.execute("drop table if exists _erase_hits")
    return touched


def _attribute(
    con: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]], idents: list[Identity]
) -> list[int]:
    """Rows of ``_erase_hits`` per person, each row counted for the first person it names."""
    for k, ident in enumerate(idents):
        cond = match_sql(columns, ident)
        if cond is not None:
            con.execute(
                f"update _erase_hits set _erase_person = {k} where _erase_person is null and {cond}"
            )
    per = dict(
        con.execute(
            "select _erase_person, count(*) from _erase_hits group by _erase_person"
        ).fetchall()
    )
    return [per.get(k, 0) for k in range(len(idents))]


def redact_text_columns(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: list[tuple[str, str]],
    ident: Identity,
) -> int:
    """Replace the person's identifiers, wherever they stand as a whole token in a text or
    JSON column, by ERASED_MARK; returns the rows changed."""
    toks = ident.tokens() | ident.order_ids
    if not toks:
        return 0
    bound = "[^A-Za-z0-9._%+-]"
    pattern = quote_literal(f"(?i)(^|{bound})({alternation(toks)})($|{bound})")
    texts = [(n, t) for n, t in columns if t.upper().startswith("VARCHAR") or t.upper() == "JSON"]
    if not texts:
        return 0
    rel = f"{quote_ident(schema)}.{quote_ident(table)}"
    keep_bounds = quote_literal(r"\1" + ERASED_MARK + r"\3")
    sets = ", ".join(
        f"{quote_ident(c)} = regexp_replace({quote_ident(c)}::varchar, {pattern}, {keep_bounds}, 'g')::{t}"
        for c, t in texts
    )
    where = " or ".join(
        f"coalesce(regexp_matches({quote_ident(c)}::varchar, {pattern}), false)" for c, _ in texts
    )
    # a replacement can uncover another token right after it (adjacent identifiers)
    total = 0
    for _ in range(3):
        n = len(con.execute(f"update {rel} set {sets} where {where} returning 1").fetchall())
        total = max(total, n)
        if not n:
            break
    return total


def tombstone(con: duckdb.DuckDBPyConnection, source: str, cond: str) -> int:
    """Move matching rows of ``raw.<source>`` to ``raw.quarantine`` as record-less
    tombstones and adjust ``raw.load_log``: read = loaded + quarantined still holds."""
    con.execute(
        f"""
        create or replace temp table _erased_rows as
        select rowid as _rid, _dt, _batch_id, _source_file, _line, _loaded_at
        from raw.{source} where {cond}
        """
    )
    (n,) = con.execute("select count(*) from _erased_rows").fetchone()
    if n:
        con.execute(
            f"""
            insert into raw.quarantine
                (source, _dt, _batch_id, source_file, line, reason_code, reason, record, _loaded_at)
            select {quote_literal(source)}, _dt, _batch_id, coalesce(_source_file, ''), _line,
                   {quote_literal(TOMBSTONE_REASON)}, {quote_literal(TOMBSTONE_TEXT)}, null, _loaded_at
            from _erased_rows
            """
        )
        con.execute(
            f"""
            update raw.load_log
            set rows_loaded = rows_loaded - e.n, rows_quarantined = rows_quarantined + e.n
            from (
                select _dt, _batch_id, _source_file, count(*) as n
                from _erased_rows group by all
            ) as e
            where load_log.source = {quote_literal(source)}
                and load_log.source_file = e._source_file
                and load_log._batch_id = e._batch_id
                and load_log._dt is not distinct from e._dt
            """
        )
        con.execute(f"delete from raw.{source} where rowid in (select _rid from _erased_rows)")
    con.execute("drop table if exists _erased_rows")
    return n
