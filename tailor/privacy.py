"""Consent and erasure (the right to be forgotten).

Consent
    The rule that decides who may be contacted lives in :mod:`tailor.consent` (it fails
    closed: an unreadable withdrawal suppresses the subject); its functions
    (:func:`consented_customers_sql`, ...) stay importable from here.

Erasure
    :func:`erase` removes one person from everything Tailor keeps:

    * every table of the warehouse, in every schema (raw, intermediate, marts, ml, ops, and
      any table added later): rows are found by identity columns (``*customer_id``,
      ``user_id``, ``subject_id``, ``*anonymous_id``, ``visitor_id``, ``*order_id``, any
      column with ``email`` in its name, raw or sha256) and, in JSON and record text, by
      the identifiers as values of id keys, or the email anywhere;
    * raw source rows are replaced by a tombstone in ``raw.quarantine`` (file, line,
      reason ``erased_subject``, no record text) and ``raw.load_log`` is adjusted, so
      "every record read is loaded or quarantined" still holds per file;
    * quarantined records of the person keep their row but lose the record text;
    * views (staging) need nothing: they read the cleaned tables;
    * the landing zone: the person's records are removed from the delivered files
      (rewritten atomically; ``purge_landing=False`` keeps them, relying on suppression);
    * local copies of exports already written are redacted (their manifests say so); what
      was already sent to a tool is deleted there by a remove in the next export to each
      destination that holds the person (see ``tailor.exports.outbox``);
    * the published snapshot is republished (:func:`erase_and_publish`, or the nightly run).

    The person's identifiers are added to ``ops.erased_subjects`` as keyed hashes (never the
    plain sha256 used for matching elsewhere). :func:`enforce_suppression` (the nightly
    erasure stage, and the loader right after it loads a day) tombstones any raw row or
    quarantined record that names an erased subject, so a re-delivered or reloaded landing
    partition cannot bring the person back, and a dbt full refresh only ever rebuilds from
    cleaned raw tables. ``ops.erasure_audit`` records
    what was done: hashed id, time, tables touched, rows removed.

    :func:`apply_requests` (the nightly erase stage) applies a night's requests together:
    one pass over the landing files and one scan of each table for all of them, in one
    transaction, one audit row per request. The requests' own rows stay in their landing
    files until the run is committed (:func:`purge_applied_requests`): the stage works on
    the run's copy of the warehouse, and a run that fails later must leave them for its
    rerun.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick_rs
import duckdb
from isal import igzip

from tailor.consent import (  # consented_customers*: re-exported
    consented_customers,  # noqa: F401
    consented_customers_sql,  # noqa: F401
    has_table,
    utc_timestamp_sql,
)
from tailor.settings import Settings, get_settings
from tailor.sources import SOURCES

# --------------------------------------------------------------------------- hashing

HASH_DOMAIN = "tailor:erased-subject:v1"
SUBJECT_KINDS = ("customer_id", "email", "anonymous_id", "order_id")


def normalize(kind: str, value: Any) -> str | None:
    """The form an identifier is compared in: emails trimmed and lower-cased, ids trimmed."""
    if value is None:
        return None
    text = str(value).strip()
    if kind == "email":
        text = text.lower()
    return text or None


def subject_hash(kind: str, value: Any) -> str | None:
    """Keyed sha256 of an identifier, as kept in ``ops.erased_subjects``.

    The domain prefix makes it differ from the plain ``email_sha256`` used for matching in
    staging and marts, so the suppression list never contains a value that identifies the
    person anywhere else.
    """
    norm = normalize(kind, value)
    if norm is None:
        return None
    return hashlib.sha256(f"{HASH_DOMAIN}|{kind}|{norm}".encode()).hexdigest()


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def normalize_sql(kind: str, expr: str) -> str:
    if kind == "email":
        return f"nullif(lower(trim({expr})), '')"
    return f"nullif(trim({expr}), '')"


def subject_hash_sql(kind: str, expr: str) -> str:
    """SQL for :func:`subject_hash` of an expression (null stays null)."""
    return f"sha256({_lit(f'{HASH_DOMAIN}|{kind}|')} || {normalize_sql(kind, expr)})"


def erased_sql(kind: str, expr: str) -> str:
    """SQL condition: the expression is an erased identifier of this kind."""
    return (
        f"coalesce({subject_hash_sql(kind, expr)} in "
        f"(select subject_hash from ops.erased_subjects where kind = {_lit(kind)}), false)"
    )


# --------------------------------------------------------------------------- tables

ERASED_SUBJECTS_DDL = """
create table if not exists ops.erased_subjects (
    subject_hash varchar not null,    -- keyed sha256 of the normalized identifier (privacy.subject_hash)
    kind varchar not null,            -- customer_id | email | anonymous_id | order_id
    erased_on date not null,          -- logical day of the first erasure that named it
    audit_id varchar not null         -- the ops.erasure_audit record that added it
)
"""

ERASURE_AUDIT_DDL = """
create table if not exists ops.erasure_audit (
    audit_id varchar not null,
    subject_hash varchar not null,    -- keyed hash of the customer id (of the email when no id is known)
    request_id varchar,               -- erasure_requests.request_id, null for `tailor erase`
    trigger varchar not null,         -- cli | erasure_requests
    run_date date not null,           -- logical day the erasure was applied on
    requested_at timestamp,           -- when the person asked (UTC), when known
    erased_at timestamp not null,     -- wall-clock UTC
    identifiers json not null,        -- identifiers resolved, counted per kind
    tables_touched json not null,     -- [{"table", "rows_removed", "rows_anonymized"}]
    rows_removed bigint not null,
    rows_anonymized bigint not null,
    landing_files_rewritten bigint not null,
    landing_records_removed bigint not null,
    export_files_redacted bigint not null,
    export_rows_redacted bigint not null,
    destinations_notified json not null, -- destinations that get a remove in their next export
    snapshot varchar not null         -- republished | at_next_publish
)
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ops")
    con.execute(ERASED_SUBJECTS_DDL)
    con.execute(ERASURE_AUDIT_DDL)


# --------------------------------------------------------------------------- consent
# The consent rule lives in tailor.consent (imported above); its names stay importable
# from here.


# --------------------------------------------------------------------------- identity


@dataclass
class Identity:
    """Everything that identifies one person in Tailor's data."""

    customer_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)  # normalized
    anonymous_ids: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)

    @property
    def email_sha256s(self) -> set[str]:
        return {hashlib.sha256(e.encode()).hexdigest() for e in self.emails}

    @property
    def visitor_ids(self) -> set[str]:
        """How stitched events name a visitor: the anonymous id, or 'user:<customer id>'."""
        return self.anonymous_ids | {f"user:{c}" for c in self.customer_ids}

    def by_kind(self) -> dict[str, set[str]]:
        return {
            "customer_id": self.customer_ids,
            "email": self.emails,
            "anonymous_id": self.anonymous_ids,
            "order_id": self.order_ids,
        }

    def tokens(self) -> set[str]:
        """Every value whose presence anywhere would be a trace of the person."""
        return (self.customer_ids | self.emails | self.email_sha256s | self.anonymous_ids) - {""}

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.by_kind().items()}

    def primary_hash(self) -> str:
        if self.customer_ids:
            return subject_hash("customer_id", min(self.customer_ids)) or ""
        return subject_hash("email", min(self.emails)) or ""

    def is_empty(self) -> bool:
        return not (self.customer_ids or self.emails)


def _in_list(values: Iterable[str]) -> str:
    vals = sorted(set(values))
    return "(" + ", ".join(_lit(v) for v in vals) + ")" if vals else "(null)"


def resolve_identity(
    con: duckdb.DuckDBPyConnection,
    customer_id: str | None = None,
    email: str | None = None,
) -> Identity:
    """Every identifier of the person named by a customer id and/or an email.

    * customers: the given id, and every CRM record that ever carried the email;
    * emails: the given one, and every email those records ever had;
    * anonymous ids: those whose events carry one of the customer ids as userId or one of
      the emails as identify trait, and nothing pointing at anybody else (a shared device
      keeps its anonymous events: they cannot be attributed to the person);
    * orders: the customers' orders.
    """
    ident = Identity()
    if normalize("customer_id", customer_id):
        ident.customer_ids.add(normalize("customer_id", customer_id))
    if normalize("email", email):
        ident.emails.add(normalize("email", email))
    if ident.is_empty():
        raise ValueError("an erasure needs a customer id or an email")
    has_customers = has_table(con, "raw", "customers")
    if has_customers and ident.emails:
        ident.customer_ids |= _values(
            con,
            f"select distinct trim(customer_id) from raw.customers "
            f"where lower(trim(email)) in {_in_list(ident.emails)} and nullif(trim(customer_id), '') is not null",
        )
    if has_customers and ident.customer_ids:
        ident.emails |= _values(
            con,
            f"select distinct lower(trim(email)) from raw.customers "
            f"where trim(customer_id) in {_in_list(ident.customer_ids)} and nullif(trim(email), '') is not null",
        )
    if has_table(con, "raw", "events"):
        ident.anonymous_ids |= _values(
            con,
            f"""
            with ev as (
                select
                    nullif(trim(anonymous_id), '') as a,
                    nullif(trim(user_id), '') as u,
                    nullif(lower(trim(json_extract_string(traits, '$.email'))), '') as e
                from raw.events
                where nullif(trim(anonymous_id), '') is not null
            ),
            linked as (
                select distinct a from ev
                where u in {_in_list(ident.customer_ids)} or e in {_in_list(ident.emails)}
            )
            select a from ev
            where a in (select a from linked)
            group by a
            having count(*) filter (where u is not null and u not in {_in_list(ident.customer_ids)}) = 0
               and count(*) filter (where e is not null and e not in {_in_list(ident.emails)}) = 0
            """,
        )
    if has_table(con, "raw", "orders") and ident.customer_ids:
        ident.order_ids |= _values(
            con,
            f"select distinct trim(order_id) from raw.orders "
            f"where trim(customer_id) in {_in_list(ident.customer_ids)} and nullif(trim(order_id), '') is not null",
        )
    return ident


def _values(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    return {r[0] for r in con.execute(sql).fetchall() if r[0] is not None}


# --------------------------------------------------------------------------- matching

ID_KEY_PATTERN = r"[a-z_ ]*(customer|user|subject|anonymous|visitor|order|member)[ _]?id"
TEXT_COLUMNS = {"record", "_record", "key_fields", "payload", "reason"}


def column_role(name: str, data_type: str) -> str | None:
    """What an identifier-bearing column holds, judged by its name and type."""
    n = name.lower()
    t = data_type.upper()
    if t == "JSON" or n in TEXT_COLUMNS:
        return "text"
    if not t.startswith("VARCHAR"):
        return None
    if n.endswith("customer_id") or n in ("user_id", "subject_id"):
        return "customer_id"
    if n.endswith("anonymous_id"):
        return "anonymous_id"
    if n == "visitor_id":
        return "visitor_id"
    if "email" in n:
        return "email"
    if n.endswith("order_id"):
        return "order_id"
    if n in ("extra", "properties", "traits", "context"):
        return "text"
    return None


def _regex_escape(value: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def _alternation(values: Iterable[str]) -> str:
    return "|".join(_regex_escape(v) for v in sorted(values, key=lambda v: (-len(v), v)))


def _text_match_sql(expr: str, ident: Identity, *, ids: bool = True) -> str | None:
    """A condition on free text / JSON: an email anywhere (as a whole token), or (``ids``)
    an id as the value of an id-like key ("userId": "C1", "customer_id":"C1", ...).

    The emails are one case-insensitive pattern (on 4.2M event rows one pattern for one
    email took 1.8 s where an ``ilike`` prefilter per email took 5.3 s, and the gap grows
    with the emails); the id pattern runs only where a plain substring test hits."""
    emails = ident.emails | ident.email_sha256s
    ids = (ident.customer_ids | ident.anonymous_ids | ident.order_ids) if ids else set()
    if not emails and not ids:
        return None
    txt = f"{expr}::varchar"
    checks = []
    if emails:
        checks.append(
            f"regexp_matches({txt}, "
            f"{_lit(f'(?i)(^|[^a-z0-9._%+-])({_alternation(emails)})($|[^a-z0-9._%+-])')})"
        )
    if ids:
        pattern = (
            f'(?i)"{ID_KEY_PATTERN}"\\s*:\\s*"?(user:)?({_alternation(ids)})"?\\s*($|[,}}\\]])'
        )
        prefilter = " or ".join(f"contains({txt}, {_lit(v)})" for v in sorted(ids))
        checks.append(f"(({prefilter}) and regexp_matches({txt}, {_lit(pattern)}))")
    return f"({' or '.join(checks)})"


def match_sql(columns: list[tuple[str, str]], ident: Identity) -> str | None:
    """A SQL condition true for every row of a table (with these columns) that belongs to
    the person; None when the table has no identifying column."""
    conds: list[str] = []
    # A table with identity columns finds the person's rows through them; its text columns
    # are then only searched for the email (e.g. an identify trait on a shared device).
    direct = any(column_role(n, t) not in (None, "text") for n, t in columns)
    for name, data_type in columns:
        role = column_role(name, data_type)
        col = f'"{name}"'
        if role == "customer_id" and ident.customer_ids:
            conds.append(f"trim({col}) in {_in_list(ident.customer_ids)}")
        elif role == "anonymous_id" and ident.anonymous_ids:
            conds.append(f"trim({col}) in {_in_list(ident.anonymous_ids)}")
        elif role == "visitor_id" and ident.visitor_ids:
            conds.append(f"trim({col}) in {_in_list(ident.visitor_ids)}")
        elif role == "email" and ident.emails:
            conds.append(f"lower(trim({col})) in {_in_list(ident.emails | ident.email_sha256s)}")
        elif role == "order_id" and ident.order_ids:
            conds.append(f"trim({col}) in {_in_list(ident.order_ids)}")
        elif role == "text":
            cond = _text_match_sql(col, ident, ids=not direct)
            if cond:
                conds.append(f"coalesce({cond}, false)")
    if not conds:
        return None
    return "(" + " or ".join(f"coalesce({c}, false)" for c in conds) + ")"


def base_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(schema, table, [(column, type)]) for every base table of the open database."""
    rows = con.execute(
        """
        select c.table_schema, c.table_name, c.column_name, c.data_type
        from information_schema.columns c
        join information_schema.tables t
            on t.table_schema = c.table_schema and t.table_name = c.table_name
            and t.table_catalog = c.table_catalog
        where t.table_type = 'BASE TABLE' and c.table_catalog = current_database()
        order by c.table_schema, c.table_name, c.ordinal_position
        """
    ).fetchall()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, col, typ in rows:
        out.setdefault((schema, table), []).append((col, typ))
    return [(s, t, cols) for (s, t), cols in out.items()]


# --------------------------------------------------------------------------- warehouse

# Tables erasure never touches: they hold only keyed hashes and counts.
PROTECTED = {("ops", "erased_subjects"), ("ops", "erasure_audit"), ("raw", "load_log")}
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


def merged(idents: Iterable[Identity]) -> Identity:
    """One identity holding every identifier of several people."""
    out = Identity()
    for ident in idents:
        out.customer_ids |= ident.customer_ids
        out.emails |= ident.emails
        out.anonymous_ids |= ident.anonymous_ids
        out.order_ids |= ident.order_ids
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
    if not idents:
        return touched
    everyone = merged(idents)
    for schema, table, columns in base_tables(con):
        if (schema, table) in PROTECTED or schema == "temp":
            continue
        name = f"{schema}.{table}"
        if (schema, table) in REDACT_IN_PLACE:
            for k, ident in enumerate(idents):  # small diagnostic tables
                n = redact_text_columns(con, schema, table, columns, ident)
                if n:
                    touched[k].append(TableTouch(name, rows_anonymized=n))
            continue
        cond = match_sql(columns, everyone)
        if cond is None:
            continue
        is_raw_source = schema == "raw" and table in SOURCES
        is_quarantine = (schema, table) == ("raw", "quarantine")
        if is_quarantine:
            cond += " and record is not null"
        rel = f'"{schema}"."{table}"'
        con.execute(
            f"create or replace temp table _erase_hits as "
            f"select rowid as _erase_rid, null::integer as _erase_person, * from {rel} where {cond}"
        )
        (n,) = con.execute("select count(*) from _erase_hits").fetchone()
        if n:
            counts = [n] if len(idents) == 1 else _attribute(con, columns, idents)
            hits = "rowid in (select _erase_rid from _erase_hits)"
            if is_raw_source:
                tombstone(con, table, hits)
            elif is_quarantine:
                con.execute(
                    f"update {rel} set record = null, reason = {_lit(REDACTED_TEXT)} where {hits}"
                )
            else:
                con.execute(f"delete from {rel} where {hits}")
            for k, c in enumerate(counts):
                if c:
                    touch = TableTouch(name)
                    if is_quarantine:
                        touch.rows_anonymized = c
                    else:
                        touch.rows_removed = c
                    touched[k].append(touch)
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
    pattern = _lit(f"(?i)(^|{bound})({_alternation(toks)})($|{bound})")
    texts = [(n, t) for n, t in columns if t.upper().startswith("VARCHAR") or t.upper() == "JSON"]
    if not texts:
        return 0
    rel = f'"{schema}"."{table}"'
    keep_bounds = _lit(r"\1" + ERASED_MARK + r"\3")
    sets = ", ".join(
        f'"{c}" = regexp_replace("{c}"::varchar, {pattern}, {keep_bounds}, \'g\')::{t}'
        for c, t in texts
    )
    where = " or ".join(
        f'coalesce(regexp_matches("{c}"::varchar, {pattern}), false)' for c, _ in texts
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
            select {_lit(source)}, _dt, _batch_id, coalesce(_source_file, ''), _line,
                   {_lit(TOMBSTONE_REASON)}, {_lit(TOMBSTONE_TEXT)}, null, _loaded_at
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
            where load_log.source = {_lit(source)}
                and load_log.source_file = e._source_file
                and load_log._batch_id = e._batch_id
                and load_log._dt is not distinct from e._dt
            """
        )
        con.execute(f"delete from raw.{source} where rowid in (select _rid from _erased_rows)")
    con.execute("drop table if exists _erased_rows")
    return n


# Identity fields of each raw source, for suppression (kind, SQL expression).
SOURCE_IDENTITIES: dict[str, list[tuple[str, str]]] = {
    "customers": [("customer_id", "customer_id"), ("email", "email")],
    "orders": [("customer_id", "customer_id"), ("order_id", "order_id")],
    "order_items": [("order_id", "order_id")],
    "consents": [("customer_id", "subject_id")],
    "erasure_requests": [("customer_id", "customer_id"), ("email", "email")],
    "events": [
        ("customer_id", "user_id"),
        ("anonymous_id", "anonymous_id"),
        ("email", "json_extract_string(traits, '$.email')"),
        ("order_id", "json_extract_string(properties, '$.order_id')"),
    ],
}


def suppressed_sql(source: str) -> str | None:
    """SQL condition on a ``raw.<source>`` row (or the loader's parsed candidate row):
    it names an erased subject."""
    fields = SOURCE_IDENTITIES.get(source)
    if not fields:
        return None
    return "(" + " or ".join(erased_sql(kind, expr) for kind, expr in fields) + ")"


def enforce_suppression(
    con: duckdb.DuckDBPyConnection, day: dt.date | None = None
) -> dict[str, int]:
    """Tombstone raw rows of erased subjects that came back (a reloaded or re-delivered
    landing partition) and strip their quarantined record text. ``day`` limits the check to
    one landing day. Runs inside the caller's transaction; returns rows per table."""
    ensure_tables(con)
    (n_erased,) = con.execute("select count(*) from ops.erased_subjects").fetchone()
    if not n_erased:
        return {}
    out: dict[str, int] = {}
    for source in SOURCE_IDENTITIES:
        if not has_table(con, "raw", source):
            continue
        cond = suppressed_sql(source)
        if day is not None:
            cond = f"({cond}) and _dt = date '{day.isoformat()}'"
        n = tombstone(con, source, cond)
        if n:
            out[f"raw.{source}"] = n
    if has_table(con, "raw", "quarantine"):
        cond = f"record is not null and {quarantine_suppressed_sql('record')}"
        if day is not None:
            cond += f" and _dt = date '{day.isoformat()}'"
        n = len(
            con.execute(
                f"update raw.quarantine set record = null, reason = {_lit(REDACTED_TEXT)} "
                f"where {cond} returning 1"
            ).fetchall()
        )
        if n:
            out["raw.quarantine"] = n
    return out


def quarantine_suppressed_sql(expr: str) -> str:
    """SQL condition on the text of a quarantined record (which may not even be valid
    JSON): it names an erased subject, as the value of an id key or as an email."""

    def hashed(kind: str, pattern: str, group: int, norm: str) -> str:
        prefix = _lit(f"{HASH_DOMAIN}|{kind}|")
        return (
            f"list_transform(regexp_extract_all({expr}, {_lit(pattern)}, {group}), "
            f"lambda x: sha256({prefix} || {norm}))"
        )

    ids = hashed(
        "customer_id",
        r'(?i)"[a-z_ ]*(?:customer|user|subject)[ _]?id"\s*:\s*"([^"]+)"',
        1,
        "trim(x)",
    )
    anon = hashed("anonymous_id", r'(?i)"[a-z_ ]*anonymous[ _]?id"\s*:\s*"([^"]+)"', 1, "trim(x)")
    orders = hashed("order_id", r'(?i)"[a-z_ ]*order[ _]?id"\s*:\s*"([^"]+)"', 1, "trim(x)")
    emails = hashed("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+", 0, "lower(x)")
    return (
        f"coalesce(list_has_any({ids} || {anon} || {orders} || {emails}, "
        "(select coalesce(list(subject_hash), []) from ops.erased_subjects)), false)"
    )


def find_traces(
    con: duckdb.DuckDBPyConnection, tokens: Iterable[str], *, include_views: bool = True
) -> list[tuple[str, str, int]]:
    """(table, column, rows) wherever a token occurs in any text or JSON column, case
    insensitively, as a substring: the proof that nothing of a person is left."""
    toks = sorted({t.lower() for t in tokens if t})
    if not toks:
        return []
    kinds = "('BASE TABLE', 'VIEW')" if include_views else "('BASE TABLE')"
    rows = con.execute(
        f"""
        select c.table_schema, c.table_name, c.column_name, c.data_type
        from information_schema.columns c
        join information_schema.tables t
            on t.table_schema = c.table_schema and t.table_name = c.table_name
            and t.table_catalog = c.table_catalog
        where t.table_type in {kinds} and c.table_catalog = current_database()
        order by 1, 2, c.ordinal_position
        """
    ).fetchall()
    relations: dict[tuple[str, str], list[str]] = {}
    for schema, table, col, typ in rows:
        t = typ.upper()
        if t.startswith("VARCHAR") or t == "JSON" or "[]" in t or t.startswith(("STRUCT", "MAP")):
            relations.setdefault((schema, table), []).append(col)
        else:
            relations.setdefault((schema, table), [])
    pattern = _lit("(?i)" + _alternation(toks))
    hits = []
    for (schema, table), cols in relations.items():
        if not cols:
            continue
        counts = ", ".join(
            f'count(*) filter (where regexp_matches("{c}"::varchar, {pattern}))' for c in cols
        )
        found = con.execute(f'select {counts} from "{schema}"."{table}"').fetchone()
        hits += [(f"{schema}.{table}", c, n) for c, n in zip(cols, found, strict=True) if n]
    return hits


# --------------------------------------------------------------------------- landing zone

LANDING_KEYS = {
    "customerid": "customer_id",
    "userid": "customer_id",
    "subjectid": "customer_id",
    "anonymousid": "anonymous_id",
    "orderid": "order_id",
}


def _key_kind(key: str) -> str | None:
    k = re.sub(r"[^a-z]", "", key.lower())
    if "email" in k:
        return "email"
    return LANDING_KEYS.get(k)


def _value_matches(kind: str, value: Any, ident: Identity) -> bool:
    if not isinstance(value, str | int):
        return False
    norm = normalize(kind, value)
    return norm is not None and norm in ident.by_kind()[kind]


def _object_matches(obj: Any, ident: Identity) -> bool:
    if isinstance(obj, dict):
        for k, v in obj.items():
            kind = _key_kind(str(k))
            if kind and _value_matches(kind, v, ident):
                return True
            if isinstance(v, dict | list) and _object_matches(v, ident):
                return True
    elif isinstance(obj, list):
        return any(_object_matches(v, ident) for v in obj)
    return False


def _token_regex(ident: Identity) -> re.Pattern[str] | None:
    toks = sorted(ident.tokens() | ident.order_ids, key=len, reverse=True)
    if not toks:
        return None
    alt = "|".join(re.escape(t) for t in toks)
    return re.compile(rf"(?<![A-Za-z0-9._%+-])(?:{alt})(?![A-Za-z0-9._%+-])", re.IGNORECASE)


# ISA-L's gzip: decompresses a 330 MB landing partition in about half the time of zlib and
# compresses it at level 2 in 0.6 s instead of 2.4 s (zlib level 1) or 5.5 s (level 6), to
# about the size the generator's level 1 gives; any gzip reader reads the result.
GZIP_LEVEL = 2


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        data = igzip.decompress(data)
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    if path.name.lower().endswith(".gz"):
        # mtime=0: the same records always give the same bytes (and the same checksum)
        data = igzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    tmp = path.with_name(f".{path.name}.erase-{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _needles(ident: Identity) -> list[str]:
    return sorted({t.lower() for t in ident.tokens() | ident.order_ids})


class _Finder:
    """Where several people's identifiers occur in lower-cased bytes, all of them found in
    Rust (ahocorasick-rs; it releases the GIL, so the landing threads really run side by
    side). Few identifiers: one SIMD substring search (memmem) each. Many (a night with
    several requests): one automaton for all of them, one pass whatever their number.
    Measured on a 276 MB events partition: 8 people's 165 identifiers take 7.2 s one by
    one and 1.9 s in one automaton; 8-25 identifiers 0.3-1.0 s one by one and 0.6-2.6 s
    in one automaton (ids share prefixes that occur everywhere), hence the threshold. One
    by one beats ``bytes.find``, which holds the GIL, by 3x (40 identifiers, 289 MB: 5.7 s
    -> 1.8 s)."""

    MANY = 40  # identifiers from which one automaton beats a search per identifier

    def __init__(self, idents: list[Identity]):
        self.people = len(idents)
        owners: dict[bytes, list[int]] = {}
        for k, ident in enumerate(idents):
            for needle in _needles(ident):
                if needle and k not in owners.setdefault(needle.encode(), []):
                    owners[needle.encode()].append(k)
        self._owners = list(owners.values())
        patterns = list(owners)
        if len(patterns) >= self.MANY:
            self._automaton = ahocorasick_rs.BytesAhoCorasick(patterns)
            self._searchers = []
        else:
            self._automaton = None
            self._searchers = [ahocorasick_rs.BytesAhoCorasick([p]) for p in patterns]

    def positions(self, low: bytes) -> list[list[int]]:
        """Per person, where one of their identifiers starts (overlapping occurrences
        included: one person's identifier must not hide another's)."""
        out: list[list[int]] = [[] for _ in range(self.people)]
        if self._automaton is not None:
            found = self._automaton.find_matches_as_indexes(low, overlapping=True)
        else:
            found = [
                (i, start, end)
                for i, s in enumerate(self._searchers)
                for _, start, end in s.find_matches_as_indexes(low)
            ]
        for i, start, _ in found:
            for k in self._owners[i]:
                out[k].append(start)
        return out


def _mentions(text: str, needles: list[str]) -> bool:
    low = text.lower()
    return any(n in low for n in needles)


def _line_drops(line: str, ident: Identity, token_re: re.Pattern[str]) -> bool:
    body = line.strip()
    if not body or not token_re.search(body):
        return False
    try:
        obj = json.loads(body)
    except ValueError:
        return True  # an unparseable line that names the person
    return _object_matches(obj, ident) or any(e in body.lower() for e in ident.emails)


def _ndjson_drops(
    data: bytes,
    ident: Identity,
    token_re: re.Pattern[str],
    starts: Iterable[int],
    skip: set[tuple[int, int]] | None = None,
) -> set[tuple[int, int]]:
    """The (start, end) byte spans of the lines naming the person, among the lines holding
    one of their identifiers at ``starts`` (found by a byte search of the whole file) and
    not in ``skip``: only those lines are parsed."""
    spans: set[tuple[int, int]] = set()
    for i in starts:
        start = data.rfind(b"\n", 0, i) + 1
        end = data.find(b"\n", i)
        spans.add((start, len(data) if end == -1 else end + 1))
    return {
        (a, b)
        for a, b in spans - (skip or set())
        if _line_drops(data[a:b].decode("utf-8", errors="surrogateescape"), ident, token_re)
    }


def _without(data: bytes, spans: Iterable[tuple[int, int]]) -> bytes:
    """``data`` without the given (disjoint) byte spans; every other byte as it was."""
    view, pieces, pos = memoryview(data), [], 0  # slices of a view copy nothing
    for a, b in sorted(spans):
        pieces.append(view[pos:a])
        pos = b
    pieces.append(view[pos:])
    return b"".join(pieces)


def _csv_records(text: str) -> tuple[list[str], list[str], Iterator[tuple[list[str] | None, str]]]:
    """A CSV file as (header, the header's lines, records): each record is (its fields, its
    text as in the file); after broken quoting, one last (None, the rest of the file)."""
    lines = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], lines, iter(())
    head = lines[: reader.line_num]

    def records() -> Iterator[tuple[list[str] | None, str]]:
        start = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield None, "".join(lines[start:])
                return
            yield row, "".join(lines[start : reader.line_num])
            start = reader.line_num

    return header, head, records()


def _purge_csv(text: str, ident: Identity, token_re: re.Pattern[str]) -> tuple[str, int]:
    header, kept, records = _csv_records(text)
    kinds = [_key_kind(h) for h in header]
    needles = _needles(ident)
    removed = 0
    for row, raw in records:
        if row is None:
            # Broken quoting: keep the rest as it is unless it names the person.
            rest = raw.splitlines(keepends=True)
            kept += [ln for ln in rest if not token_re.search(ln)]
            removed += sum(1 for ln in rest if token_re.search(ln))
            break
        matched = False
        if _mentions(raw, needles) and token_re.search(raw):
            if len(row) == len(header):
                matched = any(
                    k and _value_matches(k, v, ident) for k, v in zip(kinds, row, strict=True)
                ) or any(e in raw.lower() for e in ident.emails)
            else:
                matched = True
        if matched:
            removed += 1
        else:
            kept.append(raw)
    return "".join(kept), removed


def _purge_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: str, ident: Identity) -> int:
    src = _lit(str(path))
    cols = [d[0] for d in con.execute(f"select * from read_parquet({src}) limit 0").description]
    conds = []
    for c in cols:
        kind = _key_kind(c)
        values = ident.by_kind().get(kind or "", set())
        if kind and values:
            conds.append(
                f"{normalize_sql(kind, f'{chr(34)}{c}{chr(34)}::varchar')} in {_in_list(values)}"
            )
    if not conds:
        return 0
    cond = " or ".join(f"coalesce({c}, false)" for c in conds)
    (n,) = con.execute(f"select count(*) from read_parquet({src}) where {cond}").fetchone()
    if n:
        tmp = path.with_name(f".{path.name}.erase-{os.getpid()}.tmp")
        con.execute(
            f"copy (select * from read_parquet({src}) where not ({cond})) to {_lit(str(tmp))} (format parquet)"
        )
        os.replace(tmp, path)
    return n


def landing_files(landing: Path) -> Iterator[tuple[str, Path]]:
    for source in SOURCE_IDENTITIES:
        folder = landing / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("dt=*/*")):
            if path.is_file() and not path.name.startswith("."):
                yield source, path


def _purge_text_file(
    path: Path, people: list[tuple[Identity, re.Pattern[str]]], finder: _Finder
) -> list[int]:
    """Remove each person's records from one landing file, read, searched and written once
    for all of them; returns the records removed per person (a record naming two people
    counts for the first)."""
    data = _read_bytes(path)
    found = finder.positions(data.lower())
    counts = [0] * len(people)
    if not any(found):
        return counts
    if path.name.lower().endswith((".csv", ".csv.gz")):
        text = data.decode("utf-8", errors="surrogateescape")
        for k, (ident, token_re) in enumerate(people):
            if found[k]:  # removing records adds no identifier: a miss stays a miss
                text, counts[k] = _purge_csv(text, ident, token_re)
        new = text.encode("utf-8", errors="surrogateescape")
    else:
        dropped: set[tuple[int, int]] = set()
        for k, (ident, token_re) in enumerate(people):
            mine = _ndjson_drops(data, ident, token_re, found[k], dropped)
            counts[k] = len(mine)
            dropped |= mine
        new = _without(data, dropped)
    if any(counts):
        _write_atomic(path, new)
    return counts


TEXT_SUFFIXES = (".csv", ".csv.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".json.gz")


def purge_landing(
    landing: Path, ident: Identity, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[int, int]:
    """Remove the person's records from every landing file; returns (files rewritten,
    records removed)."""
    return purge_landing_many(landing, [ident], con)[0]


def purge_landing_many(
    landing: Path,
    idents: list[Identity],
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    skip_sources: Iterable[str] = (),
) -> list[tuple[int, int]]:
    """Remove several people's records from every landing file (of the sources not in
    ``skip_sources``) in one pass: each file is read, searched and (if anyone was in it)
    rewritten once, whatever the number of people. Returns (files rewritten, records
    removed) per person. Files are rewritten under a temporary name and renamed; text files
    are handled in parallel threads (decompression and compression release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    people = [(ident, rx) for ident in idents if (rx := _token_regex(ident)) is not None]
    index = [k for k, ident in enumerate(idents) if _token_regex(ident) is not None]
    out = [(0, 0)] * len(idents)
    if not people or not landing.is_dir():
        return out
    skip = set(skip_sources)
    found = [(src, p) for src, p in landing_files(landing) if src not in skip]
    texts = [p for _, p in found if p.name.lower().endswith(TEXT_SUFFIXES)]
    parquets = [(src, p) for src, p in found if p.name.lower().endswith(".parquet")]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        finder = _Finder([ident for ident, _ in people])
        per_file = list(pool.map(lambda p: _purge_text_file(p, people, finder), texts))
    own = con is None
    con = con or duckdb.connect()
    try:
        for src, p in parquets:
            per_file.append([_purge_parquet(con, p, src, ident) for ident, _ in people])
    finally:
        if own:
            con.close()
    for j, k in enumerate(index):
        counts = [row[j] for row in per_file]
        out[k] = (sum(1 for n in counts if n), sum(counts))
    return out


REQUESTS_SOURCE = "erasure_requests"


def _drop_csv_rows(text: str, column: str, values: set[str]) -> tuple[str, int]:
    """``text`` (a CSV file) without the rows whose ``column`` (trimmed) is in ``values``;
    every other byte as it was. A file without that column, or the rest of a file after
    broken quoting, is kept."""
    header, kept, records = _csv_records(text)
    names = [h.strip().lower() for h in header]
    if column not in names:
        return text, 0
    at = names.index(column)
    removed = 0
    for row, raw in records:
        if row is not None and at < len(row) and row[at].strip() in values:
            removed += 1
        else:
            kept.append(raw)
    return "".join(kept), removed


def purge_applied_requests(con: duckdb.DuckDBPyConnection, landing: Path) -> int:
    """Remove from the ``erasure_requests`` landing files the rows of the requests ``con``'s
    warehouse has applied (their audit row is there); returns the rows removed.

    A night's erase stage leaves its own requests' rows in the landing zone: the stage
    works on the run's copy of the warehouse, and if a later stage fails the copy is thrown
    away, so the rerun must find the requests again to apply them (removing them with the
    person's other records would lose them for good). They go once the run is committed
    (:func:`purge_committed_requests`), and each erase stage first removes those of a run
    that died between its commit and that step."""
    if not has_table(con, "ops", "erasure_audit"):
        return 0
    applied = {
        r[0]
        for r in con.execute(
            "select distinct trim(request_id) from ops.erasure_audit where request_id is not null"
        ).fetchall()
    }
    folder = landing / REQUESTS_SOURCE
    if not applied or not folder.is_dir():
        return 0
    removed = 0
    for path in sorted(folder.glob("dt=*/*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if not path.name.lower().endswith((".csv", ".csv.gz")):
            continue
        text = _read_bytes(path).decode("utf-8", errors="surrogateescape")
        new, n = _drop_csv_rows(text, "request_id", applied)
        if n:
            _write_atomic(path, new.encode("utf-8", errors="surrogateescape"))
            removed += n
    return removed


def purge_committed_requests(settings: Settings) -> int:
    """:func:`purge_applied_requests` on the committed warehouse (run right after a commit)."""
    from tailor.warehouse import connect

    if not settings.warehouse.exists():
        return 0
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        return purge_applied_requests(con, settings.landing)
    finally:
        con.close()


def landing_traces(landing: Path, tokens: Iterable[str]) -> list[Path]:
    """Landing files that still contain any token (case-insensitive substring)."""
    from concurrent.futures import ThreadPoolExecutor

    toks = [t.lower().encode() for t in tokens if t]

    def mentions(path: Path) -> bool:
        if path.name.lower().endswith(".parquet"):
            con = duckdb.connect()
            try:
                rows = con.execute(f"select * from read_parquet({_lit(str(path))})").fetchall()
            finally:
                con.close()
            data = "\n".join(str(r) for r in rows).encode()
        else:
            data = _read_bytes(path)
        low = data.lower()
        return any(t in low for t in toks)

    paths = [p for _, p in landing_files(landing)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        hits = list(pool.map(mentions, paths))
    return [p for p, hit in zip(paths, hits, strict=True) if hit]


# --------------------------------------------------------------------------- other files

# The folders beside the warehouse that can hold a person's identifiers in text files:
# Great Expectations results and Data Docs (failure samples), run reports, the run log,
# Airflow task logs (failure messages), the generator's ground truth. Other folders under
# the data folder (benchmark scratch data, other data sets' warehouses) belong to other
# data sets and are left alone. Line-oriented files lose the lines that name the person;
# documents get the identifiers replaced by ERASED_MARK.
LINE_FILES = (".csv", ".jsonl", ".log", ".txt")
DOCUMENT_FILES = (".json", ".html", ".htm", ".md", ".yml", ".yaml")
ERASED_MARK = "[erased]"


def other_folders(settings: Settings) -> list[Path]:
    return [
        settings.data / "gx",
        settings.reports,
        settings.data / "runs",
        settings.ground_truth,
        settings.airflow_home / "logs",
    ]


def other_files(settings: Settings) -> Iterator[Path]:
    """The text files of :func:`other_folders` that :func:`redact_files` covers."""
    seen: set[Path] = set()
    for root in other_folders(settings):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            if path.name.lower().endswith(LINE_FILES + DOCUMENT_FILES):
                yield path


def redact_files(settings: Settings, ident: Identity) -> tuple[int, int]:
    """Remove the person from every file of :func:`other_files`; returns (files changed,
    lines dropped or identifiers replaced)."""
    token_re = _token_regex(ident)
    if token_re is None:
        return 0, 0
    needles = [n.encode() for n in _needles(ident)]
    files = changes = 0
    for path in other_files(settings):
        data = path.read_bytes()
        low = data.lower()
        if not any(n in low for n in needles):
            continue
        text = data.decode("utf-8", errors="replace")
        if path.name.lower().endswith(LINE_FILES):
            lines = text.splitlines(keepends=True)
            kept = [ln for ln in lines if not token_re.search(ln)]
            n = len(lines) - len(kept)
            new = "".join(kept)
        else:
            new, n = token_re.subn(ERASED_MARK, text)
        if n:
            _write_atomic(path, new.encode())
            files += 1
            changes += n
    return files, changes


# --------------------------------------------------------------------------- erasure


@dataclass
class ErasureResult:
    audit_id: str
    subject_hash: str
    identity: Identity
    tables: list[TableTouch]
    landing_files: int = 0
    landing_records: int = 0
    export_files: int = 0
    export_rows: int = 0
    destinations_notified: list[str] = field(default_factory=list)
    other_files: int = 0
    other_changes: int = 0
    request_id: str | None = None
    requested_at: dt.datetime | None = None

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables)

    @property
    def rows_anonymized(self) -> int:
        return sum(t.rows_anonymized for t in self.tables)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def erase(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: Settings | None = None,
    customer_id: str | None = None,
    email: str | None = None,
    day: dt.date | None = None,
    request_id: str | None = None,
    requested_at: dt.datetime | None = None,
    trigger: str = "cli",
    purge_landing_files: bool = True,
    landing_purged: tuple[int, int] | None = None,
    redact_exports: bool = True,
    snapshot: str = "at_next_publish",
) -> ErasureResult:
    """Erase one person from the warehouse open on ``con`` (and from the landing zone and the
    local export copies under ``settings``). Idempotent: erasing again finds nothing more.

    The files are cleaned first and the warehouse last, in one transaction: if anything
    fails, the warehouse still knows every identifier and the erasure can simply be rerun.
    ``landing_purged`` is (files, records) of a landing purge the caller already made for
    this person; the landing zone is then left alone.
    """
    s = settings or get_settings()
    day = day or dt.date.today()
    ensure_tables(con)
    ident = resolve_identity(con, customer_id=customer_id, email=email)
    if landing_purged is None and purge_landing_files:
        landing_purged = purge_landing(s.landing, ident)
    result = _clean_files(
        con, s, ident, day, trigger, request_id, requested_at, landing_purged, redact_exports
    )
    _erase_in_tables(con, [result], day, trigger, snapshot)
    return result


def _clean_files(
    con: duckdb.DuckDBPyConnection,
    s: Settings,
    ident: Identity,
    day: dt.date,
    trigger: str,
    request_id: str | None,
    requested_at: dt.datetime | None,
    landing_purged: tuple[int, int] | None,
    redact_exports: bool,
) -> ErasureResult:
    """Everything outside the warehouse's tables, for one person: queue a remove for every
    destination that holds them, then clean the local export copies and the other files
    (the landing zone is purged by the caller). The result's tables are filled in by
    :func:`_erase_in_tables`."""
    from tailor.exports import outbox, redact

    primary = ident.primary_hash()
    audit_id = hashlib.sha256(
        f"{primary}|{request_id or ''}|{day.isoformat()}|{trigger}".encode()
    ).hexdigest()[:32]
    notified = outbox.queue_erasure(con, s, ident, day, primary)
    ex_files, ex_rows = redact.redact_exports(s, ident) if redact_exports else (0, 0)
    land_files, land_records = landing_purged or (0, 0)
    other, other_changes = redact_files(s, ident)
    return ErasureResult(
        audit_id=audit_id,
        subject_hash=primary,
        identity=ident,
        tables=[],
        landing_files=land_files,
        landing_records=land_records,
        export_files=ex_files,
        export_rows=ex_rows,
        destinations_notified=notified,
        other_files=other,
        other_changes=other_changes,
        request_id=request_id,
        requested_at=requested_at,
    )


def _erase_in_tables(
    con: duckdb.DuckDBPyConnection,
    results: list[ErasureResult],
    day: dt.date,
    trigger: str,
    snapshot: str,
) -> None:
    """The warehouse's part for these people, in one transaction: their rows (one scan of
    each table for all of them; each result gets its tables), their subject hashes, one
    audit row each."""
    con.execute("begin transaction")
    try:
        per_person = erase_rows_many(con, [r.identity for r in results])
        for r, touched in zip(results, per_person, strict=True):
            r.tables = touched
            for kind, values in r.identity.by_kind().items():
                for value in sorted(values):
                    h = subject_hash(kind, value)
                    con.execute(
                        """
                        insert into ops.erased_subjects
                        select ?, ?, ?, ?
                        where not exists (
                            select 1 from ops.erased_subjects where subject_hash = ?
                        )
                        """,
                        [h, kind, day, r.audit_id, h],
                    )
            con.execute("delete from ops.erasure_audit where audit_id = ?", [r.audit_id])
            con.execute(
                "insert into ops.erasure_audit "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    r.audit_id,
                    r.subject_hash,
                    r.request_id,
                    trigger,
                    day,
                    r.requested_at,
                    _utcnow(),
                    json.dumps(r.identity.counts()),
                    json.dumps(
                        [
                            {
                                "table": t.table,
                                "rows_removed": t.rows_removed,
                                "rows_anonymized": t.rows_anonymized,
                            }
                            for t in touched
                        ]
                    ),
                    r.rows_removed,
                    r.rows_anonymized,
                    r.landing_files,
                    r.landing_records,
                    r.export_files,
                    r.export_rows,
                    json.dumps(r.destinations_notified),
                    snapshot,
                ],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def compact_database(path: Path, settings: Settings | None = None) -> None:
    """Rewrite a DuckDB file table by table into a fresh file and swap it in.

    Deleted rows can linger in free blocks of a DuckDB file (not queryable, but on disk);
    the rewrite leaves none. No other connection may have the file open.
    """
    from tailor.warehouse import connect

    s = settings or get_settings()
    tmp = path.with_name(f".{path.name}.compact-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    con = connect(path, settings=s)
    try:
        (name,) = con.execute("select current_database()").fetchone()
        con.execute(f"attach {_lit(str(tmp))} as tailor_compacted")
        con.execute(f'copy from database "{name}" to tailor_compacted')
        con.execute("detach tailor_compacted")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, path)


def erase_and_publish(
    settings: Settings | None = None,
    *,
    customer_id: str | None = None,
    email: str | None = None,
    day: dt.date | None = None,
    purge_landing_files: bool = True,
    redact_exports: bool = True,
) -> ErasureResult:
    """``tailor erase``: erase on a private copy of the warehouse, rewrite it compactly (no
    deleted row left in free blocks), swap it in, republish the analyst snapshot. Must not
    run while a nightly run writes the warehouse."""
    from tailor.pipeline import working_copy
    from tailor.publish import publish_snapshot
    from tailor.warehouse import connect

    s = settings or get_settings()
    if not s.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {s.warehouse}")
    with working_copy(s, run_id=f"erase-{os.getpid()}") as work:
        con = connect(work.warehouse, settings=work)
        try:
            result = erase(
                con,
                settings=s,
                customer_id=customer_id,
                email=email,
                day=day,
                purge_landing_files=purge_landing_files,
                redact_exports=redact_exports,
                snapshot="republished",
            )
        finally:
            con.close()
        compact_database(work.warehouse, work)
    publish_snapshot(s)
    return result


def pending_requests(con: duckdb.DuckDBPyConnection, day: dt.date) -> list[dict[str, Any]]:
    """Erasure requests that arrived on or before ``day`` and have not been applied."""
    if not has_table(con, "raw", "erasure_requests"):
        return []
    ensure_tables(con)
    rows = con.execute(
        f"""
        with requests as (
            select
                trim(request_id) as request_id,
                nullif(trim(customer_id), '') as customer_id,
                nullif(lower(trim(email)), '') as email,
                {utc_timestamp_sql("requested_at")} as requested_at,
                row_number() over (
                    partition by trim(request_id) order by _dt desc, _source_file desc, _line desc
                ) as version_rank
            from raw.erasure_requests
            where _dt <= ? or _dt is null
        )
        select request_id, customer_id, email, requested_at
        from requests
        where version_rank = 1
            and (customer_id is not null or email is not null)
            and request_id not in (
                select request_id from ops.erasure_audit where request_id is not null
            )
        order by requested_at, request_id
        """,
        [day],
    ).fetchall()
    return [
        {"request_id": r[0], "customer_id": r[1], "email": r[2], "requested_at": r[3]} for r in rows
    ]


def apply_requests(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    settings: Settings | None = None,
    timings: dict[str, float] | None = None,
) -> list[ErasureResult]:
    """Apply the erasure requests pending by ``day``: one pass over the landing zone and
    one transaction with one scan of each table for all of them (each pass costs the same
    whatever the number of people), one audit row per request. ``timings`` gets the
    seconds of each part."""
    s = settings or get_settings()
    timings = {} if timings is None else timings
    requests = pending_requests(con, day)
    if not requests:
        return []
    clock = time.perf_counter()
    idents = [resolve_identity(con, r["customer_id"], r["email"]) for r in requests]
    timings["resolve"] = time.perf_counter() - clock
    clock = time.perf_counter()
    # the requests' own rows stay until the run is committed (purge_applied_requests)
    purged = purge_landing_many(s.landing, idents, skip_sources={REQUESTS_SOURCE})
    timings["landing"] = time.perf_counter() - clock
    clock = time.perf_counter()
    trigger = "erasure_requests"
    results = [
        _clean_files(
            con,
            s,
            ident,
            day,
            trigger,
            req["request_id"],
            req["requested_at"],
            landing,
            redact_exports=True,
        )
        for req, ident, landing in zip(requests, idents, purged, strict=True)
    ]
    timings["exports_and_files"] = time.perf_counter() - clock
    clock = time.perf_counter()
    _erase_in_tables(con, results, day, trigger, snapshot="at_next_publish")
    timings["tables"] = time.perf_counter() - clock
    return results


def run(ctx: Any) -> dict[str, Any]:
    """Pipeline stage (right after the load, before dbt): apply the erasure requests that
    arrived by ``ctx.day`` and re-suppress erased subjects in raw partitions that were
    reloaded. The snapshot is republished by the run's publish step."""
    from tailor.warehouse import connect

    timings: dict[str, float] = {}
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        ensure_tables(con)
        clock = time.perf_counter()
        con.execute("begin transaction")
        try:
            suppressed = enforce_suppression(con)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        timings["suppression"] = time.perf_counter() - clock
        # the rows of requests committed by a run that died right after its commit
        leftover = purge_applied_requests(con, ctx.settings.landing)
        results = apply_requests(con, ctx.day, ctx.settings, timings)
    finally:
        con.close()
    return {
        "requests_applied": len(results),
        "rows_removed": sum(r.rows_removed for r in results),
        "rows_anonymized": sum(r.rows_anonymized for r in results),
        "resuppressed": suppressed,
        "applied_request_rows_purged": leftover,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
