"""The nightly job: evaluate, choose, fit and write one day (:func:`run`, the pipeline
stage), and what ``tailor recommend`` prints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from ml.recommend.bench import base_features, resolve
from ml.recommend.cadence import decide, reference, reused_evaluation, save_fit, storable
from ml.recommend.config import TASK, RecommendConfig
from ml.recommend.data import (
    EVENTS_FALLBACK_READS,
    READS,
    RecData,
    load_data,
    table_exists,
)
from ml.recommend.evaluation import evaluate
from ml.recommend.output import TABLES, ensure_tables, record_skipped, write_run
from ml.recommend.selection import Evaluation, previous_runs
from ml.recommend.serving import fit_served


def recommend_day(
    con: Any,
    day: dt.date,
    config: RecommendConfig | None = None,
    *,
    dbt_project: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate, choose, fit and write the recommendations of ``day`` on an open
    connection. Returns a summary for the run log."""
    from ml.runs import utcnow

    started = utcnow()
    config = (config or RecommendConfig()).with_dbt_vars(dbt_project)
    for table in ("marts.user_item_interactions", "marts.products"):
        if not table_exists(con, table):
            msg = f"{table} does not exist"
            record_skipped(con, day, msg, started)
            return {"status": "skipped", "message": msg}
    data = load_data(con, day, config)
    if data.interactions.empty or not data.allowed.any():
        msg = "no interactions" if data.interactions.empty else "no recommendable products"
        record_skipped(con, day, msg, started)
        return {"status": "skipped", "message": msg}
    config = resolve(config, data)
    decision = decide(con, day, data, config)
    if decision.refit:
        previous, incumbent = previous_runs(con, day)
        evaluation = evaluate(data, config, previous=previous, incumbent=incumbent, log=log)
    else:
        evaluation = reused_evaluation(decision, data)
    evaluation.data_window |= decision.describe()
    features = evaluation.features or base_features(config)
    served = fit_served(
        data,
        evaluation.served,
        config,
        features=features,
        params=evaluation.params,
        stored=decision.model,
    )
    written = write_run(con, data, day, evaluation, served, config, started_at=started, log=log)
    if decision.refit:
        chosen = evaluation.result(evaluation.served)
        save_fit(
            con,
            day,
            served.model,
            data,
            config,
            features=features,
            params=evaluation.params,
            fit_ndcg=chosen.metrics.get("ndcg@10") if chosen else None,
            reference_ndcg=reference(evaluation, data, config) if storable(served.model) else None,
        )
    for t in ("_rec_customers", "_rec_products"):
        con.execute(f"drop table if exists {t}")
    metrics = {
        r.name: round(r.metrics.get("ndcg@10", 0.0), 4) for r in evaluation.results if r.metrics
    }
    global_list = (
        int((data.servable & ~data.consent).sum()) if config.require_personalization_consent else 0
    )
    return {
        "status": "fallback" if evaluation.fallback else "chosen",
        "refit": decision.refit,
        "refit_reason": decision.reason,
        # customers without a personalization consent: served the global list, not their own
        "global_list_customers": global_list,
        "served": evaluation.served,
        "best": evaluation.best,
        "message": evaluation.message,
        "ndcg@10": metrics,
        "holdout_users": evaluation.data_window.get("holdout_users"),
        **written,
    }


def latest_interaction_day(con: Any) -> dt.date | None:
    """The day of the latest interaction in the mart (the CLI's default day)."""
    if not table_exists(con, "marts.user_item_interactions"):
        return None
    (last,) = con.execute(
        "select max(last_interaction_at) from marts.user_item_interactions"
    ).fetchone()
    return None if last is None else last.date()


def evaluate_day(
    con: Any,
    day: dt.date,
    config: RecommendConfig | None = None,
    *,
    dbt_project: Path | None = None,
    models: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Evaluation, RecData]:
    """The evaluation of ``day`` without writing anything (``benchmarks/recommend_quality.py``).
    ``models``: candidates to compare (default: the configured ones)."""
    config = (config or RecommendConfig()).with_dbt_vars(dbt_project)
    if models is not None:
        config = replace(config, models=tuple(m for m in models if m != "popularity"))
    data = load_data(con, day, config)
    return evaluate(data, config, log=log), data


REPORT_METRICS = (
    "ndcg@10",
    "ndcg@10_ci",
    "precision@10",
    "precision@10_ci",
    "recall@10",
    "map@10",
    "hit_rate@10",
    "coverage@10",
    "warm.ndcg@10",
    "cold.ndcg@10",
    "fit_seconds",
)


def report(con: Any, day: dt.date) -> pd.DataFrame:
    """One row per model of the recommendation run for ``day``: status, the metrics of
    :data:`REPORT_METRICS` and the message (what ``tailor recommend`` prints)."""
    if not table_exists(con, "ml.model_runs"):
        return pd.DataFrame(columns=["model", "status", *REPORT_METRICS, "message"])
    rows = con.execute(
        "select model, status, metrics, message from ml.model_runs where task = ? and run_date = ? order by started_at, model",
        [TASK, day],
    ).fetchall()
    import json

    out = []
    for model, status, metrics, message in rows:
        m = json.loads(metrics) if metrics else {}
        out.append(
            {
                "model": model,
                "status": status,
                **{k: m.get(k) for k in REPORT_METRICS},
                "message": message,
            }
        )
    return pd.DataFrame(out, columns=["model", "status", *REPORT_METRICS, "message"])


def configured(settings: Any, overrides: Mapping[str, Any] | None = None) -> RecommendConfig:
    """The job's configuration: ``config/tailor.yml``'s ``recommend:`` section over the
    defaults, then ``overrides`` (a command's options)."""
    from tailor.config import load_config

    options = dict(load_config(settings).recommend.values) | dict(overrides or {})
    return RecommendConfig.from_options(options)


def run(ctx: Any, config: RecommendConfig | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pipeline stage: recommendations and similar items as of ``ctx.day``. The
    configuration is ``config/tailor.yml``'s (``tailor run``, the DAG and ``tailor
    recommend`` alike), with a mapping's options over it; a ``RecommendConfig`` is used
    as given."""
    from ml import fitted
    from ml.compute import limited_threads
    from tailor.warehouse_io import open_warehouse

    if not isinstance(config, RecommendConfig):
        config = configured(ctx.settings, config)
    with open_warehouse(ctx.settings) as wh:
        reads = [*READS, *config.segment_tables]
        if wh.engine != "duckdb" and not wh.exists("marts.user_item_events"):
            reads += EVENTS_FALLBACK_READS
        reads += fitted.WORKSPACE_READS
        writes = (*TABLES, *fitted.WORKSPACE_WRITES)
        with wh.workspace(reads, writes, prepare=ensure_tables) as con, limited_threads():
            return recommend_day(con, ctx.day, config, dbt_project=ctx.settings.dbt_project)
