"""The shared log of model runs: ``ml.model_runs``.

Every ML job (segmentation, propensity, recommendations) writes one row per model it
fitted in a run: the chosen model, the candidates it was compared with and the baselines.
A run id is deterministic for a job and a logical day (``run_id("segmentation", day)``),
so rerunning a day replaces that day's rows instead of adding to them.

Typical use, inside the job's own transaction::

    started = utcnow()
    ...fit...
    con.execute("begin transaction")
    delete_run(con, rid)                       # the run's previous rows, if any
    record_model_run(con, run_id=rid, model="kmeans", task="segmentation", run_date=day,
                     params={...}, metrics={...}, status="chosen", started_at=started,
                     data_window={"start": ..., "end": ...})
    ...write the job's output tables...
    con.execute("commit")
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np

ML_SCHEMA = "ml"

MODEL_RUNS_DDL = """
create table if not exists ml.model_runs (
    run_id varchar not null,        -- '<task>:<run_date>': one job run on one logical day
    model varchar not null,         -- the fitted model: kmeans, gmm, dbscan, logreg, gbm, recency_baseline, popularity, ...
    task varchar not null,          -- segmentation | churn | purchase | recommendation | ...
    run_date date not null,         -- the logical day the run belongs to
    status varchar not null,        -- chosen | candidate | baseline | fallback | skipped | failed
    params json,                    -- hyper-parameters, as given and as learned (e.g. the chosen k)
    data_start timestamp,           -- first instant of data the run used
    data_end timestamp,             -- last instant of data the run used (the cutoff)
    data_window json,               -- details: training / validation cutoffs, label horizon, rows
    metrics json,                   -- evaluation metrics (AUC, NDCG@10, silhouette, ...)
    message varchar,                -- why a run fell back, was skipped or failed
    started_at timestamp not null,  -- wall-clock UTC
    finished_at timestamp           -- wall-clock UTC; null while running
)
"""

STATUSES = ("chosen", "candidate", "baseline", "fallback", "skipped", "failed")


def utcnow() -> dt.datetime:
    """Wall-clock UTC without tzinfo (DuckDB ``timestamp``)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def run_id(task: str, run_date: dt.date) -> str:
    """The deterministic id of ``task``'s run for ``run_date``: a rerun gets the same id."""
    return f"{task}:{run_date.isoformat()}"


def ensure_model_runs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {ML_SCHEMA}")
    con.execute(MODEL_RUNS_DDL)


def delete_run(con: duckdb.DuckDBPyConnection, rid: str) -> None:
    """Remove a run's rows (call inside the transaction that writes the run again)."""
    ensure_model_runs(con)
    con.execute("delete from ml.model_runs where run_id = ?", [rid])


def record_model_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    model: str,
    task: str,
    run_date: dt.date,
    status: str,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    data_window: Mapping[str, Any] | None = None,
    data_start: dt.datetime | dt.date | None = None,
    data_end: dt.datetime | dt.date | None = None,
    message: str | None = None,
    started_at: dt.datetime | None = None,
    finished_at: dt.datetime | None = None,
    replace: bool = True,
) -> None:
    """Insert one model's row into ``ml.model_runs``.

    With ``replace`` (the default) an earlier row for the same run and model is removed
    first, so a rerun is idempotent. The helper does not open a transaction: call it
    inside the one that writes the job's outputs, so that outputs and log agree.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    ensure_model_runs(con)
    if replace:
        con.execute("delete from ml.model_runs where run_id = ? and model = ?", [run_id, model])
    now = utcnow()
    con.execute(
        """
        insert into ml.model_runs (
            run_id, model, task, run_date, status, params, data_start, data_end,
            data_window, metrics, message, started_at, finished_at
        ) values (?, ?, ?, ?, ?, ?::json, ?, ?, ?::json, ?::json, ?, ?, ?)
        """,
        [
            run_id,
            model,
            task,
            run_date,
            status,
            to_json(params or {}),
            _as_timestamp(data_start),
            _as_timestamp(data_end),
            to_json(data_window or {}),
            to_json(metrics or {}),
            message,
            started_at or now,
            finished_at or now,
        ],
    )


def record_skipped(
    con: duckdb.DuckDBPyConnection,
    *,
    task: str,
    model: str,
    run_date: dt.date,
    message: str,
    started_at: dt.datetime,
    clear: tuple[str, ...] = (),
) -> None:
    """Record that the job of ``task`` skipped ``run_date`` (and why), replacing that day's
    rows of the output tables ``clear`` and its earlier run record, in one transaction."""
    ensure_model_runs(con)
    rid = run_id(task, run_date)
    con.execute("begin transaction")
    try:
        for table in clear:
            con.execute(f"delete from {table} where run_date = ?", [run_date])
        con.execute("delete from ml.model_runs where run_id = ?", [rid])
        # one keyword argument per field (a record with many fields, not repeated logic)
        record_model_run(
            con,
            run_id=rid,
            model=model,
            task=task,
            run_date=run_date,
            status="skipped",
            message=message,
            started_at=started_at,
            replace=False,
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def to_json(value: Any) -> str:
    """JSON text for ``value``; numpy scalars and arrays, dates and NaN are handled
    (NaN and infinities become null)."""
    return json.dumps(_plain(value), sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _as_timestamp(value: dt.datetime | dt.date | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time())
