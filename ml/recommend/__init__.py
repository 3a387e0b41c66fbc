"""Product recommendations: evaluate candidate models on a per-customer temporal split,
serve the best one that is significantly so.

The nightly job (:func:`run`, a pipeline stage) for logical day D:

1. reads ``marts.user_item_interactions``, every interaction event up to the end of D,
   ``marts.products``, ``marts.customers`` and the customers' segments (``data``);
2. splits per customer: each customer with enough history holds out their latest
   products (``split``); the hyper-parameters (interaction weights and half-life, EASE's
   lambda, RP3beta's alpha and beta, item-kNN's neighbours, the hybrid's blend) are
   chosen on a validation split of the rest (``tuning``);
3. fits every candidate on the training part and scores the lists it would serve
   (exclusions, diversity rule, popularity fill: ``rules``) on the held-out part, with
   bootstrap intervals over customers (``evaluation``);
4. keeps the model served last night unless another is significantly better (a paired
   bootstrap), replaces it by popularity only when popularity is significantly better,
   and falls back to popularity for the night when its NDCG@10 dropped significantly
   against its previous run (``selection``);
5. refits the served model on all interactions and writes ``ml.recommendations`` (top K
   per customer with a reason) and ``ml.similar_items`` in batches of customers
   (``serving``), and every model's parameters, metrics and intervals to
   ``ml.model_runs`` (``output``).

Steps 2 to 5 run on a refit night only (``cadence``): every ``refit_every_days``, or
earlier when the stored model's NDCG@10 on the customers new since its fit drifts, the
catalog or the customers changed beyond a threshold, someone was erased or the settings
changed. The nights between serve the stored fit (its item-item weights, kept in
``private.fitted_models``) to every customer from tonight's history, with popularity
and content fitted on the night's data.

Everything the job writes for D is replaced in one transaction, so a rerun of D gives the
same rows. The options are :class:`RecommendConfig`'s, set in ``config/tailor.yml``
(``recommend:``); the interaction weights and half-life default to the dbt project's
(``tailor__interaction_weight_*``, ``tailor__interaction_half_life_days``).

Modules: ``config`` (:class:`RecommendConfig`), ``models`` (the candidates), ``data``
(reading the warehouse), ``rules`` (exclusions, diversity, fill), ``split``, ``bench`` (a
split made ready to score models on), ``evaluation``, ``tuning``, ``selection`` (the
served model and its guards), ``cadence`` (refit or reuse, the stored fits),
``serving`` (the lists), ``output`` (the tables) and ``job`` (:func:`run`, the pipeline
stage).

``from ml.recommend import run, RecommendConfig, TASK`` works as before; every public
name of the submodules is reachable here, imported on first use only, so importing a
low submodule (``ml.recommend.config``) does not pull in the others.
"""

from __future__ import annotations

from ml.lazy import lazy_names

# public name -> the submodule that defines it
_WHERE = {
    "Bench": "bench",
    "DBT_DEFAULTS": "config",
    "Decision": "cadence",
    "FITTED_MODELS_DDL": "cadence",
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
    "StoredFit": "cadence",
    "Served": "serving",
    "Split": "split",
    "TASK": "config",
    "TUNE_EASE_ITEMS": "models",
    "Tuning": "tuning",
    "base_features": "bench",
    "build": "models",
    "candidate_models": "models",
    "category_codes": "rules",
    "choose": "selection",
    "configured": "job",
    "customer_split": "split",
    "days": "data",
    "decide": "cadence",
    "decay": "data",
    "difference": "selection",
    "diversify": "rules",
    "ensure_tables": "output",
    "evaluate": "evaluation",
    "evaluate_day": "job",
    "exclusions": "rules",
    "feature_options": "tuning",
    "fit": "bench",
    "fit_served": "serving",
    "full_matrix": "data",
    "grid": "tuning",
    "interaction_events_sql": "data",
    "interaction_matrix": "data",
    "intervals": "evaluation",
    "item_model_for": "models",
    "kind_matrix": "data",
    "last_fit": "cadence",
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
    "remap": "cadence",
    "report": "job",
    "restore": "cadence",
    "reused_evaluation": "cadence",
    "resolve": "bench",
    "run": "job",
    "save_fit": "cadence",
    "similar_item_rows": "serving",
    "sparse_matrix": "data",
    "split_for": "bench",
    "table_columns": "data",
    "table_exists": "data",
    "tune": "tuning",
    "write_run": "output",
}

# names loaded on first use (ml/lazy.py), as in every ML package
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
