"""The physical part of erasure, batched: every pending erasure's records removed from the
landing files, the local export copies and the other files (reports, logs, validation
results), in one pass for all of them, then the warehouse file rewritten without free
blocks (:func:`run_pass`). The nightly erase stage (:func:`run_night`) first deletes the
landing partitions past retention (:mod:`tailor.privacy.retention`), then runs the pass
when the oldest pending request is due (:func:`tailor.privacy.pending.due`);
``tailor erase`` runs it at once, ``tailor erase --flush`` on demand."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from tailor.erased import ensure_tables, merged
from tailor.exports import redact
from tailor.privacy import pending
from tailor.privacy.compaction import compact_database
from tailor.privacy.files import redact_files
from tailor.privacy.landing import REQUESTS_SOURCE, purge_landing_many
from tailor.privacy.retention import expire_landing
from tailor.privacy.suppression import full_suppression
from tailor.settings import Settings
from tailor.warehouse import connect, transaction


def run_pass(
    settings: Settings,
    day: dt.date,
    *,
    skip_sources: Iterable[str] = (REQUESTS_SOURCE,),
    compact: bool = False,
) -> dict[str, Any]:
    """Clean the files of every pending erasure of the warehouse ``settings`` points at
    (one pass over the landing zone for all of them), check the whole raw history for
    erased subjects (:func:`~tailor.privacy.suppression.full_suppression`, the safety net
    of the nightly pass that checks only new loads), record it in ``ops.erasure_audit``
    (``physically_erased_on`` = ``day``), then compact the warehouse file (also when
    nothing was pending, with ``compact``). No other connection may have it open.

    Files first, the record last: if anything fails, the sealed identifiers are still
    pending and the pass can simply run again (each step finds nothing more the second
    time). The rows of the requests themselves (``skip_sources``) go after the commit that
    applied them (:func:`tailor.privacy.landing.purge_committed_requests`)."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    con = connect(settings.warehouse, settings=settings)
    try:
        ensure_tables(con)
        todo = pending.pending(con)
        counts: dict[str, dict[str, int]] = {}
        other_files = 0
        if todo:
            idents = [p.identity for p in todo]
            purged = purge_landing_many(settings.landing, idents, skip_sources=skip_sources)
            seconds["landing"] = time.perf_counter() - clock
            clock = time.perf_counter()
            # one pass over the export copies for everybody, counted per person
            exported = redact.redact_exports_many(settings, idents)
            for p, (files, records), (ex_files, ex_rows) in zip(
                todo, purged, exported, strict=True
            ):
                counts[p.audit_id] = {
                    "landing_files": files,
                    "landing_records": records,
                    "export_files": ex_files,
                    "export_rows": ex_rows,
                }
            seconds["exports"] = time.perf_counter() - clock
            clock = time.perf_counter()
            # not in the audit per person: one pass for everybody
            other_files, _ = redact_files(settings, merged(idents))
            seconds["files"] = time.perf_counter() - clock
        clock = time.perf_counter()
        with transaction(con):
            # the safety net: the whole history checked against every erased subject
            checked = full_suppression(con)
            if todo:
                pending.finish(con, todo, day, counts)
        seconds["suppression"] = time.perf_counter() - clock
        clock = time.perf_counter()
    finally:
        con.close()
    if todo or compact:
        # deleted rows (and the sealed identifiers) linger in free blocks: rewrite the file
        compact_database(settings.warehouse, settings)
        seconds["compact"] = time.perf_counter() - clock
    return {
        "requests": len(todo),
        "landing_records": sum(c["landing_records"] for c in counts.values()),
        "export_rows": sum(c["export_rows"] for c in counts.values()),
        "other_files": other_files,
        "compacted": bool(todo or compact),
        "resuppressed": checked.suppressed,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def run_night(ctx: Any) -> dict[str, Any]:
    """The nightly erase stage's physical part, after the requests were applied: landing
    partitions past ``erasure.landing_retention_days`` deleted, then, when the oldest
    pending erasure is due (``erasure.physical_deadline_days``), the batched pass."""
    from tailor.config import load_config

    cfg = load_config(ctx.settings).erasure
    clock = time.perf_counter()
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        expired = expire_landing(con, ctx.settings.landing, ctx.day, cfg.landing_retention_days)
        go = pending.due(con, ctx.day)
        oldest = pending.oldest_due(con)
    finally:
        con.close()
    out: dict[str, Any] = {
        "landing_partitions_expired": len(expired),
        "retention_seconds": round(time.perf_counter() - clock, 2),
    }
    if go:
        out["physical"] = run_pass(ctx.settings, ctx.day)
    # the day the oldest erasure still waiting for its physical part is due
    out["physical_pending_due_on"] = None if go or oldest is None else str(oldest)
    return out
