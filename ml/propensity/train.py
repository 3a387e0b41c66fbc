"""One task's run: the time split, the backtest of the candidates, the refit and the scores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.compute import limited_threads
from ml.propensity.cadence import Decision, decide, save, score
from ml.propensity.config import PropensityConfig
from ml.propensity.evaluation import deciles, evaluate
from ml.propensity.features import (
    FEATURE_COLUMNS,
    cutoff_of,
    data_bounds,
    features_at,
    labelled_frame,
)
from ml.propensity.models import CANDIDATES, RecencyBaseline, fit_calibrated, make_model


@dataclass(frozen=True)
class Split:
    """The cutoffs of one run. Every training label window ends at or before the
    validation cutoff; the refit cutoffs are the training ones shifted by the horizon."""

    train: tuple[dt.datetime, ...]
    validation: dt.datetime
    refit: tuple[dt.datetime, ...]
    score: dt.datetime


def plan_split(
    day: dt.date, first_data: dt.datetime | None, config: PropensityConfig
) -> Split | None:
    """The time split for run day ``day``, or None when the history is too short."""
    if first_data is None:
        return None
    score = cutoff_of(day)
    horizon = dt.timedelta(days=config.horizon_days)
    validation = score - horizon
    earliest = first_data + dt.timedelta(days=config.min_history_days)
    train = []
    c = validation - horizon
    while len(train) < config.train_cutoffs and c >= earliest:
        train.append(c)
        c -= dt.timedelta(days=config.stride_days)
    if not train:
        return None
    refit = tuple(t + horizon for t in train)
    return Split(train=tuple(train), validation=validation, refit=refit, score=score)


# --------------------------------------------------------------------------- one task


@dataclass
class TaskResult:
    task: str
    status: str  # chosen | skipped
    algorithm: str | None = None
    scores: pd.DataFrame | None = None  # customer_id, score, decile
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> metrics
    split: Split | None = None
    rows: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    data_start: dt.datetime | None = None  # the first order or session the run could see
    features: list[str] = field(default_factory=list)  # the feature columns the models used
    horizon_days: int | None = None  # the N of "in the next N days"
    # the chosen model's scores on the validation cutoff: customer_id, y, score
    validation: pd.DataFrame | None = None
    # refit or reuse, and why (ml.propensity.cadence): recorded in ml.model_runs
    cadence: dict[str, Any] = field(default_factory=dict)


def informative_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns that vary in ``frame``. A source without web events (Online
    Retail) has no session features at all; a column that is constant or entirely missing
    carries nothing and breaks some learners' binning. Recency is always kept (the
    baseline needs it)."""
    keep = []
    for c in FEATURE_COLUMNS:
        if c == "recency_days" or (c in frame and frame[c].dropna().nunique() > 1):
            keep.append(c)
    return keep


def _xy(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    return frame[list(columns)].to_numpy(dtype=float), frame["y"].to_numpy(dtype=int)


def train_task(con, day: dt.date, task: str, config: PropensityConfig | None = None) -> TaskResult:
    """Backtest the candidates for ``task`` on the time split of ``day``, refit the best
    on the newest labelled cutoffs and score every current customer."""
    with limited_threads():
        res = _train_task(con, day, task, config)
    res.horizon_days = (config or PropensityConfig()).horizon_days
    return res


def _train_task(con, day: dt.date, task: str, config: PropensityConfig | None = None) -> TaskResult:
    config = config or PropensityConfig()
    first, _ = data_bounds(con, config)
    split = plan_split(day, first, config)
    if split is None:
        return TaskResult(
            task,
            "skipped",
            data_start=first,
            message=(
                f"not enough history: need {config.min_history_days} days before a training "
                f"cutoff and {2 * config.horizon_days} days of labels"
            ),
        )
    valid = labelled_frame(con, split.validation, task, config)
    current = _current(con, split, task, config)
    decision = decide(con, day, task, config, valid, len(current))
    if not decision.refit:
        return _reused(task, decision, split, valid, current, first)
    train = pd.concat(
        [labelled_frame(con, c, task, config) for c in split.train], ignore_index=True
    )
    rows = {"train": len(train), "validation": len(valid)}
    cols = informative_columns(train)

    def enough(frame: pd.DataFrame) -> bool:
        pos = int(frame["y"].sum()) if len(frame) else 0
        return min(pos, len(frame) - pos) >= config.min_positives

    if len(train) < config.min_rows or not enough(train) or not enough(valid):
        return TaskResult(
            task,
            "skipped",
            split=split,
            rows=rows,
            data_start=first,
            message=(
                f"too few rows or positives (train {len(train)} rows, "
                f"{int(train['y'].sum()) if len(train) else 0} positive; validation {len(valid)} rows, "
                f"{int(valid['y'].sum()) if len(valid) else 0} positive)"
            ),
        )
    Xt, yt = _xy(train, cols)
    Xv, yv = _xy(valid, cols)
    groups = train["customer_id"].to_numpy()

    candidates: dict[str, dict[str, Any]] = {}
    rec = cols.index("recency_days")
    base = RecencyBaseline(column=rec).fit(Xt, yt)
    candidates["recency_baseline"] = evaluate(yv, base.predict_proba(Xv)[:, 1])
    predicted: dict[str, np.ndarray] = {}
    for name in CANDIDATES:
        model = fit_calibrated(
            make_model(name, config), Xt, yt, groups, folds=config.calibration_folds
        )
        predicted[name] = model.predict_proba(Xv)[:, 1]
        candidates[name] = evaluate(yv, predicted[name])
    best = max(CANDIDATES, key=lambda m: (round(candidates[m]["auc"], 4), -candidates[m]["brier"]))
    candidates[best]["beats_recency_baseline"] = bool(
        candidates[best]["auc"] > candidates["recency_baseline"]["auc"]
    )

    refit = pd.concat(
        [labelled_frame(con, c, task, config) for c in split.refit], ignore_index=True
    )
    rows["refit"] = len(refit)
    if len(refit) >= config.min_rows and enough(refit):
        Xr, yr = _xy(refit, cols)
        final = fit_calibrated(
            make_model(best, config),
            Xr,
            yr,
            refit["customer_id"].to_numpy(),
            folds=config.calibration_folds,
        )
    else:  # the newest cutoffs are too thin: keep the backtested fit
        final = fit_calibrated(
            make_model(best, config), Xt, yt, groups, folds=config.calibration_folds
        )
    save(
        con,
        day,
        task,
        config,
        algorithm=best,
        model=final,
        baseline=base,
        columns=cols,
        metrics=candidates[best],
        customers=len(current),
    )
    rows["scored"] = len(current)
    p = (
        final.predict_proba(current[cols].to_numpy(dtype=float))[:, 1]
        if len(current)
        else np.zeros(0)
    )
    scores = pd.DataFrame(
        {"customer_id": current["customer_id"].astype(str), "score": p, "decile": deciles(p)}
    )
    return TaskResult(
        task,
        "chosen",
        # a result built field by field (keyword arguments, like the segmentation's)
        algorithm=best,
        scores=scores,
        candidates=candidates,
        split=split,
        rows=rows,
        data_start=first,
        features=cols,
        validation=pd.DataFrame(
            {"customer_id": valid["customer_id"].astype(str), "y": yv, "score": predicted[best]}
        ),
        cadence=decision.describe(),
    )


def _current(con, split: Split, task: str, config: PropensityConfig) -> pd.DataFrame:
    """The customers scored as of the run day, with their point-in-time features."""
    current = features_at(con, split.score, config)
    if task == "churn":
        current = current.loc[current["orders_total"] > 0].reset_index(drop=True)
    return current


def _reused(
    task: str,
    decision: Decision,
    split: Split,
    valid: pd.DataFrame,
    current: pd.DataFrame,
    first: dt.datetime | None,
) -> TaskResult:
    """A reuse night's result: every current customer scored by the stored fit, its
    metrics and the stored baseline's on the newest matured labels."""
    assert decision.fit is not None and decision.stored is not None
    p = score(decision, current)
    algorithm = decision.fit.model
    watched = {**decision.monitor, "fit_auc": decision.fit.spec.get("auc")}
    # the monitor scored the validation frame already
    valid_p = decision.validation_scores
    if valid_p is None:
        valid_p = score(decision, valid)
    return TaskResult(
        task,
        "chosen",
        algorithm=algorithm,
        scores=pd.DataFrame(
            {"customer_id": current["customer_id"].astype(str), "score": p, "decile": deciles(p)}
        ),
        candidates={"recency_baseline": decision.baseline, algorithm: watched},
        split=split,
        rows={"validation": len(valid), "scored": len(current)},
        data_start=first,
        features=list(decision.stored["columns"]),
        validation=pd.DataFrame(
            {
                "customer_id": valid["customer_id"].astype(str),
                "y": valid["y"].to_numpy(dtype=int),
                "score": valid_p,
            }
        ),
        cadence=decision.describe(),
    )
