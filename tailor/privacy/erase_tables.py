"""Erasure in the warehouse's tables: the rows of every table that name a night's people,
found with one scan of each table for all of them (:func:`find_hits`), which sizes the
requests (:func:`blast_counts`) and then erases them (:func:`erase_hits`, one statement
per table that has rows of them); raw rows replaced by tombstones in ``raw.quarantine``
(:func:`tombstone`), and the identifiers in diagnostic text replaced in place
(:func:`redact_text_columns`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from tailor.consent import has_table
from tailor.erased import Identity, merged
from tailor.privacy import event_index
from tailor.privacy.matching import (
    ERASED_MARK,
    alternation,
    as_json,
    base_tables,
    column_role,
    json_tags,
    json_tags_sql,
    match_sql,
    needles_of,
    record_matches,
    role_values,
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


# Temp tables of the connection, valid until the caller's transaction ends.
IDS = "_erase_ids"  # (person, role, value): what each column role is compared with
TAGS = "_erase_tags"  # (person, tag): ``kind|value`` of identifier keys in JSON
ROWS = "_erase_rows"  # (tbl, rid, person): the rows of each table that name each person
HIT = "_erase_hit"


@dataclass
class Hits:
    """Where people are named, found by :func:`find_hits` (one scan of each table for all
    of them); :func:`blast_counts` reads it, :func:`erase_hits` erases from it."""

    idents: list[Identity]
    # the tables to visit, in the walk order: (schema, table, columns)
    walk: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)  # rows in each table with hits
    quarantine: list[set[int]] = field(default_factory=list)  # rowids per person


def _load_identifiers(con: duckdb.DuckDBPyConnection, idents: list[Identity]) -> None:
    """:data:`IDS` and :data:`TAGS` for these people, as :func:`match_sql` compares them."""
    ids: list[tuple[int, str, str]] = []
    tags: list[tuple[int, str]] = []
    for k, ident in enumerate(idents):
        for role, values in role_values(ident).items():
            ids += [(k, role, v) for v in sorted(values)]
        tags += [(k, t) for t in sorted(json_tags(ident))]
    con.execute(f"create or replace temp table {IDS} (person integer, role varchar, value varchar)")
    con.execute(f"create or replace temp table {TAGS} (person integer, tag varchar)")
    if ids:
        con.execute(
            f"insert into {IDS} select unnest($p), unnest($r), unnest($v)",
            {"p": [i[0] for i in ids], "r": [i[1] for i in ids], "v": [i[2] for i in ids]},
        )
    if tags:
        con.execute(
            f"insert into {TAGS} select unnest($p), unnest($t)",
            {"p": [t[0] for t in tags], "t": [t[1] for t in tags]},
        )


def _attribution_sql(name: str, columns: list[tuple[str, str]]) -> str:
    """SQL: (tbl, rid, person) for every row of :data:`HIT` and every person it names, by
    equality joins with :data:`IDS` and :data:`TAGS` (one per identifier column)."""
    parts = []
    for col, data_type in columns:
        role = column_role(col, data_type)
        c = quote_ident(col)
        if role == "json":
            parts.append(
                f"select h._rid, t.person from (select _rid, unnest("
                f"{json_tags_sql(as_json(f'h.{c}', data_type))}) as tag from {HIT} h) h "
                f"join {TAGS} t on t.tag = h.tag"
            )
        elif role is not None:
            parts.append(
                f"select h._rid, i.person from {HIT} h join {IDS} i "
                f"on i.role = {quote_literal(role)} and i.value = lower(trim(h.{c}))"
            )
    return (
        f"select distinct {quote_literal(name)}, _rid, person from ("
        + " union all ".join(parts)
        + ")"
    )


def find_hits(con: duckdb.DuckDBPyConnection, idents: list[Identity]) -> Hits:
    """The rows of every table that name each of these people, with one scan of each table
    for all of them (inside the caller's transaction, which :func:`erase_hits` must share:
    rows are kept by rowid). A table none of whose columns can hold an identifier of theirs
    is not read; the rows found are then attributed to people by joins with the
    identifiers, so the cost follows the rows that name them, not the number of people."""
    hits = Hits(idents)
    con.execute(f"create or replace temp table {ROWS} (tbl varchar, rid bigint, person integer)")
    if not idents:
        return hits
    _load_identifiers(con, idents)
    everyone = merged(idents)
    for schema, table, columns in _scanned_tables(con):
        name = f"{schema}.{table}"
        rel = f"{quote_ident(schema)}.{quote_ident(table)}"
        if (schema, table) in REDACT_IN_PLACE:
            hits.walk.append((schema, table, columns))
            continue
        if (schema, table) == QUARANTINE:
            hits.quarantine = quarantine_hits(con, idents)
            if any(hits.quarantine):
                (hits.totals[name],) = con.execute(f"select count(*) from {rel}").fetchone()
                hits.walk.append((schema, table, columns))
            continue
        cond = _condition(con, schema, table, columns, everyone)
        if cond is None:
            continue
        keep = [(c, t) for c, t in columns if column_role(c, t) is not None]
        picked = ", ".join(quote_ident(c) for c, _ in keep)
        con.execute(
            f"create or replace temp table {HIT} as "
            f"select rowid as _rid, {picked} from {rel} where {cond}"
        )
        (n,) = con.execute(f"select count(*) from {HIT}").fetchone()
        if n:
            con.execute(f"insert into {ROWS} {_attribution_sql(name, keep)}")
            (hits.totals[name],) = con.execute(f"select count(*) from {rel}").fetchone()
            hits.walk.append((schema, table, columns))
        con.execute(f"drop table {HIT}")
    return hits


def _condition(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: list[tuple[str, str]],
    everyone: Identity,
) -> str | None:
    """:func:`match_sql` for the table; ``raw.events``' JSON columns are looked up in the
    identifier index (:mod:`tailor.privacy.event_index`) instead of read."""
    json_columns = [(c, t) for c, t in columns if column_role(c, t) == "json"]
    if (schema, table) != ("raw", "events") or not json_columns:
        return match_sql(columns, everyone)
    event_index.refresh(con, json_columns)
    conds = [match_sql([c for c in columns if c not in json_columns], everyone)]
    if json_tags(everyone):
        conds.append(event_index.naming_sql(f"select tag from {TAGS}"))
    conds = [c for c in conds if c is not None]
    return " or ".join(conds) if conds else None


def blast_counts(con: duckdb.DuckDBPyConnection, hits: Hits) -> list[dict[str, tuple[int, int]]]:
    """What erasing each person would touch: per person, table -> (rows naming them, rows
    in the table)."""
    out: list[dict[str, tuple[int, int]]] = [{} for _ in hits.idents]
    for tbl, person, n in con.execute(
        f"select tbl, person, count(*) from {ROWS} group by all order by all"
    ).fetchall():
        out[person][tbl] = (n, hits.totals[tbl])
    for k, mine in enumerate(hits.quarantine):
        if mine:
            out[k][".".join(QUARANTINE)] = (len(mine), hits.totals[".".join(QUARANTINE)])
    return out


def blast_radius(
    con: duckdb.DuckDBPyConnection, idents: list[Identity]
) -> list[dict[str, tuple[int, int]]]:
    """What erasing each person would touch, before anything is touched: per person,
    table -> (rows naming them, rows in the table)."""
    hits = find_hits(con, idents)
    try:
        return blast_counts(con, hits)
    finally:
        drop_hits(con)


def erase_hits(
    con: duckdb.DuckDBPyConnection, hits: Hits, people: list[int]
) -> list[list[TableTouch]]:
    """Remove the rows that name ``people`` (indexes into ``hits.idents``) from every table
    (inside the transaction of :func:`find_hits`): one statement per table that has any,
    raw source rows tombstoned, quarantined records stripped, diagnostic text redacted.
    Each row counts for the first of ``people`` it names, as erasing them one after
    another would. Returns the tables touched, per person of ``people``."""
    touched: list[list[TableTouch]] = [[] for _ in people]
    position = {k: i for i, k in enumerate(people)}
    con.execute(f"delete from {ROWS} where person not in (select unnest(?::integer[]))", [people])
    for schema, table, columns in hits.walk:
        name = f"{schema}.{table}"
        rel = f"{quote_ident(schema)}.{quote_ident(table)}"
        if (schema, table) in REDACT_IN_PLACE:
            for i, k in enumerate(people):  # small diagnostic tables
                n = redact_text_columns(con, schema, table, columns, hits.idents[k])
                if n:
                    touched[i].append(TableTouch(name, rows_anonymized=n))
            continue
        if (schema, table) == QUARANTINE:
            mine = [hits.quarantine[k] for k in people]
            rowids = sorted(set().union(*mine))
            if rowids:
                con.execute(
                    "update raw.quarantine set record = null, reason = ? "
                    "where rowid in (select unnest(?::bigint[]))",
                    [REDACTED_TEXT, rowids],
                )
            for i, c in enumerate(_first_owner(mine)):
                if c:
                    touched[i].append(TableTouch(name, rows_anonymized=c))
            continue
        counts = con.execute(
            f"select first_person, count(*) from (select min(person) as first_person "
            f"from {ROWS} where tbl = ? group by rid) group by all",
            [name],
        ).fetchall()
        if not counts:
            continue  # every row of it named a person held back
        hits_sql = f"rowid in (select rid from {ROWS} where tbl = {quote_literal(name)})"
        if (schema, table) == ("raw", "events"):
            erased_tags = (
                f"select tag from {TAGS} where person in ({', '.join(str(int(k)) for k in people)})"
            )
            event_index.forget(con, hits_sql, erased_tags)
        if schema == "raw" and table in SOURCES:
            tombstone(con, table, hits_sql)
        else:
            con.execute(f"delete from {rel} where {hits_sql}")
        for k, c in sorted(counts):
            touched[position[k]].append(TableTouch(name, rows_removed=c))
    return touched


def drop_hits(con: duckdb.DuckDBPyConnection) -> None:
    for t in (IDS, TAGS, ROWS, HIT):
        con.execute(f"drop table if exists {t}")


def erase_rows(con: duckdb.DuckDBPyConnection, ident: Identity) -> list[TableTouch]:
    """Remove the person's rows from every table of every schema (run inside the caller's
    transaction); returns the tables that had rows of the person."""
    return erase_rows_many(con, [ident])[0]


def erase_rows_many(
    con: duckdb.DuckDBPyConnection, idents: list[Identity]
) -> list[list[TableTouch]]:
    """Remove several people's rows from every table of every schema (inside the caller's
    transaction) with one scan of each table for all of them (:func:`find_hits`,
    :func:`erase_hits`). Returns the tables touched, per person."""
    hits = find_hits(con, idents)
    try:
        return erase_hits(con, hits, list(range(len(idents))))
    finally:
        drop_hits(con)


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
