"""The settings of a propensity run (``tailor.config``'s ``propensity`` section fills them)."""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("churn", "purchase")


@dataclass
class PropensityConfig:
    horizon_days: int = 7
    train_cutoffs: int = 2  # training cutoffs, newest first, ``stride_days`` apart
    stride_days: int = 7
    min_history_days: int = 7  # history a cutoff needs before it (from the first order or session)
    min_rows: int = 200  # training rows needed to fit
    min_positives: int = 20  # of each class, in training and in validation
    calibration_folds: int = 3
    gbm_max_iter: int = 200
    random_state: int = 0
    retention_days: int | None = 35  # days of ml.propensity_scores history kept (None: all)
    orders_table: str = "marts.orders"
    sessions_table: str = "marts.sessions"
    customers_table: str = "marts.customers"
