"""``ml.propensity_scores`` and the propensity rows of ``ml.model_runs``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ml.propensity.config import PropensityConfig
from ml.propensity.features import FEATURE_COLUMNS
from ml.propensity.models import make_model
from ml.propensity.train import TaskResult
from ml.runs import record_model_run, run_id, utcnow

# --------------------------------------------------------------------------- tables

PROPENSITY_SCORES_DDL = """
create table if not exists ml.propensity_scores (
    customer_id varchar not null,
    model varchar not null,          -- churn | purchase
    score double not null,           -- calibrated probability, 0..1
    decile integer not null,         -- 1 = the highest-scoring tenth of the customers scored
    algorithm varchar not null,      -- the chosen learner: logreg | gbm
    horizon_days integer not null,   -- the N of "in the next N days"
    run_id varchar not null,
    run_date date not null
)
"""


def ensure_tables(con) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(PROPENSITY_SCORES_DDL)


def write_results(
    con,
    day: dt.date,
    results: Sequence[TaskResult],
    *,
    started_at: dt.datetime,
    config: PropensityConfig,
) -> None:
    """Replace the day's scores and model-run rows of every task in one transaction."""
    ensure_tables(con)
    finished = utcnow()
    con.execute("begin transaction")
    try:
        if config.retention_days is not None:
            con.execute(
                "delete from ml.propensity_scores where run_date < ?",
                [day - dt.timedelta(days=config.retention_days)],
            )
        for res in results:
            rid = run_id(res.task, day)
            con.execute(
                "delete from ml.propensity_scores where model = ? and run_date = ?", [res.task, day]
            )
            con.execute("delete from ml.model_runs where run_id = ?", [rid])
            window: dict[str, Any] = {"horizon_days": config.horizon_days, "rows": res.rows}
            data_start, data_end = res.data_start, None
            if res.split is not None:
                window |= {
                    "train_cutoffs": list(res.split.train),
                    "validation_cutoff": res.split.validation,
                    "refit_cutoffs": list(res.split.refit),
                    "score_cutoff": res.split.score,
                    "label_windows": "[cutoff, cutoff + horizon_days)",
                }
                data_end = res.split.score
            common = {
                "run_id": rid,
                "task": res.task,
                "run_date": day,
                "data_window": window,
                "data_start": data_start,
                "data_end": data_end,
                "started_at": started_at,
                "finished_at": finished,
                "replace": False,
            }
            if res.status != "chosen":
                record_model_run(
                    con, model="propensity", status="skipped", message=res.message, **common
                )
                continue
            for name, metrics in res.candidates.items():
                status = (
                    "chosen"
                    if name == res.algorithm
                    else "baseline"
                    if name == "recency_baseline"
                    else "candidate"
                )
                params = _params(name, config) | (
                    {"features": res.features} if name != "recency_baseline" else {}
                )
                record_model_run(
                    con, model=name, status=status, params=params, metrics=metrics, **common
                )
            s = res.scores.assign(
                model=res.task,
                algorithm=res.algorithm,
                horizon_days=config.horizon_days,
                run_id=rid,
                run_date=day,
            )
            con.register("_scores", s)
            con.execute(
                "insert into ml.propensity_scores select customer_id, model, score, decile, "
                "algorithm, horizon_days, run_id, run_date from _scores"
            )
            con.unregister("_scores")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _params(name: str, config: PropensityConfig) -> dict[str, Any]:
    common = {
        "features": list(FEATURE_COLUMNS),
        "horizon_days": config.horizon_days,
        "calibration": "CalibratedClassifierCV, GroupKFold by customer",
        "calibration_folds": config.calibration_folds,
    }
    if name == "recency_baseline":
        return {"features": ["recency_days"], "model": "logistic regression on log1p(recency)"}
    est = make_model(name, config)
    p = est.get_params()
    if name == "logreg":
        p = {k: v for k, v in p.items() if k.startswith("logisticregression__")}
    keep = {k: v for k, v in p.items() if isinstance(v, int | float | str | bool | type(None))}
    return common | keep
