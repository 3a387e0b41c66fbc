"""The pipeline stage: every task and horizon, scored and written as of the run day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ml.propensity.config import TASKS, PropensityConfig
from ml.propensity.store import TABLES, ensure_all, horizon_run_id, write_results
from ml.propensity.train import TaskResult, train_task
from ml.propensity.value import customer_value, write_value
from ml.runs import record_model_run, utcnow


def train_horizons(con, day: dt.date, config: PropensityConfig) -> list[TaskResult]:
    """Every task at every horizon of the run: ``config.only`` when given (a horizon added
    by hand), else the configured ``horizons``; when none of those could be trained and
    ``short_history_horizon`` is set, that shorter horizon as well (a young shop still gets
    scores, and the skipped horizons are reported)."""
    horizons = config.only or config.horizons
    results = [train_task(con, day, task, config.at(h)) for h in horizons for task in TASKS]
    short = config.short_history_horizon
    if (
        config.only is None
        and short is not None
        and short not in horizons
        and not any(r.status == "chosen" for r in results)
    ):
        results += [train_task(con, day, task, config.at(short)) for task in TASKS]
    return results


def score_day(con, day: dt.date, config: PropensityConfig, started: dt.datetime) -> dict:
    """Train, score and write every task and horizon of ``day``; the run-log summary."""
    results = train_horizons(con, day, config)
    carried = write_results(con, day, results, started_at=started, config=config)
    values = [customer_value(con, r, config) for r in results if r.task == "purchase"]
    con.execute("begin transaction")
    try:
        write_value(con, day, values, lambda h: horizon_run_id("value", day, h))
        for v in values:
            rid = horizon_run_id("value", day, v.horizon_days)
            con.execute("delete from ml.model_runs where run_id = ?", [rid])
            record_model_run(
                con,
                run_id=rid,
                model=v.model or "value",
                task="value",
                run_date=day,
                status="chosen" if v.status == "chosen" else "skipped",
                params={"horizon_days": v.horizon_days, "value_model": config.value_model},
                metrics=v.metrics,
                message=v.message,
                data_window={"horizon_days": v.horizon_days},
                started_at=started,
                finished_at=utcnow(),
                replace=False,
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    out: dict[str, Any] = {}
    for v in values:
        key = f"value_{v.horizon_days}d"
        if v.status != "chosen":
            out[key] = {"status": v.status, "message": v.message}
            continue
        cand = v.metrics["candidates"].get(v.model, {})
        out[key] = {
            "status": v.status,
            "model": v.model,
            "auc": round(cand["auc"], 4) if cand else None,
            "customers": len(v.frame),
            "expected_purchases": round(float(v.frame["expected_purchases"].sum()), 1),
            "expected_value": round(float(v.frame["expected_value"].sum()), 2),
        }
    for r in results:
        key = f"{r.task}_{r.horizon_days}d"
        if r.status != "chosen":
            out[key] = {"status": r.status, "message": r.message}
            if (r.task, r.horizon_days) in carried:
                out[key]["kept_scores_of"] = carried[(r.task, r.horizon_days)]
            continue
        m = r.candidates[r.algorithm]
        out[key] = {
            "status": r.status,
            "horizon_days": r.horizon_days,
            "algorithm": r.algorithm,
            "auc": round(m["auc"], 4),
            "pr_auc": round(m["pr_auc"], 4),
            "brier": round(m["brier"], 4),
            "recency_baseline_auc": round(r.candidates["recency_baseline"]["auc"], 4),
            "scored": r.rows.get("scored", 0),
        }
    return out


def run(ctx: Any, config: PropensityConfig | None = None) -> dict[str, Any]:
    """Pipeline stage: train, evaluate and score churn and purchase propensity at every
    horizon as of ``ctx.day``; write ``ml.propensity_scores`` and ``ml.model_runs``.
    Without ``config``, the ``propensity`` section of ``config/tailor.yml``."""
    from ml import fitted
    from tailor.config import load_config
    from tailor.warehouse_io import open_warehouse

    if config is None:
        config = PropensityConfig.from_settings(load_config(ctx.settings).propensity)
    started = utcnow()
    reads = (
        config.orders_table,
        config.sessions_table,
        config.customers_table,
        *fitted.WORKSPACE_READS,
    )
    writes = (*TABLES, *fitted.WORKSPACE_WRITES)
    with (
        open_warehouse(ctx.settings) as wh,
        wh.workspace(reads, writes, prepare=ensure_all) as con,
    ):
        return score_day(con, ctx.day, config, started)
