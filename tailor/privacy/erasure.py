"""Erasure of people on request: :func:`erase` (one person, ``tailor erase``),
:func:`apply_requests` (a night's ``erasure_requests`` together) and :func:`run` (the
nightly erase stage). Each request is checked (:mod:`tailor.privacy.requests`) and the
people's identifiers resolved together; then one transaction sizes them (one scan of
each table finds every row naming any of them), cleans the files (landing zone, local
export copies, other files) and erases their rows from the warehouse last, with one
``ops.erasure_audit`` row per request whatever its status: if anything fails, nothing in
the warehouse has changed.

With ``defer_days`` (the nightly requests) only the warehouse part runs at once: the
person leaves every table (and so every export and the snapshot) that night, a remove is
queued for each destination, and the files' part waits in ``private.erasure_pending``
(:mod:`tailor.privacy.pending`) for the batched pass (:mod:`tailor.privacy.physical`)
due ``defer_days`` after the request."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from tailor import shared_devices
from tailor.erased import Identity, ensure_tables, subject_hash, subject_key, subject_key_id
from tailor.exports import outbox, redact
from tailor.privacy import pending
from tailor.privacy.erase_tables import (
    TableTouch,
    blast_counts,
    drop_hits,
    erase_hits,
    find_hits,
)
from tailor.privacy.files import redact_files
from tailor.privacy.identity import resolve_identities
from tailor.privacy.landing import REQUESTS_SOURCE, purge_applied_requests, purge_landing_many
from tailor.privacy.requests import (
    ErasureRequest,
    Verdict,
    blast_limits,
    check_request,
    over_limits,
    pending_requests,
)
from tailor.privacy.suppression import erasures_checked, nightly_suppression
from tailor.settings import Settings, get_settings
from tailor.warehouse import connect, transaction

log = logging.getLogger(__name__)


APPLIED = "applied"
HELD = "held_for_review"
UNKNOWN = "unknown_subject"
INVALID = "invalid_request"


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
    # the files and the warehouse file: due by, done on (None: not yet, or not applied)
    physical_due_on: dt.date | None = None
    physically_erased_on: dt.date | None = None

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
    snapshot: str = "at_next_publish",
    force: bool = False,
    defer_days: int | None = None,
) -> ErasureResult:
    """Erase one person from the warehouse open on ``con`` (and from the landing zone and the
    local export copies under ``settings``). Idempotent: erasing again finds nothing more.
    With ``defer_days``, the files wait for the batched physical pass (module docstring).

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
        snapshot=snapshot,
        defer_days=defer_days,
    )[0]


def _process(
    con: duckdb.DuckDBPyConnection,
    s: Settings,
    requests: list[ErasureRequest],
    day: dt.date,
    trigger: str,
    *,
    force: bool = False,
    snapshot: str = "at_next_publish",
    skip_sources: Iterable[str] = (),
    timings: dict[str, float] | None = None,
    defer_days: int | None = None,
) -> list[ErasureResult]:
    """Check, size and apply requests together: their identifiers resolved with one read
    of the event history, then one transaction: one scan of each table that sizes them
    and finds their rows, one pass over the landing zone (unless ``defer_days`` queues
    it), the rows of those that may apply erased, one audit row per request whatever its
    status."""
    timings = {} if timings is None else timings
    ensure_tables(con)
    key = subject_key(con)
    limits = blast_limits()
    clock = time.perf_counter()
    results: list[ErasureResult | None] = [None] * len(requests)
    valid: list[tuple[int, Verdict]] = []
    for i, req in enumerate(requests):
        verdict = check_request(con, req.customer_id, req.email)
        if verdict.status is not None:
            results[i] = _not_applied(
                req, verdict.status, {"reason": verdict.reason}, key, day, trigger
            )
        else:
            valid.append((i, verdict))
    idents = resolve_identities(con, [(v.customer_id, v.email) for _, v in valid], indexed=True)
    todo = [(i, ident) for (i, _), ident in zip(valid, idents, strict=True)]
    timings["resolve"] = time.perf_counter() - clock
    # one transaction from the scan to the audit: the rows found are erased by rowid, and
    # if cleaning the files fails, nothing in the warehouse has changed
    with transaction(con):
        clock = time.perf_counter()
        hits = find_hits(con, [ident for _, ident in todo])
        plan = blast_counts(con, hits)
        go: list[tuple[int, Identity]] = []
        go_people: list[int] = []
        for person, ((i, ident), counts) in enumerate(zip(todo, plan, strict=True)):
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
                go_people.append(person)
        timings["blast_radius"] = time.perf_counter() - clock
        clock = time.perf_counter()
        at_once = defer_days is None
        if at_once:
            purged = purge_landing_many(
                s.landing, [ident for _, ident in go], skip_sources=skip_sources
            )
        else:
            purged = [(0, 0)] * len(go)
        timings["landing"] = time.perf_counter() - clock
        clock = time.perf_counter()
        # the export copies: one pass for everybody, counted per person
        exported = (
            redact.redact_exports_many(s, [ident for _, ident in go])
            if at_once
            else [(0, 0)] * len(go)
        )
        cleaned: list[ErasureResult] = []
        for (i, ident), landing, copies in zip(go, purged, exported, strict=True):
            req = requests[i]
            r = _clean_files(
                con, s, ident, key, day, trigger, req, landing, copies, at_once, forced=force
            )
            results[i] = r
            cleaned.append(r)
        timings["exports_and_files"] = time.perf_counter() - clock
        clock = time.perf_counter()
        done = [r for r in results if r is not None]
        touched = erase_hits(con, hits, go_people)
        drop_hits(con)
        for r, tables in zip(cleaned, touched, strict=True):
            r.tables = tables
        _erase_in_tables(con, done, day, trigger, snapshot, key, defer_days)
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
    exports_redacted: tuple[int, int],
    files: bool,
    *,
    forced: bool = False,
) -> ErasureResult:
    """Everything outside the warehouse's tables, for one person: queue a remove for every
    destination that holds them, then, with ``files``, clean the other files (the landing
    zone and the local export copies are cleaned by the caller, for everybody at once;
    without ``files`` all of them wait for the physical pass). The caller fills in the
    result's tables."""
    primary = ident.primary_hash(key)
    notified = outbox.queue_erasure(con, s, ident, day, primary)
    ex_files, ex_rows = exports_redacted
    land_files, land_records = landing_purged
    other, other_changes = redact_files(s, ident) if files else (0, 0)
    # one keyword argument per field (a record with many fields, not repeated logic)
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
    "physical_due_on",
    "physically_erased_on",
)


def _erase_in_tables(
    con: duckdb.DuckDBPyConnection,
    results: list[ErasureResult],
    day: dt.date,
    trigger: str,
    snapshot: str,
    key: bytes,
    defer_days: int | None = None,
) -> None:
    """The rest of the warehouse's part for these requests, inside the caller's transaction
    (their rows are gone already, each result holds its tables): the applied people's
    sessions on shared devices and subject hashes, their physical part queued
    (``defer_days``) or recorded as done, and one audit row for every request."""
    applied = [r for r in results if r.status == APPLIED]
    subjects: dict[str, tuple[str, str]] = {}  # hash -> (kind, audit id of the first)
    for r in applied:
        if defer_days is None:
            r.physical_due_on = r.physically_erased_on = day
        else:
            received = pending.received_on(r.requested_at, day)
            r.physical_due_on = pending.record(con, r.audit_id, r.identity, received, defer_days)
        if r.identity.shared:
            n = shared_devices.erase_sessions(con, r.identity.shared)
            if n:
                r.tables.append(TableTouch("marts.sessions (shared devices)", rows_removed=n))
        for kind, values in r.identity.by_kind().items():
            for value in sorted(values):
                h = subject_hash(kind, value, key)
                if h is not None:
                    subjects.setdefault(h, (kind, r.audit_id))
    if subjects:
        hashes = list(subjects)  # in the order the people and their identifiers come
        con.execute(
            """
            insert into ops.erased_subjects (subject_hash, kind, erased_on, audit_id, key_id)
            select h, k, $day, a, $key_id
            from (select unnest($h) as h, unnest($k) as k, unnest($a) as a)
            where h not in (select subject_hash from ops.erased_subjects)
            """,
            {
                "h": hashes,
                "k": [subjects[h][0] for h in hashes],
                "a": [subjects[h][1] for h in hashes],
                "day": day,
                "key_id": subject_key_id(key),
            },
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
                r.physical_due_on,
                r.physically_erased_on,
            ],
        )


def apply_requests(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    settings: Settings | None = None,
    timings: dict[str, float] | None = None,
    defer_days: int | None = None,
) -> list[ErasureResult]:
    """Apply the erasure requests pending by ``day``: one pass over the landing zone (or,
    with ``defer_days``, none: the files wait for the batched physical pass) and one
    transaction with one scan of each table for all of them (each pass costs the same
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
        defer_days=defer_days,
    )
    for r in results:
        if r.status != APPLIED:
            log.warning("erasure request %s not applied: %s", r.request_id, r.explain())
    return results


def run(ctx: Any) -> dict[str, Any]:
    """Pipeline stage (right after the load, before dbt): re-suppress erased subjects in
    what was loaded since the last pass (:func:`nightly_suppression`), then apply the
    erasure requests that arrived by ``ctx.day`` to the warehouse; the files' part of each request is queued, due
    ``erasure.physical_deadline_days`` (config/tailor.yml) after it
    (:mod:`tailor.privacy.physical` runs it). The snapshot is republished by the run's
    publish step. A request that is not applied is reported here (and logged); the night
    goes on."""
    from tailor.config import load_config

    deadline = load_config(ctx.settings).erasure.physical_deadline_days
    timings: dict[str, float] = {}
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        ensure_tables(con)
        clock = time.perf_counter()
        with transaction(con):
            checked = nightly_suppression(con)
        timings["suppression"] = time.perf_counter() - clock
        # the rows of requests committed by a run that died right after its commit
        leftover = purge_applied_requests(con, ctx.settings.landing)
        results = apply_requests(con, ctx.day, ctx.settings, timings, defer_days=deadline)
        if any(r.status == APPLIED for r in results):
            with transaction(con):  # they scanned every table for their people
                erasures_checked(con, checked.subjects_digest)
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
        "resuppressed": checked.suppressed,
        "suppression": checked.summary(),
        "applied_request_rows_purged": leftover,
        "physical_due_on": sorted({str(r.physical_due_on) for r in applied}),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
