"""When a propensity model is refitted, and the stored fit scoring on the nights between.

A *refit* night backtests the candidates on the training cutoffs, refits the best on the
newest ones and scores every customer (:mod:`ml.propensity.train`); the fitted model,
the recency baseline and the feature columns they read are then stored per task and
horizon (:func:`save`, :mod:`ml.fitted`, a signed pickle). A *reuse* night reads only
the validation cutoff (the newest matured labels, to watch the model) and the current
features, and scores every current customer with the stored model: a new customer is
scored from their point-in-time features like any other, nothing about them needs the
fit.

:func:`decide` refits when any of these holds, in this order, and says which:

1. ``refit_every_days`` is 1, or there is no stored fit of the task and horizon before
   the night;
2. the fit is ``refit_every_days`` old or older (the cadence);
3. the settings that shape a fit changed (cutoffs, stride, history, learners);
4. someone erased since the fit is due to be fully gone tonight (their rows trained it;
   :func:`ml.fitted.erasures_since`: the night of the physical erasure pass);
5. the customers scored grew by more than ``max_customer_change`` since the fit;
6. the drift monitor, on the validation cutoff of the night (labels matured with the
   night's data): the stored model's AUC fell more than ``max_auc_drop`` below its
   fit-time (backtest) AUC, or its calibration error rose more than
   ``max_calibration_drift`` above it. Those labels overlap the fit's newest training
   window by the horizon less the fit's age, so the check catches a break in the data
   (a tracking change, a new customer base), not a slow slide: the cadence bounds that.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml import fitted
from ml.propensity.config import PropensityConfig
from ml.propensity.evaluation import evaluate


@dataclass
class Decision:
    refit: bool
    reason: str
    fit: fitted.Fit | None = None
    stored: dict[str, Any] | None = None  # model, baseline, columns of the stored fit
    monitor: dict[str, Any] = field(default_factory=dict)  # the chosen model's metrics tonight
    baseline: dict[str, Any] = field(default_factory=dict)  # the stored baseline's
    # the stored model's probabilities for the validation frame decide() was given
    validation_scores: np.ndarray | None = None

    def describe(self) -> dict[str, Any]:
        """What ``ml.model_runs.data_window`` records of the decision."""
        out: dict[str, Any] = {"refit": self.refit, "refit_reason": self.reason}
        if self.fit is not None:  # the fit served, or the one a refit replaces
            out["replaces_fit_of" if self.refit else "fitted_on"] = self.fit.fit_date.isoformat()
            out["fit_auc"] = self.fit.spec.get("auc")
        if self.monitor:
            out["monitored_auc"] = self.monitor.get("auc")
            out["monitored_ece"] = self.monitor.get("ece")
        return out


def store_task(task: str, config: PropensityConfig) -> str:
    """The key of a task and horizon's fits in :mod:`ml.fitted`."""
    return f"{task}:{config.horizon_days}d"


def fit_settings(config: PropensityConfig) -> dict[str, Any]:
    """The options that shape a fit: a stored fit made under others is not reused."""
    keep = (
        "horizon_days",
        "train_cutoffs",
        "stride_days",
        "min_history_days",
        "min_rows",
        "min_positives",
        "calibration_folds",
        "gbm_max_iter",
        "random_state",
    )
    return {k: getattr(config, k) for k in keep}


def save(
    con: Any,
    day: dt.date,
    task: str,
    config: PropensityConfig,
    *,
    algorithm: str,
    model: Any,
    baseline: Any,
    columns: list[str],
    metrics: dict[str, Any],
    customers: int,
) -> None:
    """Store a refit night's model (with its baseline and feature columns)."""
    spec = {
        "columns": list(columns),
        "settings": fit_settings(config),
        "auc": metrics.get("auc"),
        "ece": metrics.get("ece"),
        "customers": customers,
    }
    if hasattr(model, "cv") and not isinstance(model.cv, int | None):
        # the calibration folds (row indices of the training frame) are not needed to score
        model = copy.copy(model)
        model.cv = None
    payload = fitted.pack_estimator(con, {"model": model, "baseline": baseline, "columns": columns})
    fitted.save(con, store_task(task, config), day, algorithm, spec, payload)


def _worse(now: float | None, before: float | None, limit: float, higher_is_better: bool) -> bool:
    if now is None or before is None or math.isnan(now) or math.isnan(before):
        return False
    return (before - now if higher_is_better else now - before) > limit


def decide(
    con: Any,
    day: dt.date,
    task: str,
    config: PropensityConfig,
    valid: pd.DataFrame,
    customers: int,
) -> Decision:
    """Refit tonight or score with the stored fit (see the module's docstring).
    ``valid``: the night's validation frame (features and labels); ``customers``: how
    many the night scores."""
    every = config.refit_every_days
    if every <= 1:
        return Decision(True, "refit every night (refit_every_days: 1)")
    fit = fitted.load(con, store_task(task, config), day)
    if fit is None:
        return Decision(True, "no stored fit of an earlier night")
    when = fitted.describe(fit, day)
    reason = fitted.stale(
        con,
        fit,
        day,
        every=every,
        settings=fit_settings(config),
        customers=("customers scored", customers, config.max_customer_change),
    )
    if reason:
        return Decision(True, reason, fit)
    if not len(valid):
        return Decision(True, f"no matured labels to watch {when} on", fit)
    try:
        stored = fitted.unpack_estimator(con, fit.payload)
    except Exception as exc:  # noqa: BLE001 - an unreadable fit is refitted, never served
        return Decision(True, f"{when} cannot be read: {exc}", fit)
    y = valid["y"].to_numpy(dtype=int)
    X = valid[stored["columns"]].to_numpy(dtype=float)
    validation_scores = stored["model"].predict_proba(X)[:, 1]
    watched = evaluate(y, validation_scores)
    decision = Decision(False, "", fit, stored, watched, validation_scores=validation_scores)
    decision.baseline = evaluate(y, stored["baseline"].predict_proba(X)[:, 1])
    auc, ece = watched.get("auc"), watched.get("ece")
    if _worse(auc, fit.spec.get("auc"), config.max_auc_drop, higher_is_better=True):
        decision.refit = True
        decision.reason = (
            f"drift: AUC {auc:.4f} on the newest matured labels, {fit.spec['auc'] - auc:.4f} "
            f"below {when}'s {fit.spec['auc']:.4f} (max_auc_drop {config.max_auc_drop})"
        )
    elif _worse(ece, fit.spec.get("ece"), config.max_calibration_drift, higher_is_better=False):
        decision.refit = True
        decision.reason = (
            f"drift: calibration error {ece:.4f} on the newest matured labels, above "
            f"{when}'s {fit.spec['ece']:.4f} by more than {config.max_calibration_drift}"
        )
    else:
        judged = (
            f"AUC {auc:.4f} vs {fit.spec.get('auc') or float('nan'):.4f} at fit"
            if auc is not None and not math.isnan(auc)
            else "no labels to judge drift on"
        )
        decision.reason = f"reused {when}: {judged}"
    return decision


def score(decision: Decision, current: pd.DataFrame) -> np.ndarray:
    """The stored model's probabilities for ``current`` (point-in-time features)."""
    assert decision.stored is not None
    if not len(current):
        return np.zeros(0)
    X = current[decision.stored["columns"]].to_numpy(dtype=float)
    return decision.stored["model"].predict_proba(X)[:, 1]
