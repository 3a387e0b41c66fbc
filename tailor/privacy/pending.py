"""Erasures waiting for their physical part: ``private.erasure_pending``.

A request applied by the night (the person gone from every table, export and the
snapshot) leaves their bytes in files only a pass over the disk can reach: landing files,
local export copies, reports and logs, free blocks of the warehouse file. That pass costs
the same for one person as for many, so it waits, batched, until the oldest pending
request is due (:func:`due`): the person's identifiers are kept until then, sealed with
the privacy key (:func:`seal`), in the restricted schema ``private`` (never published),
with the day the request was received and the day its physical part is due. The pass
(:mod:`tailor.privacy.physical`) reads them back (:func:`pending`), and :func:`finish`
records it in ``ops.erasure_audit`` (``physically_erased_on``) and deletes the sealed
identifiers; the compaction that follows leaves no copy of them either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from tailor.erased import Identity, PrivacyKeyError, subject_key, subject_key_id

PENDING_DDL = """
create table if not exists private.erasure_pending (
    audit_id varchar not null,        -- the ops.erasure_audit row of the request
    received_on date not null,        -- the day the deadline counts from
    due_on date not null,             -- received_on + erasure.physical_deadline_days
    identity blob not null,           -- the person's identifiers, sealed (tailor.privacy.pending.seal)
    key_id varchar not null           -- private.subject_key.key_id of the key it is sealed with
)
"""

_TAG = 16  # bytes of the synthetic IV (an HMAC-SHA256 of the plaintext)


def _subkey(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, b"tailor:erasure-pending:" + purpose, hashlib.sha256).digest()


def _keystream(key: bytes, iv: bytes, n: int) -> bytes:
    blocks = (n + 31) // 32
    return b"".join(
        hmac.new(key, iv + i.to_bytes(8, "big"), hashlib.sha256).digest() for i in range(blocks)
    )[:n]


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def seal(data: bytes, key: bytes) -> bytes:
    """``data`` encrypted and authenticated with the privacy key: SIV construction
    (deterministic authenticated encryption) with HMAC-SHA256 as the pseudo-random
    function, the primitive the erased-subject hashes already rest on: the IV is the
    HMAC of the plaintext under one derived key, the plaintext is XORed with HMAC-SHA256
    in counter mode under another. Deterministic on purpose: a rerun of a night writes
    the same bytes; equal identities give equal blobs, which reveals nothing here (one
    row per request)."""
    iv = hmac.new(_subkey(key, b"mac"), data, hashlib.sha256).digest()[:_TAG]
    return iv + _xor(data, _keystream(_subkey(key, b"enc"), iv, len(data)))


def unseal(blob: bytes, key: bytes) -> bytes:
    """The data :func:`seal` sealed; :class:`PrivacyKeyError` when the key is not the one
    it was sealed with or the bytes were changed."""
    iv, body = blob[:_TAG], blob[_TAG:]
    data = _xor(body, _keystream(_subkey(key, b"enc"), iv, len(body)))
    expected = hmac.new(_subkey(key, b"mac"), data, hashlib.sha256).digest()[:_TAG]
    if len(iv) != _TAG or not hmac.compare_digest(iv, expected):
        raise PrivacyKeyError(
            "a pending erasure in private.erasure_pending cannot be read with this privacy key"
        )
    return data


def _identity_bytes(ident: Identity) -> bytes:
    return json.dumps(
        {
            "customer_ids": sorted(ident.customer_ids),
            "emails": sorted(ident.emails),
            "anonymous_ids": sorted(ident.anonymous_ids),
            "order_ids": sorted(ident.order_ids),
            "event_ids": sorted(ident.event_ids),
        },
        separators=(",", ":"),
    ).encode()


def _identity(data: bytes) -> Identity:
    doc = json.loads(data)
    return Identity(
        customer_ids=set(doc["customer_ids"]),
        emails=set(doc["emails"]),
        anonymous_ids=set(doc["anonymous_ids"]),
        order_ids=set(doc["order_ids"]),
        event_ids=set(doc["event_ids"]),
    )


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists private")
    con.execute(PENDING_DDL)


def received_on(requested_at: dt.datetime | None, day: dt.date) -> dt.date:
    """The day a request's deadline counts from: the day the person asked (its
    ``requested_at``, UTC) when known and not after ``day``, else ``day``, the day it was
    applied."""
    if requested_at is None:
        return day
    return min(requested_at.date(), day)


def record(
    con: duckdb.DuckDBPyConnection,
    audit_id: str,
    ident: Identity,
    received: dt.date,
    deadline_days: int,
) -> dt.date:
    """Queue the physical part of an applied erasure (inside the caller's transaction);
    returns the day it is due. Recording it again (a rerun) replaces the row."""
    ensure_table(con)
    key = subject_key(con)
    due_on = received + dt.timedelta(days=deadline_days)
    con.execute("delete from private.erasure_pending where audit_id = ?", [audit_id])
    con.execute(
        "insert into private.erasure_pending values (?, ?, ?, ?, ?)",
        [audit_id, received, due_on, seal(_identity_bytes(ident), key), subject_key_id(key)],
    )
    return due_on


@dataclass
class Pending:
    audit_id: str
    received_on: dt.date
    due_on: dt.date
    identity: Identity


def pending(con: duckdb.DuckDBPyConnection) -> list[Pending]:
    """Every erasure whose physical part has not run yet, oldest due first."""
    ensure_table(con)
    rows = con.execute(
        "select audit_id, received_on, due_on, identity from private.erasure_pending "
        "order by due_on, audit_id"
    ).fetchall()
    if not rows:
        return []
    key = subject_key(con)
    return [Pending(a, r, d, _identity(unseal(bytes(blob), key))) for a, r, d, blob in rows]


def oldest_due(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    ensure_table(con)
    (day,) = con.execute("select min(due_on) from private.erasure_pending").fetchone()
    return day


def due(con: duckdb.DuckDBPyConnection, day: dt.date) -> bool:
    """The night of ``day`` must run the physical part: the oldest pending request is due
    the next day or earlier. One night ahead of the deadline, so that a night that fails
    leaves its rerun (or the next night) still within it."""
    first = oldest_due(con)
    return first is not None and first <= day + dt.timedelta(days=1)


def finish(
    con: duckdb.DuckDBPyConnection, done: list[Pending], day: dt.date, counts: dict[str, Any]
) -> None:
    """Record the physical part of ``done`` in ``ops.erasure_audit`` (the day the person
    was fully gone, the landing records and export rows removed) and delete their sealed
    identifiers. Inside the caller's transaction; ``counts`` maps an audit id to its
    ``landing_files``, ``landing_records``, ``export_files`` and ``export_rows``."""
    for p in done:
        c = counts.get(p.audit_id, {})
        con.execute(
            """
            update ops.erasure_audit set
                physically_erased_on = ?,
                landing_files_rewritten = landing_files_rewritten + ?,
                landing_records_removed = landing_records_removed + ?,
                export_files_redacted = export_files_redacted + ?,
                export_rows_redacted = export_rows_redacted + ?
            where audit_id = ?
            """,
            [
                day,
                c.get("landing_files", 0),
                c.get("landing_records", 0),
                c.get("export_files", 0),
                c.get("export_rows", 0),
                p.audit_id,
            ],
        )
        con.execute("delete from private.erasure_pending where audit_id = ?", [p.audit_id])
