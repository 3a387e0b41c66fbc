"""Audience exports to email and CRM tools.

Public API::

    from tailor import exports

    config = exports.load_config(exports.destinations_path(settings))
    results = exports.export_all(day, settings)                 # every enabled destination
    result = exports.export_one("mailchimp_win_back", day, settings)
    exports.run(ctx)                                            # the pipeline stage

Each export reads ``marts.audiences`` (built by dbt for the run date), enforces consent,
erasure and the A/B holdout, applies the frequency cap, writes the destination's files
atomically with a manifest under ``settings.exports``, calls the webhook for webhook
destinations, and records what was sent in ``ops.export_state``, ``ops.message_log``,
``ops.holdout_assignments`` and ``ops.export_log``. See ``core`` for the rules and
``config/destinations.yml`` for the configuration.
"""

from __future__ import annotations

import datetime as dt
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
    destination is attempted; if any failed, :class:`ExportError` lists them at the end."""
    from tailor.warehouse import connect

    s = settings or get_settings()
    cfg = _config(s, config)
    if destinations:
        chosen = [cfg.get(n) for n in destinations]
    else:
        chosen = [d for d in cfg.destinations if d.enabled]
    results: list[ExportResult] = []
    failures: list[str] = []
    con = connect(s.warehouse, settings=s)
    try:
        for dest in chosen:
            try:
                results.append(
                    export_destination(
                        con, dest, day, config=cfg, settings=s, run_id=run_id, send=send
                    )
                )
            except ExportError as exc:
                failures.append(str(exc).splitlines()[0])
    finally:
        con.close()
    if failures:
        raise ExportError(
            f"{len(failures)} of {len(chosen)} export(s) failed for {day}:\n  "
            + "\n  ".join(failures)
        )
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
    """Pipeline stage: export every enabled destination for ``ctx.day`` (after the output
    gate). Without a destinations file there is nothing to do."""
    s: Settings = ctx.settings
    path = destinations_path(s)
    if not path.exists():
        return {"skipped": f"no destinations file at {path}"}
    results = export_all(ctx.day, s, run_id=getattr(ctx, "run_id", None))
    return {
        r.destination: {
            "status": r.status,
            "rows": sum(f.rows for f in r.files),
            **{
                k: r.counts[k]
                for k in ("adds", "updates", "removes", "excluded_no_consent", "excluded_capped")
            },
        }
        for r in results
    }
