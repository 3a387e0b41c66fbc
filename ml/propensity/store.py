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
    run_id varchar not null,         -- the run that scored it ('<model>:<date>:<N>d')
    run_date date not null,
    is_primary boolean default true  -- the model's primary horizon on this run date
)
"""

# The key of a score: one per customer, model and horizon on a run date.
SCORE_KEY = ("customer_id", "model", "horizon_days", "run_date")

# the tables a run writes (and reads back: earlier scores to carry forward)
TABLES = ("ml.propensity_scores", "ml.customer_value", "ml.model_runs")


def ensure_tables(con) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(PROPENSITY_SCORES_DDL)
    # warehouses from before horizons were settings: one horizon, the primary one
    con.execute(
        "alter table ml.propensity_scores add column if not exists is_primary boolean default true"
    )


def ensure_all(con) -> None:
    """Every table of :data:`TABLES`."""
    from ml.propensity.value import ensure_table

    ensure_tables(con)
    ensure_table(con)


def horizon_run_id(task: str, day: dt.date, horizon_days: int) -> str:
    """The run id of one task and horizon on a day: a rerun of the day replaces it."""
    return f"{run_id(task, day)}:{horizon_days}d"


def write_results(
    con,
    day: dt.date,
    results: Sequence[TaskResult],
    *,
    started_at: dt.datetime,
    config: PropensityConfig,
) -> dict[tuple[str, int], str]:
    """Write the day's scores and model-run rows of every task and horizon in one
    transaction; other horizons' rows are left as they are.

    A trained horizon replaces its own rows of the day. A horizon that could not be
    trained (too little history, too few buyers) is recorded as skipped and deletes
    nothing: when it has no scores for the day, its latest earlier scores are carried
    forward to the day (their ``run_id`` still names the run that scored them), so the
    audiences built on it keep their members. Returns {(task, horizon): the run id of
    the carried scores} for the horizons carried forward.
    """
    ensure_tables(con)
    finished = utcnow()
    carried: dict[tuple[str, int], str] = {}
    con.execute("begin transaction")
    try:
        if config.retention_days is not None:
            con.execute(
                "delete from ml.propensity_scores where run_date < ?",
                [day - dt.timedelta(days=config.retention_days)],
            )
        for res in results:
            horizon = res.horizon_days or config.horizon_days
            rid = horizon_run_id(res.task, day, horizon)
            con.execute("delete from ml.model_runs where run_id = ?", [rid])
            window: dict[str, Any] = {"horizon_days": horizon, "rows": res.rows, **res.cadence}
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
                source = _carry_forward(con, day, res.task, horizon)
                if source:
                    carried[(res.task, horizon)] = source
                message = res.message or "skipped"
                if source:
                    message += f"; the scores of {source} are kept"
                record_model_run(
                    con, model="propensity", status="skipped", message=message, **common
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
                params = _params(name, config.at(horizon)) | (
                    {"features": res.features} if name != "recency_baseline" else {}
                )
                record_model_run(
                    con, model=name, status=status, params=params, metrics=metrics, **common
                )
            con.execute(
                "delete from ml.propensity_scores "
                "where model = ? and horizon_days = ? and run_date = ?",
                [res.task, horizon, day],
            )
            s = res.scores.assign(
                model=res.task,
                algorithm=res.algorithm,
                horizon_days=horizon,
                run_id=rid,
                run_date=day,
            )
            con.register("_scores", s)
            con.execute(
                "insert into ml.propensity_scores select customer_id, model, score, decile, "
                "algorithm, horizon_days, run_id, run_date, false from _scores"
            )
            con.unregister("_scores")
        mark_primary(con, day, config)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return carried


def _carry_forward(con, day: dt.date, task: str, horizon: int) -> str | None:
    """Copy a horizon's latest earlier scores to ``day`` when the day has none of its own;
    the run id of the copied scores, or None."""
    (today,) = con.execute(
        "select count(*) from ml.propensity_scores "
        "where model = ? and horizon_days = ? and run_date = ?",
        [task, horizon, day],
    ).fetchall()[0]
    if today:
        return None
    row = con.execute(
        "select max(run_date) from ml.propensity_scores "
        "where model = ? and horizon_days = ? and run_date < ?",
        [task, horizon, day],
    ).fetchall()[0]
    if row[0] is None:
        return None
    con.execute(
        "insert into ml.propensity_scores select customer_id, model, score, decile, algorithm, "
        "horizon_days, run_id, ?, false from ml.propensity_scores "
        "where model = ? and horizon_days = ? and run_date = ?",
        [day, task, horizon, row[0]],
    )
    (source,) = con.execute(
        "select min(run_id) from ml.propensity_scores "
        "where model = ? and horizon_days = ? and run_date = ?",
        [task, horizon, day],
    ).fetchall()[0]
    return source


def mark_primary(con, day: dt.date, config: PropensityConfig) -> None:
    """Flag each model's primary horizon among the day's scores: the first configured
    horizon that has scores, else the shortest horizon scored (the short-history one)."""
    order = list(config.horizons)
    for (task,) in con.execute(
        "select distinct model from ml.propensity_scores where run_date = ?", [day]
    ).fetchall():
        have = [
            h
            for (h,) in con.execute(
                "select distinct horizon_days from ml.propensity_scores "
                "where run_date = ? and model = ? order by 1",
                [day, task],
            ).fetchall()
        ]
        primary = next((h for h in order if h in have), have[0])
        con.execute(
            "update ml.propensity_scores set is_primary = (horizon_days = ?) "
            "where run_date = ? and model = ?",
            [primary, day, task],
        )


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
