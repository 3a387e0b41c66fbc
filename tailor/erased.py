"""Who is erased: keyed hashes of erased people's identifiers, the privacy key, the tables.

Everything that must know whether an identifier belongs to an erased person (erasure and
suppression in :mod:`tailor.privacy`, the exports and their outbox, the snapshot
publisher) reads it from here, so none of them needs the erasure machinery itself.

* :func:`normalize` is how identifiers are compared (trimmed, case-folded);
  :func:`subject_hash` (Python) and :func:`subject_hash_sql` (SQL) the keyed hash
  (HMAC-SHA256 with the privacy key) kept in ``ops.erased_subjects``; :func:`erased_sql`
  the SQL condition "this expression is an erased identifier", keyed or legacy.
* The privacy key (:func:`subject_key`) comes from ``TAILOR_PRIVACY_KEY`` (at least 16
  characters) or is generated once and kept in ``private.subject_key``; a run with a
  different or missing key stops with :class:`PrivacyKeyError` instead of silently
  letting erased people back in. Everything in the schema ``private`` stays in the
  warehouse: the snapshot publisher drops the whole schema.
* :func:`ensure_tables` creates ``ops.erased_subjects``, ``ops.erasure_audit``,
  ``private.legacy_erased_subjects`` and ``private.suppression_watermark`` (how far the
  nightly suppression pass has checked, :mod:`tailor.privacy.suppression`) and migrates warehouses erased before keyed hashes
  (their unkeyed hashes move to ``private.legacy_erased_subjects``, still matched).
* :class:`Identity` is everything that identifies one person (ids, emails, anonymous ids,
  orders, events on shared devices), as :mod:`tailor.privacy.identity` resolves it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from tailor.consent import has_table
from tailor.sqlsafe import quote_literal

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


def hmac_sql(message: str) -> str:
    """SQL HMAC-SHA256 (hex) of a text expression with the key loaded by
    :func:`subject_key` into the connection; an error, never a null, without it."""
    ipad = f"coalesce(getvariable({quote_literal(_IPAD)}), error('privacy key not loaded'))"
    opad = f"coalesce(getvariable({quote_literal(_OPAD)}), error('privacy key not loaded'))"
    return f"sha256({opad} || unhex(sha256({ipad} || encode({message}))))"


def subject_hash_sql(kind: str, expr: str) -> str:
    """SQL for :func:`subject_hash` of an expression (null stays null)."""
    return hmac_sql(f"{quote_literal(f'{HASH_DOMAIN}|{kind}|')} || {normalize_sql(kind, expr)}")


def tagged_hash_sql(tag: str) -> str:
    """SQL for :func:`subject_hash` of a ``kind|normalized value`` expression."""
    return hmac_sql(f"{quote_literal(f'{HASH_DOMAIN}|')} || {tag}")


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


def subject_key_id(key: bytes) -> str:
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
    subject_hash varchar not null,    -- unkeyed sha256 (legacy_subject_hash)
    kind varchar not null,
    erased_on date not null,
    audit_id varchar not null
)
"""

SUPPRESSION_WATERMARK_DDL = """
create table if not exists private.suppression_watermark (
    checked_through timestamp,        -- raw rows and quarantined records loaded (_loaded_at) up to here were checked
    subjects_digest varchar not null  -- against these erased subjects (md5 of their hashes, keyed and legacy)
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
            [
                subject_key_id(key),
                "environment" if env else "generated",
                None if env else key,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
            ],
        )
    else:
        key_id, origin, secret = row
        key = env if env is not None else (bytes(secret) if secret is not None else None)
        if key is None:
            raise PrivacyKeyError(
                f"the erased subjects of this warehouse are hashed with the key in {KEY_ENV}, "
                "which is not set"
            )
        if subject_key_id(key) != key_id:
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


ERASED_SUBJECTS_DDL = """
create table if not exists ops.erased_subjects (
    subject_hash varchar not null,    -- HMAC-SHA256 of the normalized identifier (subject_hash)
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
    detail json,                      -- why not applied: reason, or rows per table and the limits
    physical_due_on date,             -- files and warehouse file clean by then (tailor.privacy.pending)
    physically_erased_on date         -- logical day the last byte went (landing, files, free blocks)
)
"""
# columns added since the table was first created: (name, type)
AUDIT_ADDED = (("physical_due_on", "date"), ("physically_erased_on", "date"))


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The erasure tables, the privacy key loaded into ``con``, older tables migrated."""
    con.execute("create schema if not exists ops")
    legacy_subjects = has_table(con, "ops", "erased_subjects") and not has_column(
        con, "ops", "erased_subjects", "key_id"
    )
    legacy_audit = has_table(con, "ops", "erasure_audit") and not has_column(
        con, "ops", "erasure_audit", "status"
    )
    con.execute(ERASED_SUBJECTS_DDL)
    con.execute(ERASURE_AUDIT_DDL)
    for column, typ in AUDIT_ADDED:
        if not has_column(con, "ops", "erasure_audit", column):
            con.execute(f"alter table ops.erasure_audit add column {column} {typ}")
    key = subject_key(con)
    con.execute(LEGACY_ERASED_DDL)
    con.execute(SUPPRESSION_WATERMARK_DDL)
    if legacy_subjects or legacy_audit:
        _migrate_unkeyed(con, key, legacy_subjects, legacy_audit)


def has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
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
    rekey = hmac_sql(f"{quote_literal(LEGACY_REKEY + '|')} || audit_id")
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
        subject = hmac_sql(f"{quote_literal(LEGACY_REKEY + '|')} || subject_hash")
        con.execute(
            f"update ops.erasure_audit set subject_hash = {subject}, "
            f"audit_id = left({rekey}, 32), status = 'applied'"
        )


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
        """``kind|normalized value`` of every identifier, as ``tailor.privacy.matching.json_tags_sql`` gives them."""
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


def written_forms(value: str) -> set[str]:
    """How an identifier can be written in a file: as itself, in a CSV field (quotes
    doubled), in a JSON string (escaped, as UTF-8 or with ``\\u`` escapes), in HTML
    (escaped). For a plain identifier (letters, digits, ``@._+-``) they are all the same."""
    import csv
    import html
    import io
    import json

    from tailor import csvsafe

    field = io.StringIO()
    csvsafe.writer(field, quoting=csv.QUOTE_ALL, lineterminator="").writerow([value])
    return {
        value,
        field.getvalue()[1:-1],  # inside the field's quotes, as the exports write it
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
    }


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
