"""The pipeline stage: every task, scored and written as of the run day."""

from __future__ import annotations

from typing import Any

from ml.propensity.config import TASKS, PropensityConfig
from ml.propensity.store import write_results
from ml.propensity.train import train_task
from ml.runs import utcnow


def run(ctx: Any, config: PropensityConfig | None = None) -> dict[str, Any]:
    """Pipeline stage: train, evaluate and score churn and purchase propensity as of
    ``ctx.day``; write ``ml.propensity_scores`` and ``ml.model_runs``."""
    from tailor.warehouse import connect

    config = config or PropensityConfig()
    started = utcnow()
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        results = [train_task(con, ctx.day, task, config) for task in TASKS]
        write_results(con, ctx.day, results, started_at=started, config=config)
    finally:
        con.close()
    out: dict[str, Any] = {}
    for r in results:
        if r.status != "chosen":
            out[r.task] = {"status": r.status, "message": r.message}
            continue
        m = r.candidates[r.algorithm]
        out[r.task] = {
            "status": r.status,
            "algorithm": r.algorithm,
            "auc": round(m["auc"], 4),
            "pr_auc": round(m["pr_auc"], 4),
            "brier": round(m["brier"], 4),
            "recency_baseline_auc": round(r.candidates["recency_baseline"]["auc"], 4),
            "scored": r.rows.get("scored", 0),
        }
    return out
