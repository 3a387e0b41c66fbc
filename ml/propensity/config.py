"""The settings of a propensity run (``tailor.config``'s ``propensity`` section fills them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

TASKS = ("churn", "purchase")


@dataclass
class PropensityConfig:
    # The N of "in the next N days" a single task fit uses (train_task); a run trains every
    # horizon of ``horizons`` (or only ``only``) by setting it per horizon.
    horizon_days: int = 30
    # The configured horizons, scored side by side; the first is the primary one.
    horizons: tuple[int, ...] = (30, 90)
    # Horizons to train in this run instead of ``horizons`` (``tailor score --horizon-days``):
    # they are added beside the others; nothing else is touched.
    only: tuple[int, ...] | None = None
    # While no configured horizon can be trained yet (short history), score this one.
    short_history_horizon: int | None = 7
    train_cutoffs: int = 2  # training cutoffs, newest first, ``stride_days`` apart
    stride_days: int = 7
    min_history_days: int = 7  # history a cutoff needs before it (from the first order or session)
    min_rows: int = 200  # training rows needed to fit
    min_positives: int = 20  # of each class, in training and in validation
    calibration_folds: int = 3
    gbm_max_iter: int = 200
    random_state: int = 0
    retention_days: int | None = 35  # days of ml.propensity_scores history kept (None: all)
    value_model: str = "auto"  # auto | classifier | bgnbd (ml.value)
    # what refits when (ml.propensity.cadence): the stored fit scores the nights between
    refit_every_days: int = 7  # refit when the stored fit is this old (1: every night)
    max_auc_drop: float = 0.05  # AUC fall on the newest matured labels that forces a refit
    max_calibration_drift: float = 0.05  # rise of the calibration error that forces one
    max_customer_change: float = 0.25  # growth of the customers scored that forces one
    orders_table: str = "marts.orders"
    sessions_table: str = "marts.sessions"
    customers_table: str = "marts.customers"

    @classmethod
    def from_settings(cls, section: Any, *, only: tuple[int, ...] | None = None, **overrides: Any):
        """From ``tailor.config.PropensitySettings`` (``load_config(settings).propensity``)."""
        return cls(
            horizon_days=section.horizons[0],
            horizons=tuple(section.horizons),
            only=only,
            short_history_horizon=section.short_history_horizon,
            train_cutoffs=section.train_cutoffs,
            stride_days=section.stride_days,
            min_history_days=section.min_history_days,
            min_rows=section.min_rows,
            min_positives=section.min_positives,
            retention_days=section.retention_days,
            value_model=section.value_model,
            refit_every_days=section.refit_every_days,
            max_auc_drop=section.max_auc_drop,
            max_calibration_drift=section.max_calibration_drift,
            max_customer_change=section.max_customer_change,
            **overrides,
        )

    def at(self, horizon_days: int) -> PropensityConfig:
        """The same settings for one horizon."""
        return dataclasses.replace(self, horizon_days=horizon_days)
