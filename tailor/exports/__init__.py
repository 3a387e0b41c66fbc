"""Audience exports to email and CRM tools.

Public API::

    from tailor import exports

    config = exports.load_config(exports.destinations_path(settings))
    results = exports.export_all(day, settings)                 # every enabled destination
    result = exports.export_one("mailchimp_win_back", day, settings)
    exports.run(ctx)                                            # the pipeline stage

Each export reads ``marts.audiences`` (built by dbt for the run date), enforces consent,
erasure and the A/B holdout, applies the frequency cap, stages the destination's files
atomically with a manifest, and records what it holds in ``ops.export_state``,
``ops.message_log``, ``ops.holdout_assignments`` and ``ops.export_log``. The staged files
are moved under ``settings.exports`` and webhooks called only after the warehouse commit
(``publication``): at the run's commit inside a pipeline run (the settings point at a
run's working copy), at once otherwise. See ``core`` for the rules and
``config/destinations.yml`` for the configuration.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from tailor.exports.config import (
    ConfigError,
    Destination,
    ExportConfig,
    FrequencyCap,
    Webhook,
    destinations_path,
    load_config,
)
from tailor.exports.core import ExportError, ExportResult, export_destination, holdout_bucket
from tailor.exports.formats import FORMATS
from tailor.settings import Settings, get_settings

__all__ = [
    "FORMATS",
    "ConfigError",
    "Destination",
    "ExportConfig",
    "ExportError",
    "ExportResult",
    "FrequencyCap",
    "Webhook",
    "destinations_path",
    "export_all",
    "export_destination",
    "export_one",
    "holdout_bucket",
    "load_config",
    "refresh_status",
    "run",
]


def _config(settings: Settings, config: ExportConfig | None) -> ExportConfig:
    return config if config is not None else load_config(destinations_path(settings))


def export_all(
    day: dt.date,
    settings: Settings | None = None,
    *,
    config: ExportConfig | None = None,
    destinations: list[str] | None = None,
    run_id: str | None = None,
    send: bool = True,
) -> list[ExportResult]:
    """Export every enabled destination (or the named ones), in file order. Every
    destination is attempted; if any failed, :class:`ExportError` lists them at the end.

    On a run's working copy the exports are staged, and published by the run's commit;
    on the warehouse itself each export commits at once, so they are published here.
    A webhook header naming an unset variable is a :class:`ConfigError` before anything."""
    from tailor.exports import publication
    from tailor.runs import run_of
    from tailor.warehouse import connect

    s = settings or get_settings()
    cfg = _config(s, config)
    if destinations:
        chosen = [cfg.get(n) for n in destinations]
    else:
        chosen = [d for d in cfg.destinations if d.enabled]
    if send:
        for dest in chosen:
            dest.check_environment()
    in_run = run_of(s)
    stage_id = in_run or f"export-{os.getpid()}"
    results: list[ExportResult] = []
    failures: list[str] = []
    con = connect(s.warehouse, settings=s)
    try:
        for dest in chosen:
            try:
                results.append(
                    export_destination(
                        con,
                        dest,
                        day,
                        config=cfg,
                        settings=s,
                        run_id=run_id or in_run,
                        send=send,
                        stage_id=stage_id,
                    )
                )
            except ExportError as exc:
                failures.append(str(exc).splitlines()[0])
        if in_run is None:
            published = {
                (o.destination, o.run_date): o for o in publication.publish(s, con, config=cfg)
            }
            for r in results:
                o = published.get((r.destination, r.run_date))
                if o is not None:
                    r.status, r.http_batches, r.http_attempts = (
                        o.status,
                        o.http_batches,
                        o.http_attempts,
                    )
                    if o.error:
                        failures.append(f"export {r.destination!r} for {day}: {o.error}")
            publication.tidy(s, stage_id)
    finally:
        con.close()
    if failures:
        raise ExportError(
            f"{len(failures)} of {len(chosen)} export(s) failed for {day}:\n  "
            + "\n  ".join(failures)
        )
    return results


def refresh_status(results: list[ExportResult], settings: Settings) -> list[ExportResult]:
    """After a run's commit published them: each result's status as ``ops.export_log`` has
    it now (``succeeded``, ``send_failed``, ...), instead of ``staged``."""
    from tailor.warehouse import connect

    con = connect(settings.warehouse, settings=settings)
    try:
        for r in results:
            row = con.execute(
                "select status, error from ops.export_log where destination = ? and run_date = ?"
                " order by started_at desc limit 1",
                [r.destination, r.run_date],
            ).fetchone()
            if row is not None:
                r.status = row[0]
                if row[1]:
                    r.messages.append(row[1])
    finally:
        con.close()
    return results


def export_one(
    name: str,
    day: dt.date,
    settings: Settings | None = None,
    *,
    config: ExportConfig | None = None,
    run_id: str | None = None,
    send: bool = True,
) -> ExportResult:
    """``tailor export --destination NAME --date D`` (disabled destinations too)."""
    (result,) = export_all(
        day, settings, config=config, destinations=[name], run_id=run_id, send=send
    )
    return result


def run(ctx: Any) -> dict[str, Any]:
    """Pipeline stage: stage every enabled destination's export for ``ctx.day`` (after the
    output gate); the run's commit publishes them. Without a destinations file there is
    nothing to do."""
    s: Settings = ctx.settings
    path = destinations_path(s)
    if not path.exists():
        return {"skipped": f"no destinations file at {path}"}
    from tailor import faults
    from tailor.exports.files import data_rows

    results = export_all(ctx.day, s, run_id=getattr(ctx, "run_id", None))
    faults.maybe_fail("export.after_stage")
    return {
        r.destination: {
            "status": r.status,
            "replay": r.replay,
            "rows": data_rows(r.files),
            **{
                k: r.counts[k]
                for k in ("adds", "updates", "removes", "excluded_no_consent", "excluded_capped")
            },
        }
        for r in results
    }
