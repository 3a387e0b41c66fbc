"""Consent and erasure (the right to be forgotten).

Consent
    The rule that decides who may be contacted lives in :mod:`tailor.consent` (it fails
    closed: an unreadable withdrawal suppresses the subject); its functions
    (:func:`consented_customers_sql`, ...) stay importable from here.

Erasure
    :func:`erase` removes one person from everything Tailor keeps:

    * every table of the warehouse, in every schema (raw, intermediate, marts, ml, ops, and
      any table added later): rows are found by identifier fields only, never by a value
      that happens to occur in free text: identity columns (``*customer_id``, ``user_id``,
      ``subject_id``, ``*anonymous_id``, ``visitor_id``, ``*order_id``, any column with
      ``email`` in its name, raw or sha256) and, in JSON columns, the identifier keys of
      :data:`JSON_ID_PATHS` (``traits.email``, ``context.traits.email``,
      ``properties.email``, ``properties.order_id``, ``userId``, ...). Ids and emails are
      compared trimmed and case-folded;
    * raw source rows are replaced by a tombstone in ``raw.quarantine`` (file, line,
      reason ``erased_subject``, no record text) and ``raw.load_log`` is adjusted, so
      "every record read is loaded or quarantined" still holds per file;
    * quarantined records of the person keep their row but lose the record text: the
      record is parsed (JSON; a broken line as ``"key": "value"`` pairs and CSV fields) and
      its identifier fields compared, as in the landing zone;
    * views (staging) need nothing: they read the cleaned tables;
    * the landing zone: a record is removed from the delivered files only when one of its
      identifier fields equals one of the person's identifiers (a byte search finds the
      candidate lines, the parsed record decides); every file the loader can read is
      covered, hidden (dot) files included. Files are rewritten atomically;
      ``purge_landing=False`` keeps them, relying on suppression;
    * local copies of exports already written are redacted (their manifests say so); what
      was already sent to a tool is deleted there by a remove in the next export to each
      destination that holds the person (see ``tailor.exports.outbox``);
    * the published snapshot is republished (:func:`erase_and_publish`, or the nightly run).

    A request is checked before anything is touched (:func:`check_request`): an email must
    be an email address (``invalid_request`` otherwise), a customer id must exist in the
    warehouse (``unknown_subject`` otherwise). Then its blast radius is counted per table
    (:func:`blast_radius`); above :func:`blast_limits` (``TAILOR_ERASURE_MAX_ROWS``,
    default 10,000 rows, or ``TAILOR_ERASURE_MAX_SHARE``, default 5 % of a table of at
    least 1,000 rows) it is ``held_for_review``: recorded with its counts, nothing applied,
    until someone reviews it and runs ``tailor erase ... --force``. Every request gets one
    ``ops.erasure_audit`` row whatever its ``status`` (``applied`` | ``held_for_review`` |
    ``unknown_subject`` | ``invalid_request``); a request that is not applied never stops
    the night.

    The person's identifiers are added to ``ops.erased_subjects`` as keyed hashes:
    HMAC-SHA256 (:func:`subject_hash`, :func:`subject_hash_sql`) with a secret key, never a
    plain hash anyone could recompute from a list of candidate ids.
    :func:`enforce_suppression` (the nightly erasure stage, and the loader right after it
    loads a day) tombstones any raw row or quarantined record that names an erased subject
    in any identifier field (case-folded ids, ``traits.email``, ``context.traits.email``,
    ``properties.email``, anonymous ids, order ids), so a re-delivered or reloaded landing
    partition cannot bring the person back, and a dbt full refresh only ever rebuilds from
    cleaned raw tables. ``ops.erasure_audit`` records what was done: keyed hash of the id,
    time, tables touched, rows removed.

    :func:`apply_requests` (the nightly erase stage) applies a night's requests together:
    one pass over the landing files and one scan of each table for all of them, in one
    transaction, one audit row per request. The requests' own rows stay in their landing
    files until the run is committed (:func:`purge_applied_requests`): the stage works on
    the run's copy of the warehouse, and a run that fails later must leave them for its
    rerun.

The privacy key (contract with the snapshot publisher)
    The key comes from the environment variable ``TAILOR_PRIVACY_KEY`` (at least 16
    characters). When it is unset, a random key is generated once and kept in the
    warehouse, in ``private.subject_key``. Everything in the schema ``private`` is
    restricted: it never leaves the warehouse, and the analyst snapshot publisher drops the
    whole schema. ``private.subject_key`` always holds the key's id (an HMAC of a constant,
    not the key), so a run with a different or missing key stops with a clear error
    instead of silently letting erased people back in. The key cannot be rotated.

    Warehouses erased before keyed hashes (``ops.erased_subjects`` rows hashed as plain
    sha256 of ``LEGACY_HASH_DOMAIN|kind|id``) are migrated on first contact
    (:func:`ensure_tables`): the unkeyed hashes move to
    ``private.legacy_erased_subjects``, where suppression keeps matching them (those people
    stay out; their ids are not known, so they cannot be re-keyed), and the audit's
    subject hashes and audit ids, derived from them, are replaced by keyed hashes of
    themselves. Nothing the snapshot carries holds an unkeyed hash of an erased id.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
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
from tailor.sqlsafe import plain_name, quote_ident, quote_literal

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- hashing

HASH_DOMAIN = "tailor:erased-subject:v2"  # HMAC-SHA256 with the privacy key
LEGACY_HASH_DOMAIN = "tailor:erased-subject:v1"  # plain sha256, before keyed hashes
SUBJECT_KINDS = ("customer_id", "email", "anonymous_id", "order_id")
KEY_ENV = "TAILOR_PRIVACY_KEY"
MIN_KEY_LENGTH = 16
# Session variables that carry the key into SQL (per connection, never stored).
_IPAD, _OPAD = "tailor_subject_ipad", "tailor_subject_opad"


class PrivacyKeyError(RuntimeError):
    """The privacy key is missing, too short, or not the one the warehouse was hashed with."""


def normalize(kind: str, value: Any) -> str | None:
    """The form an identifier is compared in: trimmed and case-folded (emails and ids
    alike: ``C0000042`` re-sent as ``c0000042`` is the same person)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None


def subject_hash(kind: str, value: Any, key: bytes) -> str | None:
    """Keyed hash (HMAC-SHA256) of an identifier, as kept in ``ops.erased_subjects``.

    Without the key nobody can tell whether a candidate id is among the erased; the domain
    prefix keeps it apart from the plain ``email_sha256`` used for matching elsewhere."""
    norm = normalize(kind, value)
    if norm is None:
        return None
    return hmac.new(key, f"{HASH_DOMAIN}|{kind}|{norm}".encode(), hashlib.sha256).hexdigest()


def legacy_subject_hash(kind: str, value: Any) -> str | None:
    """The unkeyed hash older versions kept (emails lower-cased, ids only trimmed)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    norm = text.lower() if kind == "email" else text
    return hashlib.sha256(f"{LEGACY_HASH_DOMAIN}|{kind}|{norm}".encode()).hexdigest()


def normalize_sql(kind: str, expr: str) -> str:
    return f"nullif(lower(trim({expr})), '')"


def _hmac_sql(message: str) -> str:
    """SQL HMAC-SHA256 (hex) of a text expression with the key loaded by
    :func:`subject_key` into the connection; an error, never a null, without it."""
    ipad = f"coalesce(getvariable({quote_literal(_IPAD)}), error('privacy key not loaded'))"
    opad = f"coalesce(getvariable({quote_literal(_OPAD)}), error('privacy key not loaded'))"
    return f"sha256({opad} || unhex(sha256({ipad} || encode({message}))))"


def subject_hash_sql(kind: str, expr: str) -> str:
    """SQL for :func:`subject_hash` of an expression (null stays null)."""
    return _hmac_sql(f"{quote_literal(f'{HASH_DOMAIN}|{kind}|')} || {normalize_sql(kind, expr)}")


def _tagged_hash_sql(tag: str) -> str:
    """SQL for :func:`subject_hash` of a ``kind|normalized value`` expression."""
    return _hmac_sql(f"{quote_literal(f'{HASH_DOMAIN}|')} || {tag}")


def legacy_hash_sql(kind: str, expr: str) -> str:
    """SQL for :func:`legacy_subject_hash`."""
    norm = f"lower(trim({expr}))" if kind == "email" else f"trim({expr})"
    return f"sha256({quote_literal(f'{LEGACY_HASH_DOMAIN}|{kind}|')} || nullif({norm}, ''))"


def erased_sql(kind: str, expr: str, *, legacy: bool = True) -> str:
    """SQL condition: the expression is an erased identifier of this kind (by its keyed
    hash, or, with ``legacy``, by an unkeyed hash of an older erasure)."""
    cond = (
        f"{subject_hash_sql(kind, expr)} in "
        f"(select subject_hash from ops.erased_subjects where kind = {quote_literal(kind)})"
    )
    if legacy:
        cond += (
            f" or {legacy_hash_sql(kind, expr)} in (select subject_hash from "
            f"private.legacy_erased_subjects where kind = {quote_literal(kind)})"
        )
    return f"coalesce({cond}, false)"


def _key_id(key: bytes) -> str:
    return hmac.new(key, b"tailor:subject-key-id", hashlib.sha256).hexdigest()[:16]


def _env_key() -> bytes | None:
    text = os.environ.get(KEY_ENV)
    if text is None or text == "":
        return None
    if len(text) < MIN_KEY_LENGTH:
        raise PrivacyKeyError(f"{KEY_ENV} must be at least {MIN_KEY_LENGTH} characters long")
    return text.encode()


SUBJECT_KEY_DDL = """
create table if not exists private.subject_key (
    key_id varchar not null,          -- HMAC of a constant with the key: which key, not the key
    origin varchar not null,          -- environment (TAILOR_PRIVACY_KEY) | generated
    secret blob,                      -- the generated key; null when it comes from the environment
    created_at timestamp not null
)
"""

LEGACY_ERASED_DDL = """
create table if not exists private.legacy_erased_subjects (
    subject_hash varchar not null,    -- unkeyed sha256 (privacy.legacy_subject_hash)
    kind varchar not null,
    erased_on date not null,
    audit_id varchar not null
)
"""


def subject_key(con: duckdb.DuckDBPyConnection) -> bytes:
    """The privacy key of the warehouse open on ``con``, loaded into the connection for
    :func:`subject_hash_sql`. Created on first use (inside the caller's transaction, if
    any): recorded by its id when it comes from ``TAILOR_PRIVACY_KEY``, else generated and
    kept in ``private.subject_key``. A key that is not the recorded one is refused."""
    env = _env_key()
    if not has_table(con, "private", "subject_key"):
        con.execute("create schema if not exists private")
        con.execute(SUBJECT_KEY_DDL)
    row = con.execute("select key_id, origin, secret from private.subject_key limit 1").fetchone()
    if row is None:
        key = env if env is not None else os.urandom(32)
        con.execute(
            "insert into private.subject_key values (?, ?, ?, ?)",
            [_key_id(key), "environment" if env else "generated", None if env else key, _utcnow()],
        )
    else:
        key_id, origin, secret = row
        key = env if env is not None else (bytes(secret) if secret is not None else None)
        if key is None:
            raise PrivacyKeyError(
                f"the erased subjects of this warehouse are hashed with the key in {KEY_ENV}, "
                "which is not set"
            )
        if _key_id(key) != key_id:
            raise PrivacyKeyError(
                f"{KEY_ENV} is not the key the erased subjects of this warehouse were hashed "
                f"with ({origin} key {key_id}); erasure and suppression cannot run with it"
            )
    block = (
        key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    )
    con.execute(f"set variable {_IPAD} = ?", [bytes(b ^ 0x36 for b in block)])
    con.execute(f"set variable {_OPAD} = ?", [bytes(b ^ 0x5C for b in block)])
    return key


# --------------------------------------------------------------------------- tables

ERASED_SUBJECTS_DDL = """
create table if not exists ops.erased_subjects (
    subject_hash varchar not null,    -- HMAC-SHA256 of the normalized identifier (privacy.subject_hash)
    kind varchar not null,            -- customer_id | email | anonymous_id | order_id
    erased_on date not null,          -- logical day of the first erasure that named it
    audit_id varchar not null,        -- the ops.erasure_audit record that added it
    key_id varchar                    -- private.subject_key.key_id of the key it was hashed with
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
    snapshot varchar not null,        -- republished | at_next_publish
    status varchar default 'applied', -- applied | held_for_review | unknown_subject | invalid_request
    detail json                       -- why not applied: reason, or rows per table and the limits
)
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The erasure tables, the privacy key loaded into ``con``, older tables migrated."""
    con.execute("create schema if not exists ops")
    legacy_subjects = has_table(con, "ops", "erased_subjects") and not _has_column(
        con, "ops", "erased_subjects", "key_id"
    )
    legacy_audit = has_table(con, "ops", "erasure_audit") and not _has_column(
        con, "ops", "erasure_audit", "status"
    )
    con.execute(ERASED_SUBJECTS_DDL)
    con.execute(ERASURE_AUDIT_DDL)
    key = subject_key(con)
    con.execute(LEGACY_ERASED_DDL)
    if legacy_subjects or legacy_audit:
        _migrate_unkeyed(con, key, legacy_subjects, legacy_audit)


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
    # The person's anonymous events on devices shared with another customer (message ids)
    # and what was decided per shared device (tailor.shared_devices).
    event_ids: set[str] = field(default_factory=set)
    shared: list[Any] = field(default_factory=list)

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

    def folded(self) -> dict[str, set[str]]:
        """The identifiers per kind as they are compared (:func:`normalize`), visitor ids
        included."""
        kinds = {**self.by_kind(), "visitor_id": self.visitor_ids, "event_id": self.event_ids}
        return {k: {n for v in vals if (n := normalize(k, v))} for k, vals in kinds.items()}

    def tags(self) -> set[str]:
        """``kind|normalized value`` of every identifier, as :func:`_json_tags_sql` gives them."""
        return {f"{k}|{v}" for k, vals in self.folded().items() for v in vals}

    def tokens(self) -> set[str]:
        """Every value whose presence anywhere would be a trace of the person."""
        return (self.customer_ids | self.emails | self.email_sha256s | self.anonymous_ids) - {""}

    def counts(self) -> dict[str, int]:
        out = {k: len(v) for k, v in self.by_kind().items()}
        if self.shared:  # ids skipped because another customer shares them, and why: detail
            out["shared_anonymous_ids_skipped"] = len(self.shared)
            out["shared_device_events"] = len(self.event_ids)
        return out

    def primary_hash(self, key: bytes) -> str:
        if self.customer_ids:
            return subject_hash("customer_id", min(self.customer_ids), key) or ""
        return subject_hash("email", min(self.emails), key) or ""

    def is_empty(self) -> bool:
        return not (self.customer_ids or self.emails)


def _in_list(values: Iterable[str]) -> str:
    vals = sorted(set(values))
    return "(" + ", ".join(quote_literal(v) for v in vals) + ")" if vals else "(null)"


def _has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    (n,) = con.execute(
        "select count(*) from information_schema.columns where table_schema = ? and table_name = ?"
        " and column_name = ? and table_catalog = current_database()",
        [schema, table, column],
    ).fetchone()
    return n > 0


LEGACY_REKEY = "tailor:legacy-subject"


def _migrate_unkeyed(
    con: duckdb.DuckDBPyConnection, key: bytes, subjects: bool, audit: bool
) -> None:
    """Tables of an older version held unkeyed hashes: move those of ``ops.erased_subjects``
    to ``private.legacy_erased_subjects`` (still matched, never published) and replace the
    audit's subject hashes and audit ids by keyed hashes of themselves."""
    rekey = _hmac_sql(f"{quote_literal(LEGACY_REKEY + '|')} || audit_id")
    if subjects:
        con.execute(
            f"insert into private.legacy_erased_subjects select subject_hash, kind, erased_on, "
            f"left({rekey}, 32) from ops.erased_subjects"
        )
        con.execute("drop table ops.erased_subjects")
        con.execute(ERASED_SUBJECTS_DDL)
    if audit:
        con.execute("alter table ops.erasure_audit add column if not exists status varchar")
        con.execute("alter table ops.erasure_audit add column if not exists detail json")
        subject = _hmac_sql(f"{quote_literal(LEGACY_REKEY + '|')} || subject_hash")
        con.execute(
            f"update ops.erasure_audit set subject_hash = {subject}, "
            f"audit_id = left({rekey}, 32), status = 'applied'"
        )


def resolve_identity(
    con: duckdb.DuckDBPyConnection,
    customer_id: str | None = None,
    email: str | None = None,
) -> Identity:
    """Every identifier of the person named by a customer id and/or an email (ids and
    emails compared case-folded):

    * customers: the given id, and every CRM record that ever carried the email;
    * emails: the given one, and every email those records ever had;
    * anonymous ids: those whose events carry one of the customer ids as userId or one of
      the emails as identify trait, and nothing pointing at anybody else;
    * on a device shared with another customer (its id is kept), the person's anonymous
      events, by message id, as :mod:`tailor.shared_devices` decides and reports;
    * orders: the customers' orders.
    """
    ident = Identity()
    if customer_id is not None and str(customer_id).strip():
        ident.customer_ids.add(str(customer_id).strip())
    if normalize("email", email):
        ident.emails.add(normalize("email", email))
    if ident.is_empty():
        raise ValueError("an erasure needs a customer id or an email")

    def ids() -> list[str]:
        return sorted(ident.folded()["customer_id"])

    has_customers = has_table(con, "raw", "customers")
    if has_customers and ident.emails:
        ident.customer_ids |= _values(
            con,
            "select distinct trim(customer_id) from raw.customers "
            "where lower(trim(email)) in (select unnest(?::varchar[])) "
            "and nullif(trim(customer_id), '') is not null",
            [sorted(ident.emails)],
        )
    if has_customers and ident.customer_ids:
        ident.emails |= _values(
            con,
            "select distinct lower(trim(email)) from raw.customers "
            "where lower(trim(customer_id)) in (select unnest(?::varchar[])) "
            "and nullif(trim(email), '') is not null",
            [ids()],
        )
    if has_table(con, "raw", "events"):
        ident.anonymous_ids |= _values(
            con,
            """
            with ev as (
                select
                    nullif(trim(anonymous_id), '') as a,
                    nullif(lower(trim(user_id)), '') as u,
                    nullif(lower(trim(coalesce(
                        json_extract_string(traits, '$.email'),
                        json_extract_string(context, '$.traits.email')
                    ))), '') as e
                from raw.events
                where nullif(trim(anonymous_id), '') is not null
            ),
            linked as (
                select distinct a from ev
                where u in (select unnest($ids)) or e in (select unnest($emails))
            )
            select a from ev
            where a in (select a from linked)
            group by a
            having count(*) filter (where u is not null and u not in (select unnest($ids))) = 0
               and count(*) filter (where e is not null and e not in (select unnest($emails))) = 0
            """,
            {"ids": ids() or [""], "emails": sorted(ident.emails) or [""]},
        )
    if has_table(con, "raw", "orders") and ident.customer_ids:
        ident.order_ids |= _values(
            con,
            "select distinct trim(order_id) from raw.orders "
            "where lower(trim(customer_id)) in (select unnest(?::varchar[])) "
            "and nullif(trim(order_id), '') is not null",
            [ids()],
        )
    if has_table(con, "raw", "events"):
        from tailor import shared_devices

        ident.event_ids, ident.shared = shared_devices.attribute(con, ident)
    return ident


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> set[str]:
    return {r[0] for r in con.execute(sql, params).fetchall() if r[0] is not None}


# --------------------------------------------------------------------------- requests

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
# Where a customer id must occur to be known: (table, column).
CUSTOMER_ID_HOMES = (
    ("raw", "customers", "customer_id"),
    ("raw", "orders", "customer_id"),
    ("raw", "events", "user_id"),
    ("raw", "consents", "subject_id"),
    ("marts", "customers", "customer_id"),
)


def is_email(value: str) -> bool:
    """One @, a dot in the domain, no spaces: an email address, not a word that could
    occur anywhere (``Chrome``, ``EUR``, ``de-DE``)."""
    return EMAIL_RE.fullmatch(value) is not None


def customer_exists(con: duckdb.DuckDBPyConnection, customer_id: str) -> bool:
    """The id names a customer the warehouse knows (raw or marts), or one erased before."""
    folded = normalize("customer_id", customer_id)
    for schema, table, column in CUSTOMER_ID_HOMES:
        if (
            has_table(con, schema, table)
            and con.execute(
                f"select 1 from {quote_ident(schema)}.{quote_ident(table)} "
                f"where lower(trim({quote_ident(column)})) = ? limit 1",
                [folded],
            ).fetchone()
        ):
            return True
    if has_table(con, "ops", "erased_subjects"):
        return (
            con.execute(
                "select 1 from ops.erased_subjects where subject_hash = ? limit 1",
                [subject_hash("customer_id", customer_id, subject_key(con))],
            ).fetchone()
            is not None
        )
    return False


@dataclass
class Verdict:
    """What :func:`check_request` found: ``status`` None when the request can be applied
    (with ``customer_id`` / ``email`` as they are to be used)."""

    status: str | None
    reason: str = ""
    customer_id: str | None = None
    email: str | None = None


def check_request(
    con: duckdb.DuckDBPyConnection, customer_id: str | None, email: str | None
) -> Verdict:
    """Validate an erasure request before anything is touched: ``invalid_request`` (no
    identifier, an email that is not an email address, an id with spaces or control
    characters) or ``unknown_subject`` (a customer id the warehouse does not know, and no
    email). A valid email with an unknown customer id is applied by the email. Reasons
    never quote the identifier."""
    cid = str(customer_id).strip() if customer_id is not None else ""
    mail = str(email).strip() if email is not None else ""
    if not cid and not mail:
        return Verdict("invalid_request", "the request names no customer id and no email")
    if mail and not is_email(mail):
        return Verdict("invalid_request", "the email is not an email address")
    if cid and (len(cid) > 256 or any(c.isspace() or not c.isprintable() for c in cid)):
        return Verdict("invalid_request", "the customer id holds spaces or control characters")
    if cid and not customer_exists(con, cid):
        if not mail:
            return Verdict("unknown_subject", "no customer with this id in the warehouse")
        cid = ""
    return Verdict(None, customer_id=cid or None, email=mail or None)


@dataclass(frozen=True)
class BlastLimits:
    """Above these a request stops for review instead of applying."""

    max_rows: int = 10_000  # rows of one table
    max_share: float = 0.05  # share of one table ...
    min_table_rows: int = 1_000  # ... of at least this many rows


def blast_limits() -> BlastLimits:
    """The limits, from ``TAILOR_ERASURE_MAX_ROWS`` / ``TAILOR_ERASURE_MAX_SHARE`` (a
    fraction, ``0.05``, or a percentage, ``5%``) when set."""
    default = BlastLimits()
    rows_text = os.environ.get("TAILOR_ERASURE_MAX_ROWS", "").strip()
    share_text = os.environ.get("TAILOR_ERASURE_MAX_SHARE", "").strip()
    try:
        rows = int(rows_text) if rows_text else default.max_rows
        if share_text.endswith("%"):
            share = float(share_text[:-1]) / 100
        else:
            share = float(share_text) if share_text else default.max_share
    except ValueError as exc:
        raise ValueError(
            "TAILOR_ERASURE_MAX_ROWS must be a whole number and TAILOR_ERASURE_MAX_SHARE a "
            "fraction (0.05) or a percentage (5%)"
        ) from exc
    if rows < 0 or not 0 < share <= 1:
        raise ValueError("TAILOR_ERASURE_MAX_ROWS must be >= 0, TAILOR_ERASURE_MAX_SHARE in (0, 1]")
    return BlastLimits(rows, share, default.min_table_rows)


def over_limits(counts: dict[str, tuple[int, int]], limits: BlastLimits) -> list[str]:
    """Why a request touching ``counts`` (table -> (rows touched, rows in the table)) must
    be reviewed; empty when it may apply."""
    reasons = []
    for table, (rows, total) in sorted(counts.items()):
        if rows > limits.max_rows:
            reasons.append(f"{table}: {rows:,} rows (limit {limits.max_rows:,})")
        elif total >= limits.min_table_rows and rows > limits.max_share * total:
            reasons.append(
                f"{table}: {rows:,} of {total:,} rows ({rows / total:.1%}, limit {limits.max_share:.1%})"
            )
    return reasons


# --------------------------------------------------------------------------- matching

TEXT_COLUMNS = {"record", "_record", "key_fields", "payload"}
JSON_NAMED = {"extra", "properties", "traits", "context"}
# Identifier keys in JSON, per kind, and where they stand (Segment: top level, traits,
# properties, context.traits). ``JSON_ID_PATHS`` is every (kind, path).
JSON_ID_KEYS = {
    "email": ("email", "Email", "EMAIL"),
    "customer_id": ("userId", "user_id", "customerId", "customer_id", "subjectId", "subject_id"),
    "anonymous_id": ("anonymousId", "anonymous_id"),
    "order_id": ("orderId", "order_id"),
    "visitor_id": ("visitorId", "visitor_id"),
}
# (prefix, kinds looked for under it)
JSON_PLACES = (
    ("$", ("email", "customer_id", "anonymous_id", "order_id", "visitor_id")),
    ("$.traits", ("email", "customer_id")),
    ("$.context", ("anonymous_id", "customer_id")),
    ("$.context.traits", ("email", "customer_id")),
    ("$.properties", ("email", "customer_id", "order_id")),
)
JSON_ID_PATHS = [
    (kind, f"{prefix}.{key}")
    for prefix, kinds in JSON_PLACES
    for kind in kinds
    for key in JSON_ID_KEYS[kind]
]


def column_role(name: str, data_type: str) -> str | None:
    """What an identifier-bearing column holds, judged by its name and type."""
    n = name.lower()
    t = data_type.upper()
    if t == "JSON" or n in TEXT_COLUMNS:
        return "json"
    if not t.startswith("VARCHAR"):
        return None
    if n.endswith("customer_id") or n in ("user_id", "subject_id"):
        return "customer_id"
    if n.endswith("anonymous_id"):
        return "anonymous_id"
    if n == "message_id":
        return "event_id"  # matched only for events erased off a shared device
    if n == "visitor_id":
        return "visitor_id"
    if "email" in n:
        return "email"
    if n.endswith("order_id"):
        return "order_id"
    if n in JSON_NAMED:
        return "json"
    return None


def _json_tags_sql(expr: str) -> str:
    """SQL list of ``kind|normalized value`` for every identifier key of
    :data:`JSON_ID_PATHS` in a JSON expression (one parse per row; nulls for absent keys)."""
    paths = ", ".join(quote_literal(p) for _, p in JSON_ID_PATHS)
    kinds = ", ".join(quote_literal(f"{k}|") for k, _ in JSON_ID_PATHS)
    return (
        f"list_transform(json_extract_string({expr}, [{paths}]), "
        f"lambda x, i: [{kinds}][i] || nullif(lower(trim(x)), ''))"
    )


def _as_json(col: str, data_type: str) -> str:
    return col if data_type.upper() == "JSON" else f"try(json({col}::varchar))"


def _regex_escape(value: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def _alternation(values: Iterable[str]) -> str:
    return "|".join(_regex_escape(v) for v in sorted(values, key=lambda v: (-len(v), v)))


def match_sql(columns: list[tuple[str, str]], ident: Identity) -> str | None:
    """A SQL condition true for every row of a table (with these columns) that belongs to
    the person: one of its identifier columns, or identifier keys of its JSON columns,
    equals one of the person's identifiers (trimmed, case-folded); None when the table has
    no identifying column. Free text is never searched."""
    folded = ident.folded()
    values = {
        "customer_id": folded["customer_id"],
        "anonymous_id": folded["anonymous_id"],
        "visitor_id": folded["visitor_id"],
        "email": folded["email"] | ident.email_sha256s,
        "order_id": folded["order_id"],
        "event_id": folded["event_id"],
    }
    tags = ident.tags()
    prefilter = "(?i)" + _alternation({t.partition("|")[2] for t in tags})
    conds: list[str] = []
    for name, data_type in columns:
        role = column_role(name, data_type)
        col = quote_ident(name)
        if role == "json" and tags:
            # parsed only where the text holds one of the values (a CASE evaluates its
            # branch for those rows alone): 1M events cost 1.3 s instead of 10 s
            tag_list = "[" + ", ".join(quote_literal(t) for t in sorted(tags)) + "]"
            conds.append(
                f"case when regexp_matches({col}::varchar, {quote_literal(prefilter)}) "
                f"then list_has_any({_json_tags_sql(_as_json(col, data_type))}, {tag_list}) "
                "else false end"
            )
        elif role in values and values[role]:
            conds.append(f"lower(trim({col})) in {_in_list(values[role])}")
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


# --------------------------------------------------------------------------- records

LANDING_KEYS = {
    "customerid": "customer_id",
    "userid": "customer_id",
    "subjectid": "customer_id",
    "anonymousid": "anonymous_id",
    "orderid": "order_id",
    "visitorid": "visitor_id",
    "messageid": "event_id",
}
# "key": "value" (or a number) pairs of a record that is not valid JSON (a broken line).
KEY_VALUE_RE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))')


def _key_kind(key: str) -> str | None:
    k = re.sub(r"[^a-z]", "", key.lower())
    if "email" in k:
        return "email"
    return LANDING_KEYS.get(k)


def _value_matches(kind: str, value: Any, folded: dict[str, set[str]]) -> bool:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return False
    norm = normalize(kind, value)
    return norm is not None and norm in folded.get(kind, ())


def _object_matches(obj: Any, folded: dict[str, set[str]]) -> bool:
    """A parsed record names the person: an identifier key (at any depth) holds one of
    their identifiers."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            kind = _key_kind(str(k))
            if kind and _value_matches(kind, v, folded):
                return True
            if isinstance(v, dict | list) and _object_matches(v, folded):
                return True
    elif isinstance(obj, list):
        return any(_object_matches(v, folded) for v in obj)
    return False


def _fields_match(fields: Iterable[str], folded: dict[str, set[str]]) -> bool:
    """Fields of unknown meaning (a CSV record without its header): one of them is, whole,
    one of the person's identifiers."""
    every = set().union(*folded.values())
    return any((n := normalize("", f)) is not None and n in every for f in fields)


def _broken_record_matches(text: str, folded: dict[str, set[str]]) -> bool:
    """A record that does not parse as JSON: its ``"key": "value"`` pairs by key, else its
    CSV fields whole."""
    for key, quoted, number in KEY_VALUE_RE.findall(text):
        kind = _key_kind(key)
        if kind and _value_matches(kind, quoted or number, folded):
            return True
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        rows = [re.split(r"[,;\t]", text)]
    return any(_fields_match(row, folded) for row in rows)


def record_matches(text: str, folded: dict[str, set[str]]) -> bool:
    """A record's text (an NDJSON line, a quarantined record) names the person in one of
    its identifier fields."""
    body = text.strip()
    if not body:
        return False
    try:
        obj = json.loads(body)
    except ValueError:
        return _broken_record_matches(body, folded)
    if isinstance(obj, dict | list):
        return _object_matches(obj, folded)
    return False


# --------------------------------------------------------------------------- warehouse

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


def merged(idents: Iterable[Identity]) -> Identity:
    """One identity holding every identifier of several people."""
    out = Identity()
    for ident in idents:
        out.customer_ids |= ident.customer_ids
        out.emails |= ident.emails
        out.anonymous_ids |= ident.anonymous_ids
        out.order_ids |= ident.order_ids
        out.event_ids |= ident.event_ids
        out.shared += ident.shared
    return out


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
    needles = sorted({n for ident in idents for n in _needles(ident)})
    if not needles or not has_table(con, *QUARANTINE):
        return out
    rows = con.execute(
        "select rowid, record from raw.quarantine "
        "where record is not null and regexp_matches(lower(record), ?)",
        [_alternation(needles)],
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
    pattern = quote_literal(f"(?i)(^|{bound})({_alternation(toks)})($|{bound})")
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


# Identifier fields of each raw source, for suppression: (kind, column), and in JSON
# columns (column -> [(kind, path)]) where Segment puts them.
SOURCE_IDENTITIES: dict[str, list[tuple[str, str]]] = {
    "customers": [("customer_id", "customer_id"), ("email", "email")],
    "orders": [("customer_id", "customer_id"), ("order_id", "order_id")],
    "order_items": [("order_id", "order_id")],
    "consents": [("customer_id", "subject_id")],
    "erasure_requests": [("customer_id", "customer_id"), ("email", "email")],
    "events": [("customer_id", "user_id"), ("anonymous_id", "anonymous_id")],
}
SOURCE_JSON_FIELDS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "events": {
        "traits": [("email", "$.email"), ("customer_id", "$.customer_id")],
        "context": [("email", "$.traits.email")],
        "properties": [
            ("email", "$.email"),
            ("order_id", "$.order_id"),
            ("customer_id", "$.customer_id"),
        ],
        "extra": [("email", "$.email"), ("customer_id", "$.customer_id")],
    },
}


def _source_tags_sql(source: str, where: str, *, legacy: bool = False) -> str:
    """SQL selecting the distinct ``tag`` (``kind|value``) of every identifier field of
    ``raw.<source>`` rows matching ``where``, normalized as :func:`normalize` (or, with
    ``legacy``, as older versions hashed them: ids only trimmed). One distinct select per
    field: on 1M events 0.3 s, where one list of all fields per row took 3 s."""

    def norm(kind: str, expr: str) -> str:
        if legacy and kind != "email":
            return f"nullif(trim({expr}), '')"
        return normalize_sql(kind, expr)

    fields = [(kind, quote_ident(col)) for kind, col in SOURCE_IDENTITIES[source]]
    for col, paths in SOURCE_JSON_FIELDS.get(source, {}).items():
        for kind, path in paths:
            # parsed only where the key occurs at all (an order id: in one event of many)
            key = quote_literal(f'"{path.rsplit(".", 1)[-1]}"')
            c = quote_ident(col)
            fields.append(
                (
                    kind,
                    f"case when contains({c}::varchar, {key}) "
                    f"then json_extract_string({c}, {quote_literal(path)}) end",
                )
            )
    return " union ".join(
        f"select {quote_literal(kind + '|')} || {norm(kind, 'v')} as tag from "
        f"(select distinct {expr} as v from raw.{plain_name(source)} where {where})"
        for kind, expr in fields
    )


def erased_in_source(
    con: duckdb.DuckDBPyConnection, source: str, where: str = "true", *, legacy: bool = True
) -> Identity:
    """The erased identifiers that occur in ``raw.<source>`` (rows matching ``where``), in
    clear: each distinct identifier value is hashed once, not each row, and a day without
    erased people costs one distinct select per identifier field."""
    found = Identity()
    queries = [(_source_tags_sql(source, where), _tagged_hash_sql("tag"), "ops.erased_subjects")]
    if legacy:
        queries.append(
            (
                _source_tags_sql(source, where, legacy=True),
                f"sha256({quote_literal(LEGACY_HASH_DOMAIN + '|')} || tag)",
                "private.legacy_erased_subjects",
            )
        )
    for tags, hashed, erased in queries:
        rows = con.execute(
            f"""
            with tags as materialized ({tags}),
            hashed as (select tag, {hashed} as subject_hash from tags where tag is not null)
            select tag from hashed semi join {erased} e on e.subject_hash = hashed.subject_hash
            """
        ).fetchall()
        for (tag,) in rows:
            kind, _, value = tag.partition("|")
            found.by_kind()[kind].add(value)
    return found


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ?"
        " and table_name = ? and table_catalog = current_database() order by ordinal_position",
        [schema, table],
    ).fetchall()


def enforce_suppression(
    con: duckdb.DuckDBPyConnection, day: dt.date | None = None
) -> dict[str, int]:
    """Tombstone raw rows of erased subjects that came back (a reloaded or re-delivered
    landing partition) and strip their quarantined record text. ``day`` limits the check to
    one landing day. Runs inside the caller's transaction; returns rows per table.

    Which erased identifiers are back is found from the distinct identifier values
    (:func:`erased_in_source`); their rows are then taken as an erasure takes them
    (:func:`match_sql`: every identifier field, case-folded)."""
    ensure_tables(con)
    (n_keyed,) = con.execute("select count(*) from ops.erased_subjects").fetchone()
    (n_legacy,) = con.execute("select count(*) from private.legacy_erased_subjects").fetchone()
    if not n_keyed and not n_legacy:
        return {}
    on_day = f"_dt = {quote_literal(day.isoformat())}::date" if day is not None else "true"
    out: dict[str, int] = {}
    for source in SOURCE_IDENTITIES:
        if not has_table(con, "raw", source):
            continue
        back = erased_in_source(con, source, on_day, legacy=n_legacy > 0)
        cond = match_sql(_columns(con, "raw", source), back)
        if cond is None:
            continue
        n = tombstone(con, source, f"{cond} and {on_day}")
        if n:
            out[f"raw.{source}"] = n
    if has_table(con, *QUARANTINE):
        cond = f"record is not null and {quarantine_suppressed_sql('record')} and {on_day}"
        n = len(
            con.execute(
                f"update raw.quarantine set record = null, reason = {quote_literal(REDACTED_TEXT)} "
                f"where {cond} returning 1"
            ).fetchall()
        )
        if n:
            out["raw.quarantine"] = n
    return out


def _tags_erased_sql(tags: str) -> str:
    """SQL condition: one of a list of ``kind|value`` tags is an erased subject."""
    return (
        f"coalesce(list_has_any(list_transform({tags}, lambda t: {_tagged_hash_sql('t')}), "
        "(select coalesce(list(subject_hash), []) from ops.erased_subjects)), false)"
    )


def _broken_tags_sql(expr: str) -> str:
    """SQL list of ``kind|value`` tags of a record that is not JSON (as
    :func:`_broken_record_matches`): the values of its ``"key": "value"`` pairs, by key;
    and each comma/semicolon/tab-separated field, unquoted, as every kind."""
    pair = r'"([^"\\]*)"\s*:\s*"?([^",}\]]*)"?'
    key = f"regexp_replace(lower(regexp_extract(p, {quote_literal(pair)}, 1)), '[^a-z]', '', 'g')"
    kind = (
        f"case when {key} like '%email%' then 'email' "
        f"when {key} in ('customerid', 'userid', 'subjectid') then 'customer_id' "
        f"when {key} = 'anonymousid' then 'anonymous_id' "
        f"when {key} = 'orderid' then 'order_id' end"
    )
    value = f"nullif(lower(trim(regexp_extract(p, {quote_literal(pair)}, 2))), '')"
    pairs = (
        f"list_transform(regexp_extract_all({expr}, {quote_literal(pair)}), "
        f"lambda p: ({kind}) || '|' || {value})"
    )
    kinds = "['customer_id|', 'email|', 'anonymous_id|', 'order_id|']"
    fields = (
        f"flatten(list_transform(string_split_regex({expr}, '[,;\\t\\n]'), "
        f"lambda f: list_transform({kinds}, lambda k: k || nullif(lower(trim(f, ' \"''')), ''))))"
    )
    return f"list_concat({pairs}, {fields})"


def quarantine_suppressed_sql(expr: str) -> str:
    """SQL condition on the text of a quarantined record: parsed as JSON, one of its
    identifier keys (:data:`JSON_ID_PATHS`) names an erased subject; a record that is not
    JSON (a broken line) is read as ``"key": "value"`` pairs and CSV fields."""
    parsed = f"try(json({expr}))"
    tags = (
        f"(case when {parsed} is not null then {_json_tags_sql(parsed)} "
        f"else {_broken_tags_sql(expr)} end)"
    )
    legacy = (
        f"coalesce(list_has_any(list_transform({tags}, lambda t: sha256("
        f"{quote_literal(LEGACY_HASH_DOMAIN + '|')} || t)), (select coalesce(list(subject_hash), []) "
        f"from private.legacy_erased_subjects)), false)"
    )
    return f"({_tags_erased_sql(tags)} or {legacy})"


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
    pattern = quote_literal("(?i)" + _alternation(toks))
    hits = []
    for (schema, table), cols in relations.items():
        if not cols:
            continue
        counts = ", ".join(
            f"count(*) filter (where regexp_matches({quote_ident(c)}::varchar, {pattern}))"
            for c in cols
        )
        found = con.execute(
            f"select {counts} from {quote_ident(schema)}.{quote_ident(table)}"
        ).fetchone()
        hits += [(f"{schema}.{table}", c, n) for c, n in zip(cols, found, strict=True) if n]
    return hits


# --------------------------------------------------------------------------- landing zone


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
    return sorted({t.lower() for t in ident.tokens() | ident.order_ids | ident.event_ids})


class _Finder:
    """Where several people's identifiers occur in lower-cased bytes, all of them found in
    Rust (ahocorasick-rs; it releases the GIL, so the landing threads really run side by
    side). Few identifiers: one SIMD substring search (memmem) each. Many (a night with
    several requests): one automaton for all of them, one pass whatever their number.
    Measured on a 276 MB events partition: 8 people's 165 identifiers take 7.2 s one by
    one and 1.9 s in one automaton; 8-25 identifiers 0.3-1.0 s one by one and 0.6-2.6 s
    in one automaton (ids share prefixes that occur everywhere), hence the threshold. One
    by one beats ``bytes.find``, which holds the GIL, by 3x (40 identifiers, 289 MB: 5.7 s
    -> 1.8 s).

    Only a prefilter: a line found here is dropped only if its parsed identifier fields
    name the person (:func:`record_matches`)."""

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


def _ndjson_drops(
    data: bytes,
    folded: dict[str, set[str]],
    starts: Iterable[int],
    skip: set[tuple[int, int]] | None = None,
) -> set[tuple[int, int]]:
    """The (start, end) byte spans of the lines naming the person in an identifier field,
    among the lines holding one of their identifiers at ``starts`` (found by a byte search
    of the whole file) and not in ``skip``: only those lines are parsed."""
    spans: set[tuple[int, int]] = set()
    for i in starts:
        start = data.rfind(b"\n", 0, i) + 1
        end = data.find(b"\n", i)
        spans.add((start, len(data) if end == -1 else end + 1))
    return {
        (a, b)
        for a, b in spans - (skip or set())
        if record_matches(data[a:b].decode("utf-8", errors="surrogateescape"), folded)
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


def _purge_csv(text: str, ident: Identity) -> tuple[str, int]:
    """A CSV file without the records whose identifier columns (by header) name the
    person; a record with more or fewer fields than the header, or a line after broken
    quoting, goes only when one of its fields is, whole, one of their identifiers."""
    header, kept, records = _csv_records(text)
    kinds = [_key_kind(h) for h in header]
    needles = _needles(ident)
    folded = ident.folded()
    removed = 0
    for row, raw in records:
        if row is None:
            for line in raw.splitlines(keepends=True):
                if _mentions(line, needles) and _broken_record_matches(line, folded):
                    removed += 1
                else:
                    kept.append(line)
            break
        matched = False
        if _mentions(raw, needles):
            if len(row) == len(header):
                matched = any(
                    k and _value_matches(k, v, folded) for k, v in zip(kinds, row, strict=True)
                )
            else:
                matched = _fields_match(row, folded)
        if matched:
            removed += 1
        else:
            kept.append(raw)
    return "".join(kept), removed


def _purge_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: str, ident: Identity) -> int:
    src = quote_literal(str(path))
    cols = [d[0] for d in con.execute(f"select * from read_parquet({src}) limit 0").description]
    folded = ident.folded()
    conds = []
    for c in cols:
        kind = _key_kind(c)
        values = folded.get(kind or "", set())
        if kind and values:
            conds.append(
                f"{normalize_sql(kind, f'{quote_ident(c)}::varchar')} in {_in_list(values)}"
            )
    if not conds:
        return 0
    cond = " or ".join(f"coalesce({c}, false)" for c in conds)
    (n,) = con.execute(f"select count(*) from read_parquet({src}) where {cond}").fetchone()
    if n:
        tmp = path.with_name(f".{path.name}.erase-{os.getpid()}.tmp")
        con.execute(
            f"copy (select * from read_parquet({src}) where not ({cond})) "
            f"to {quote_literal(str(tmp))} (format parquet)"
        )
        os.replace(tmp, path)
    return n


def landing_files(
    landing: Path, sources: Iterable[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """Every file of every ``dt=`` folder of the sources that hold people, hidden (dot)
    files included: whatever the loader could read, erasure must be able to purge."""
    for source in sources or SOURCE_IDENTITIES:
        folder = landing / source
        if not folder.is_dir():
            continue
        for part in sorted(folder.iterdir()):
            if not (part.name.startswith("dt=") and part.is_dir()):
                continue
            for path in sorted(part.iterdir()):
                if path.is_file():
                    yield source, path


def _purge_text_file(path: Path, idents: list[Identity], finder: _Finder) -> list[int]:
    """Remove each person's records from one landing file, read, searched and written once
    for all of them; returns the records removed per person (a record naming two people
    counts for the first)."""
    data = _read_bytes(path)
    found = finder.positions(data.lower())
    counts = [0] * len(idents)
    if not any(found):
        return counts
    if path.name.lower().endswith((".csv", ".csv.gz")):
        text = data.decode("utf-8", errors="surrogateescape")
        for k, ident in enumerate(idents):
            if found[k]:  # removing records adds no identifier: a miss stays a miss
                text, counts[k] = _purge_csv(text, ident)
        new = text.encode("utf-8", errors="surrogateescape")
    else:
        dropped: set[tuple[int, int]] = set()
        for k, ident in enumerate(idents):
            mine = _ndjson_drops(data, ident.folded(), found[k], dropped)
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

    index = [k for k, ident in enumerate(idents) if _needles(ident)]
    people = [idents[k] for k in index]
    out = [(0, 0)] * len(idents)
    if not people or not landing.is_dir():
        return out
    skip = set(skip_sources)
    found = [(src, p) for src, p in landing_files(landing) if src not in skip]
    texts = [p for _, p in found if p.name.lower().endswith(TEXT_SUFFIXES)]
    parquets = [(src, p) for src, p in found if p.name.lower().endswith(".parquet")]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        finder = _Finder(people)
        per_file = list(pool.map(lambda p: _purge_text_file(p, people, finder), texts))
    own = con is None
    con = con or duckdb.connect()
    try:
        for src, p in parquets:
            per_file.append([_purge_parquet(con, p, src, ident) for ident in people])
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
    warehouse has applied (their audit row says so); returns the rows removed. Requests
    held for review, unknown or invalid keep their row: it is what a reviewer reads.

    A night's erase stage leaves its own requests' rows in the landing zone: the stage
    works on the run's copy of the warehouse, and if a later stage fails the copy is thrown
    away, so the rerun must find the requests again to apply them (removing them with the
    person's other records would lose them for good). They go once the run is committed
    (:func:`purge_committed_requests`), and each erase stage first removes those of a run
    that died between its commit and that step."""
    if not has_table(con, "ops", "erasure_audit"):
        return 0
    status = "status" if _has_column(con, "ops", "erasure_audit", "status") else "null"
    applied = {
        r[0]
        for r in con.execute(
            "select distinct trim(request_id) from ops.erasure_audit where request_id is not null"
            f" and coalesce({status}, 'applied') = 'applied'"
        ).fetchall()
    }
    if not applied:
        return 0
    removed = 0
    for _, path in landing_files(landing, [REQUESTS_SOURCE]):
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
                rows = con.execute(
                    f"select * from read_parquet({quote_literal(str(path))})"
                ).fetchall()
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

APPLIED = "applied"
HELD = "held_for_review"
UNKNOWN = "unknown_subject"
INVALID = "invalid_request"


@dataclass
class ErasureRequest:
    """One person to erase, as asked (``tailor erase`` or an ``erasure_requests`` row)."""

    customer_id: str | None = None
    email: str | None = None
    request_id: str | None = None
    requested_at: dt.datetime | None = None


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
    status: str = APPLIED  # applied | held_for_review | unknown_subject | invalid_request
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables)

    @property
    def rows_anonymized(self) -> int:
        return sum(t.rows_anonymized for t in self.tables)

    def explain(self) -> str:
        """One sentence for a person: why the request was not applied."""
        if self.status == HELD:
            return (
                "held for review: it would touch more than the limits allow ("
                + "; ".join(self.detail.get("over", []))
                + "). Nothing was erased; check the request, then rerun with --force."
            )
        return (
            f"{self.status.replace('_', ' ')}: {self.detail.get('reason', '')}. Nothing was erased."
        )


class ErasureNotApplied(Exception):
    """``tailor erase`` refused a request (recorded in ops.erasure_audit, nothing touched)."""

    def __init__(self, result: ErasureResult):
        super().__init__(result.explain())
        self.result = result


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _audit_id(subject: str, request_id: str | None, day: dt.date, trigger: str) -> str:
    return hashlib.sha256(
        f"{subject}|{request_id or ''}|{day.isoformat()}|{trigger}".encode()
    ).hexdigest()[:32]


def _not_applied(
    req: ErasureRequest, status: str, detail: dict[str, Any], key: bytes, day: dt.date, trigger: str
) -> ErasureResult:
    subject = (
        subject_hash("customer_id", req.customer_id, key)
        or subject_hash("email", req.email, key)
        or ""
    )
    return ErasureResult(
        audit_id=_audit_id(f"{subject}|{status}", req.request_id, day, trigger),
        subject_hash=subject,
        identity=Identity(),
        tables=[],
        request_id=req.request_id,
        requested_at=req.requested_at,
        status=status,
        detail=detail,
    )


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
    redact_exports: bool = True,
    snapshot: str = "at_next_publish",
    force: bool = False,
) -> ErasureResult:
    """Erase one person from the warehouse open on ``con`` (and from the landing zone and the
    local export copies under ``settings``). Idempotent: erasing again finds nothing more.

    The request is checked first (:func:`check_request`) and its blast radius counted
    (:func:`blast_radius`); a request that is invalid, names nobody, or (unless ``force``)
    is over the limits is only recorded: see the result's ``status``.
    The files are cleaned first and the warehouse last, in one transaction: if anything
    fails, the warehouse still knows every identifier and the erasure can simply be rerun.
    """
    s = settings or get_settings()
    req = ErasureRequest(customer_id, email, request_id, requested_at)
    return _process(
        con,
        s,
        [req],
        day or dt.date.today(),
        trigger,
        force=force,
        purge_landing_files=purge_landing_files,
        redact_exports=redact_exports,
        snapshot=snapshot,
    )[0]


def _process(
    con: duckdb.DuckDBPyConnection,
    s: Settings,
    requests: list[ErasureRequest],
    day: dt.date,
    trigger: str,
    *,
    force: bool = False,
    purge_landing_files: bool = True,
    redact_exports: bool = True,
    snapshot: str = "at_next_publish",
    skip_sources: Iterable[str] = (),
    timings: dict[str, float] | None = None,
) -> list[ErasureResult]:
    """Check, size and apply requests together: one pass over the landing zone and one
    transaction with one scan of each table for those that may apply, one audit row per
    request whatever its status."""
    timings = {} if timings is None else timings
    ensure_tables(con)
    key = subject_key(con)
    limits = blast_limits()
    clock = time.perf_counter()
    results: list[ErasureResult | None] = [None] * len(requests)
    todo: list[tuple[int, Identity]] = []
    for i, req in enumerate(requests):
        verdict = check_request(con, req.customer_id, req.email)
        if verdict.status is not None:
            results[i] = _not_applied(
                req, verdict.status, {"reason": verdict.reason}, key, day, trigger
            )
        else:
            todo.append((i, resolve_identity(con, verdict.customer_id, verdict.email)))
    timings["resolve"] = time.perf_counter() - clock
    clock = time.perf_counter()
    plan = blast_radius(con, [ident for _, ident in todo])
    go: list[tuple[int, Identity]] = []
    for (i, ident), counts in zip(todo, plan, strict=True):
        over = over_limits(counts, limits)
        if over and not force:
            detail = {
                "over": over,
                "tables": {t: n for t, (n, _) in sorted(counts.items())},
                "limits": {"max_rows": limits.max_rows, "max_share": limits.max_share},
            }
            results[i] = _not_applied(requests[i], HELD, detail, key, day, trigger)
        else:
            go.append((i, ident))
    timings["blast_radius"] = time.perf_counter() - clock
    clock = time.perf_counter()
    idents = [ident for _, ident in go]
    if purge_landing_files:
        purged = purge_landing_many(s.landing, idents, skip_sources=skip_sources)
    else:
        purged = [(0, 0)] * len(idents)
    timings["landing"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for (i, ident), landing in zip(go, purged, strict=True):
        req = requests[i]
        results[i] = _clean_files(
            con, s, ident, key, day, trigger, req, landing, redact_exports, forced=force
        )
    timings["exports_and_files"] = time.perf_counter() - clock
    clock = time.perf_counter()
    done = [r for r in results if r is not None]
    _erase_in_tables(con, done, day, trigger, snapshot, key)
    timings["tables"] = time.perf_counter() - clock
    return done


def _clean_files(
    con: duckdb.DuckDBPyConnection,
    s: Settings,
    ident: Identity,
    key: bytes,
    day: dt.date,
    trigger: str,
    req: ErasureRequest,
    landing_purged: tuple[int, int],
    redact_exports: bool,
    *,
    forced: bool = False,
) -> ErasureResult:
    """Everything outside the warehouse's tables, for one person: queue a remove for every
    destination that holds them, then clean the local export copies and the other files
    (the landing zone is purged by the caller). The result's tables are filled in by
    :func:`_erase_in_tables`."""
    from tailor.exports import outbox, redact

    primary = ident.primary_hash(key)
    notified = outbox.queue_erasure(con, s, ident, day, primary)
    ex_files, ex_rows = redact.redact_exports(s, ident) if redact_exports else (0, 0)
    land_files, land_records = landing_purged
    other, other_changes = redact_files(s, ident)
    return ErasureResult(
        audit_id=_audit_id(primary, req.request_id, day, trigger),
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
        request_id=req.request_id,
        requested_at=req.requested_at,
        detail={
            **({"forced": True} if forced else {}),
            **(
                {
                    "shared_devices": [
                        d.report((subject_hash("anonymous_id", d.anonymous_id, key) or "")[:16])
                        for d in ident.shared
                    ]
                }
                if ident.shared
                else {}
            ),
        },
    )


AUDIT_COLUMNS = (
    "audit_id",
    "subject_hash",
    "request_id",
    "trigger",
    "run_date",
    "requested_at",
    "erased_at",
    "identifiers",
    "tables_touched",
    "rows_removed",
    "rows_anonymized",
    "landing_files_rewritten",
    "landing_records_removed",
    "export_files_redacted",
    "export_rows_redacted",
    "destinations_notified",
    "snapshot",
    "status",
    "detail",
)


def _erase_in_tables(
    con: duckdb.DuckDBPyConnection,
    results: list[ErasureResult],
    day: dt.date,
    trigger: str,
    snapshot: str,
    key: bytes,
) -> None:
    """The warehouse's part for these requests, in one transaction: the applied people's
    rows (one scan of each table for all of them; each result gets its tables) and subject
    hashes, and one audit row for every request."""
    applied = [r for r in results if r.status == APPLIED]
    key_id = _key_id(key)
    con.execute("begin transaction")
    try:
        per_person = erase_rows_many(con, [r.identity for r in applied])
        for r, touched in zip(applied, per_person, strict=True):
            r.tables = touched
            if r.identity.shared:
                from tailor.shared_devices import erase_sessions

                n = erase_sessions(con, r.identity.shared)
                if n:
                    r.tables.append(TableTouch("marts.sessions (shared devices)", rows_removed=n))
            for kind, values in r.identity.by_kind().items():
                for value in sorted(values):
                    h = subject_hash(kind, value, key)
                    con.execute(
                        """
                        insert into ops.erased_subjects
                            (subject_hash, kind, erased_on, audit_id, key_id)
                        select ?, ?, ?, ?, ?
                        where not exists (
                            select 1 from ops.erased_subjects where subject_hash = ?
                        )
                        """,
                        [h, kind, day, r.audit_id, key_id, h],
                    )
        for r in results:
            con.execute("delete from ops.erasure_audit where audit_id = ?", [r.audit_id])
            con.execute(
                f"insert into ops.erasure_audit ({', '.join(AUDIT_COLUMNS)}) "
                f"values ({', '.join('?' for _ in AUDIT_COLUMNS)})",
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
                            for t in r.tables
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
                    r.status,
                    json.dumps(r.detail) if r.detail else None,
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
        con.execute(f"attach {quote_literal(str(tmp))} as tailor_compacted")
        con.execute(f"copy from database {quote_ident(name)} to tailor_compacted")
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
    force: bool = False,
) -> ErasureResult:
    """``tailor erase``: erase on a private copy of the warehouse, rewrite it compactly (no
    deleted row left in free blocks), swap it in, republish the analyst snapshot. Must not
    run while a nightly run writes the warehouse.

    A request that is not applied (invalid, unknown, held for review) is recorded in
    ``ops.erasure_audit`` and raises :class:`ErasureNotApplied`; nothing else changes."""
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
                force=force,
            )
        finally:
            con.close()
        if result.status == APPLIED:
            compact_database(work.warehouse, work)
    if result.status != APPLIED:
        raise ErasureNotApplied(result)
    publish_snapshot(s)
    return result


def pending_requests(con: duckdb.DuckDBPyConnection, day: dt.date) -> list[dict[str, Any]]:
    """Erasure requests that arrived on or before ``day`` and have no audit row yet (a row
    naming nobody is pending too: it is recorded as an invalid request)."""
    if not has_table(con, "raw", "erasure_requests"):
        return []
    ensure_tables(con)
    rows = con.execute(
        f"""
        with requests as (
            select
                trim(request_id) as request_id,
                nullif(trim(customer_id), '') as customer_id,
                nullif(trim(email), '') as email,
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
            and request_id is not null
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
    whatever the number of people), one audit row per request, applied or not (see
    :func:`check_request`, :func:`blast_radius`). ``timings`` gets the seconds of each
    part."""
    s = settings or get_settings()
    requests = [
        ErasureRequest(r["customer_id"], r["email"], r["request_id"], r["requested_at"])
        for r in pending_requests(con, day)
    ]
    if not requests:
        return []
    # the requests' own rows stay until the run is committed (purge_applied_requests)
    results = _process(
        con,
        s,
        requests,
        day,
        "erasure_requests",
        skip_sources={REQUESTS_SOURCE},
        timings=timings,
    )
    for r in results:
        if r.status != APPLIED:
            log.warning("erasure request %s not applied: %s", r.request_id, r.explain())
    return results


def run(ctx: Any) -> dict[str, Any]:
    """Pipeline stage (right after the load, before dbt): apply the erasure requests that
    arrived by ``ctx.day`` and re-suppress erased subjects in raw partitions that were
    reloaded. The snapshot is republished by the run's publish step. A request that is not
    applied is reported here (and logged); the night goes on."""
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
    applied = [r for r in results if r.status == APPLIED]
    return {
        "requests_applied": len(applied),
        "requests_not_applied": {
            r.request_id: {"status": r.status, **r.detail} for r in results if r.status != APPLIED
        },
        "rows_removed": sum(r.rows_removed for r in applied),
        "rows_anonymized": sum(r.rows_anonymized for r in applied),
        "resuppressed": suppressed,
        "applied_request_rows_purged": leftover,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
