"""Anomaly alerts on the nightly metrics: the ``anomalies`` stage and its batch form.

Each night, after the output gate and before the exports, the stage

1. computes the day's metric series into ``ops.metrics`` (``tailor.anomalies.metrics``:
   input metrics from raw.* and the marts, output metrics from ML and audiences);
2. judges every series against the weekly pattern and trend of the past weeks
   (``tailor.anomalies.detect``, thresholds in ``config/tailor.yml``, section
   ``anomalies``) and replaces the day's rows of ``ops.anomalies``;
3. when anything is flagged: records an ``anomalies_found`` event in the run log and
   posts the anomalies to ``TAILOR_ALERT_WEBHOOK`` (a JSON ``text`` for Slack-compatible
   receivers plus the anomalies, with an idempotency key); a failed post is recorded in the
   stage result, never fails the night;
4. with ``anomalies.hold_exports: true`` and a critical anomaly on an input metric, tells
   the export stage to hold: the export stage is then skipped with status ``held`` in its
   result, an ``exports_held`` event in the run log and a banner in the run report.

``backfill(settings, start, end)`` computes the input metrics of a range of loaded days in
one pass and judges each day (``tailor anomalies --from D1 --to D2``): the history a new
deployment starts from, and the way the false-alarm rate is measured.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tailor import runlog

if TYPE_CHECKING:
    from tailor.config import AnomalyConfig

log = logging.getLogger(__name__)

ANOMALIES_TABLE = "ops.anomalies"
ANOMALIES_DDL = """
create table if not exists ops.anomalies (
    run_date date not null,
    metric varchar not null,
    dimension varchar not null,
    dimension_value varchar not null,
    observed double not null,
    expected double not null,        -- from the weekly pattern and trend of the past weeks
    lower_bound double not null,     -- the expected range (-inf / inf when one-sided)
    upper_bound double not null,
    severity varchar not null,       -- warning | critical
    score double not null,           -- |observed - expected| / robust spread
    history_days integer not null,   -- days of history the expectation rests on
    metric_stage varchar not null    -- input (raw, marts) | output (ML, audiences)
)
"""
STAGE_NAME = "anomalies"
MAX_LISTED = 20  # anomalies named in the alert text and the run log


def ensure_table(con) -> None:
    """ops.anomalies (described in dbt_project/models/_warehouse__sources.yml)."""
    con.execute("create schema if not exists ops")
    con.execute(ANOMALIES_DDL)


def write_anomalies(con, day: dt.date, anomalies: list) -> None:
    """Replace the day's rows of ops.anomalies."""
    ensure_table(con)
    con.execute("begin")
    try:
        con.execute(f"delete from {ANOMALIES_TABLE} where run_date = ?", [day])
        if not anomalies:
            con.execute("commit")
            return
        con.executemany(
            f"insert into {ANOMALIES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    a.run_date,
                    a.metric,
                    a.dimension,
                    a.dimension_value,
                    a.observed,
                    a.expected,
                    a.lower,
                    a.upper,
                    a.severity,
                    a.score,
                    a.history_days,
                    a.stage,
                ]
                for a in anomalies
            ],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _judge_days(con, days: list[dt.date], cfg) -> dict[dt.date, Any]:
    from tailor.anomalies.detect import detect, history_days, series_from_rows
    from tailor.anomalies.metrics import read_rows

    wanted = set(days)
    for d in days:
        wanted.update(history_days(d, cfg.weeks))
    series = series_from_rows(read_rows(con, wanted))
    out = {}
    for d in days:
        judgement = detect(d, series, cfg)
        write_anomalies(con, d, judgement.anomalies)
        out[d] = judgement
    return out


def anomaly_config(settings: Any) -> AnomalyConfig:
    """The ``anomalies`` section of ``config/tailor.yml`` (see ``tailor.config``), its
    metric names checked against :data:`metrics.METRICS`: a misspelt metric is a
    ``ConfigError`` naming the file, the line and the key."""
    from tailor.anomalies.metrics import METRICS
    from tailor.config import ConfigError, load_config, located

    cfg = load_config(settings)
    for name in sorted(cfg.anomalies.metrics):
        if name.split(".")[0] not in METRICS:
            exc = ConfigError(
                f"anomalies.metrics.{name}: unknown metric (known: {', '.join(sorted(METRICS))})"
            )
            raise located(cfg.path, exc) if cfg.path else exc
    return cfg.anomalies


def run(ctx: Any) -> dict[str, Any]:
    """The ``anomalies`` stage for ``ctx.day`` on the run's warehouse (see the module)."""
    from tailor.anomalies import metrics
    from tailor.warehouse import connect

    cfg = anomaly_config(ctx.settings)
    day = ctx.day
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        rows = metrics.compute_inputs(con, day, day)
        rows += metrics.compute_outputs(con, day, ctx.settings)
        metrics.write(con, rows, [day], metrics.METRICS)
        if not cfg.enabled:
            return {"metrics": len(rows), "enabled": False}
        judgement = _judge_days(con, [day], cfg)[day]
    finally:
        con.close()
    found = judgement.anomalies
    critical_inputs = [a for a in found if a.severity == "critical" and a.stage == "input"]
    hold = bool(cfg.hold_exports and critical_inputs)
    result: dict[str, Any] = {
        "metrics": len(rows),
        "series_judged": judgement.judged,
        "series_learning": judgement.learning,
        "anomalies": len(found),
        "critical": sum(a.severity == "critical" for a in found),
        "flagged": [a.describe() for a in found[:MAX_LISTED]],
        "hold_exports": hold,
    }
    if hold:
        result["held_because"] = (
            f"{len(critical_inputs)} critical anomal{'y' if len(critical_inputs) == 1 else 'ies'}"
            f" on input metrics: " + "; ".join(a.describe() for a in critical_inputs[:5])
        )
        log.warning("EXPORTS HELD for %s: %s", day, result["held_because"])
    if found:
        result.update(alert(day, found, hold, ctx.settings, cfg.notify))
    return result


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def alert(
    day: dt.date, found: list, hold: bool, settings: Any, notify: bool = True
) -> dict[str, Any]:
    """Record the night's anomalies in the run log and post them to the alert webhook.
    Never raises: an alert that cannot be delivered must not cost the night."""
    critical = sum(a.severity == "critical" for a in found)
    head = f"Tailor anomalies for {day}: {len(found)} flagged ({critical} critical)"
    if hold:
        head += "; EXPORTS HELD"
    lines = [a.describe() for a in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"... and {len(found) - MAX_LISTED} more (ops.anomalies)")
    listed = [
        {
            "metric": a.metric,
            "dimension": a.dimension,
            "dimension_value": a.dimension_value,
            "observed": a.observed,
            "expected": a.expected,
            "lower": _finite(a.lower),
            "upper": _finite(a.upper),
            "severity": a.severity,
            "score": a.score,
            "stage": a.stage,
        }
        for a in found
    ]
    digest = hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()[:16]
    out: dict[str, Any] = {"notified": False}
    event = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "anomalies_found",
        "day": day.isoformat(),
        "task_id": STAGE_NAME,
        "anomalies": len(found),
        "critical": critical,
        "exports_held": hold,
        "error": head + ": " + "; ".join(lines[:5]),
    }
    try:
        runlog.record_event(event, settings)
    except Exception:
        log.exception("could not record the anomalies of %s in the run log", day)
    url = os.environ.get("TAILOR_ALERT_WEBHOOK")
    if not (notify and url):
        return out
    payload = {
        "text": head + "\n" + "\n".join(f"• {line}" for line in lines),
        "day": day.isoformat(),
        "exports_held": hold,
        "anomalies": listed,
        "idempotency_key": f"tailor-anomalies-{day.isoformat()}-{digest}",
    }
    try:
        out["notified"] = runlog.post_alert(payload, url)
    except Exception as exc:  # the URL may carry a token: say what failed, not where
        out["notify_error"] = type(exc).__name__
        log.warning(
            "could not post the anomalies of %s to the alert webhook: %s", day, type(exc).__name__
        )
    return out


def held_by_anomalies(stage: Callable[[Any], object]) -> Callable[[Any], object]:
    """The export stage, skipped (status ``held``, recorded in its result and the run log)
    when the ``anomalies`` stage asked to hold the night's exports."""

    @functools.wraps(stage)
    def export(ctx: Any) -> object:
        verdict = ctx.results.get(STAGE_NAME)
        if not (isinstance(verdict, Mapping) and verdict.get("hold_exports")):
            return stage(ctx)
        reason = str(verdict.get("held_because") or "critical anomalies on input metrics")
        log.warning("EXPORTS HELD for %s, nothing exported: %s", ctx.day, reason)
        try:
            runlog.record_event(
                {
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "status": "exports_held",
                    "day": ctx.day.isoformat(),
                    "task_id": "export",
                    "error": f"EXPORTS HELD (anomalies.hold_exports): {reason}",
                },
                ctx.settings,
            )
        except Exception:
            log.exception("could not record the held exports of %s", ctx.day)
        return {"status": "held", "exported": 0, "reason": reason}

    export.__doc__ = (stage.__doc__ or "") + (
        " Skipped with status `held` when the anomalies stage holds the night's exports"
        " (`anomalies.hold_exports` in config/tailor.yml)."
    )
    return export


def backfill(
    settings: Any, start: dt.date, end: dt.date, *, judge: bool = True
) -> dict[dt.date, Any]:
    """Compute the input metrics of every loaded day in [start, end] in one pass (replacing
    their rows), then judge each day in order. Writes the warehouse ``settings`` points at:
    run it between nights, never beside a run. Returns {day: Judgement} (empty without
    ``judge``)."""
    from tailor.anomalies import metrics
    from tailor.warehouse import connect

    cfg = anomaly_config(settings)
    con = connect(settings.warehouse, settings=settings)
    try:
        days = metrics.loaded_days(con, start, end)
        rows = metrics.compute_inputs(con, start, end)
        metrics.write(con, rows, days, metrics.INPUT_METRICS)
        return _judge_days(con, days, cfg) if judge else {}
    finally:
        con.close()
