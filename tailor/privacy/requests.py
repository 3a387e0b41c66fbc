"""Erasure requests before anything is touched: validation (:func:`check_request`), the
blast limits above which a request waits for review (:func:`blast_limits`,
:func:`over_limits`), and the requests of ``raw.erasure_requests`` still pending
(:func:`pending_requests`)."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from tailor.consent import has_table, utc_timestamp_sql
from tailor.erased import ensure_tables, normalize, subject_hash, subject_key
from tailor.sqlsafe import quote_ident

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


@dataclass
class ErasureRequest:
    """One person to erase, as asked (``tailor erase`` or an ``erasure_requests`` row)."""

    customer_id: str | None = None
    email: str | None = None
    request_id: str | None = None
    requested_at: dt.datetime | None = None


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
