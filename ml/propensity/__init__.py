"""Propensity models: churn and purchase in the next N days, trained on time splits.

Definitions (``N = horizon_days``; a cutoff ``c`` is the end of a logical day, exclusive):

* **purchase**: the customer places an order in ``[c, c + N days)``. Every known customer
  is in the population.
* **churn**: the customer places *no* order in ``[c, c + N days)``. Only customers who had
  bought before ``c`` can churn, so the population is the past buyers.

Features are computed point-in-time in SQL from ``marts.orders``, ``marts.sessions`` and
``marts.customers``, using only rows that happened before the cutoff (``feature_sql``);
labels come only from the window after it (``label_sql``). An order placed before the
cutoff counts as a purchase even if it was cancelled or returned later (what the marts show
today is corrected back to what was known at the cutoff, through ``updated_at``).

Training never splits at random. For run day D:

* validation cutoff ``c_val = D + 1 - N`` (its labels end with D, the newest data);
* training cutoffs ``c_val - N``, ``c_val - N - stride``, ... (as many as
  ``train_cutoffs`` allows with at least ``min_history_days`` of history before each), so
  every training label is known before the validation features are taken;
* logistic regression and gradient boosting are fitted on the training cutoffs,
  calibrated (``CalibratedClassifierCV``, folds grouped by customer), and compared on the
  validation cutoff (AUC, PR-AUC, Brier, calibration error, lift by decile), together with
  a recency-only baseline;
* the better one (AUC) is refitted on the cutoffs shifted by N days (so the newest labels
  are used) and scores every current customer as of D.

That is a refit night (``cadence``): every ``refit_every_days``, or earlier when the
stored model's AUC or calibration on the newest matured labels drifts, the customers
grew, someone was erased or the settings changed. The nights between score every
current customer with the stored fit (:mod:`ml.fitted`) and fit nothing.

Outputs: ``ml.propensity_scores`` (one row per customer and model) and ``ml.model_runs``.

Modules: ``config`` (the run's settings), ``features`` (point-in-time SQL), ``models``
(candidates and calibration), ``evaluation`` (metrics), ``train`` (one task's backtest and
scores), ``cadence`` (refit or reuse), ``store`` (the tables), ``job`` (the stage). The
names below are importable from the package itself and loaded from their submodule on
first use.
"""

from __future__ import annotations

from ml.lazy import lazy_names

_EXPORTS: dict[str, str] = {
    "TASKS": "config",
    "PropensityConfig": "config",
    "FEATURE_COLUMNS": "features",
    "feature_sql": "features",
    "label_sql": "features",
    "cutoff_of": "features",
    "features_at": "features",
    "labels_at": "features",
    "labelled_frame": "features",
    "data_bounds": "features",
    "make_logreg": "models",
    "make_gbm": "models",
    "RecencyBaseline": "models",
    "CANDIDATES": "models",
    "fit_calibrated": "models",
    "make_model": "models",
    "deciles": "evaluation",
    "lift_table": "evaluation",
    "calibration_error": "evaluation",
    "evaluate": "evaluation",
    "Split": "train",
    "plan_split": "train",
    "TaskResult": "train",
    "informative_columns": "train",
    "train_task": "train",
    "PROPENSITY_SCORES_DDL": "store",
    "ensure_tables": "store",
    "write_results": "store",
    "run": "job",
}

# names loaded on first use (ml/lazy.py), as in every ML package
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)
