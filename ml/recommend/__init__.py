"""Product recommendations: evaluate candidate models on a temporal holdout, serve the best.

The nightly job (:func:`run`, a pipeline stage) for logical day D:

1. reads ``marts.user_item_interactions`` (one row per customer and product, score decayed
   to the customer's last interaction), the interaction events of the holdout window,
   ``marts.products``, ``marts.customers`` and the customers' segments;
2. evaluates every candidate model on a **temporal holdout**: models are fitted on the
   interactions before ``D + 1 - holdout_days`` (decayed to that cutoff) and must find
   what each customer put in the cart or bought in the holdout days (precision, recall,
   NDCG, MAP, hit rate @5/@10, catalog coverage, warm and cold customers apart), through
   the same exclusions, diversity rule and popularity fill the served lists go through;
3. chooses the model with the best NDCG@10; it falls back to popularity (and says so in
   ``ml.model_runs``) when that model does not beat popularity, or when its NDCG@10 fell by
   more than ``max_ndcg_drop`` against its previous run;
4. refits the served model on all interactions (decayed to the end of D) and writes
   ``ml.recommendations`` (top K per customer with a reason) and ``ml.similar_items``, in
   batches of customers so that memory does not grow with the customer count;
5. records every model's parameters and metrics in ``ml.model_runs`` (``ml.runs``).

Everything the job writes for D is replaced in one transaction, so a rerun of D gives the
same rows. The configuration lives in :class:`RecommendConfig`.

Interaction weights and the half-life are the dbt project's
(``tailor__interaction_weight_*``, ``tailor__interaction_half_life_days``), read from
``dbt_project.yml`` so that the evaluation weighs events exactly as the mart does.

Modules: ``config`` (:class:`RecommendConfig`), ``models`` (the candidates), ``data``
(reading the warehouse), ``rules`` (exclusions, diversity, fill), ``evaluation``,
``selection`` (the served model and its guards), ``serving`` (the lists), ``output`` (the
tables) and ``job`` (:func:`run`, the pipeline stage).

``from ml.recommend import run, RecommendConfig, TASK`` works as before; every public
name of the submodules is reachable here, imported on first use only, so importing a
low submodule (``ml.recommend.config``) does not pull in the others.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the submodule that defines it
_WHERE = {
    "Bench": "evaluation",
    "DBT_DEFAULTS": "config",
    "DEFAULTS": "models",
    "Evaluation": "selection",
    "FAMILIES": "models",
    "FILL_CELLS": "rules",
    "Features": "data",
    "GRIDS": "models",
    "INTERACTION_EVENTS_SQL": "data",
    "INTERVAL_METRICS": "evaluation",
    "ITEM_MODELS": "models",
    "KINDS": "config",
    "METRIC": "selection",
    "ModelResult": "selection",
    "REASONS": "serving",
    "RECOMMENDATIONS_DDL": "output",
    "REPORT_METRICS": "job",
    "RecData": "data",
    "RecommendConfig": "config",
    "SIMILAR_ITEMS_DDL": "output",
    "Served": "serving",
    "Split": "split",
    "TASK": "config",
    "TUNE_EASE_ITEMS": "models",
    "Tuning": "tuning",
    "base_features": "evaluation",
    "build": "models",
    "candidate_models": "models",
    "category_codes": "rules",
    "choose": "selection",
    "configured": "job",
    "customer_split": "split",
    "days": "data",
    "decay": "data",
    "difference": "selection",
    "diversify": "rules",
    "ensure_tables": "output",
    "evaluate": "evaluation",
    "evaluate_day": "job",
    "exclusions": "rules",
    "feature_options": "tuning",
    "fit": "evaluation",
    "fit_served": "serving",
    "full_matrix": "data",
    "grid": "tuning",
    "interaction_events_sql": "data",
    "interaction_matrix": "data",
    "intervals": "evaluation",
    "item_model_for": "models",
    "kind_matrix": "data",
    "known_models": "models",
    "latest_interaction_day": "job",
    "load_data": "data",
    "per_user_metrics": "evaluation",
    "previous_runs": "selection",
    "product_texts": "data",
    "purchase_matrix": "data",
    "ranked_lists": "rules",
    "read_dbt_vars": "config",
    "recommend_day": "job",
    "recommendation_batches": "serving",
    "record_skipped": "output",
    "repeat_purchase_mask": "rules",
    "report": "job",
    "resolve": "evaluation",
    "run": "job",
    "similar_item_rows": "serving",
    "sparse_matrix": "data",
    "split_for": "evaluation",
    "table_columns": "data",
    "table_exists": "data",
    "tune": "tuning",
    "write_run": "output",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
