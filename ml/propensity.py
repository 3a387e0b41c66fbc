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

Outputs: ``ml.propensity_scores`` (one row per customer and model) and ``ml.model_runs``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ml.compute import limited_threads
from ml.runs import record_model_run, run_id, utcnow

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


# --------------------------------------------------------------------------- SQL

# An order "stood" at cutoff c if it was placed before c and is a purchase today, or was
# changed (cancelled, returned) only at or after c.
_STOOD = "(o.is_purchase or coalesce(o.updated_at, o.ordered_at) >= $cutoff)"

FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "days_since_last_session",
    "tenure_days",
    "orders_total",
    "orders_7d",
    "orders_14d",
    "orders_30d",
    "revenue_total",
    "revenue_30d",
    "average_order_value",
    "discount_share",
    "sessions_total",
    "sessions_7d",
    "sessions_14d",
    "product_views_7d",
    "cart_adds_7d",
    "page_views_per_session",
    "converted_session_share",
    "mobile_share",
    "evening_share",
)


def feature_sql(config: PropensityConfig | None = None) -> str:
    """Point-in-time features, one row per customer known at ``$cutoff``.

    Parameters: ``$cutoff`` (timestamp; only rows before it are read). The customers are
    those of ``marts.customers`` (so erased people are never used) who had a session or an
    order before the cutoff, or signed up before it. ``recency_days`` is null for a
    customer who never bought; a signup date after the cutoff is ignored.
    """
    c = config or PropensityConfig()
    return f"""
with orders as (
    select
        o.customer_id,
        o.ordered_at,
        coalesce(o.merchandise_amount_reporting, o.merchandise_amount, o.total, 0) as amount,
        coalesce(o.has_discount, false) as has_discount
    from {c.orders_table} as o
    where o.customer_id is not null
        and o.ordered_at < $cutoff
        and coalesce(o.merchandise_amount, o.total, 0) > 0
        and {_STOOD}
),
sessions as (
    select
        s.customer_id,
        s.started_at,
        coalesce(s.page_views, 0) as page_views,
        coalesce(s.product_views, 0) as product_views,
        coalesce(s.cart_adds, 0) as cart_adds,
        coalesce(s.is_converted, false) as is_converted,
        s.device_type,
        s.start_day_part
    from {c.sessions_table} as s
    where s.customer_id is not null
        and s.started_at < $cutoff
),
order_stats as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as orders_total,
        count(*) filter (where ordered_at >= $cutoff - interval 7 day) as orders_7d,
        count(*) filter (where ordered_at >= $cutoff - interval 14 day) as orders_14d,
        count(*) filter (where ordered_at >= $cutoff - interval 30 day) as orders_30d,
        sum(amount) as revenue_total,
        coalesce(sum(amount) filter (where ordered_at >= $cutoff - interval 30 day), 0) as revenue_30d,
        avg(case when has_discount then 1.0 else 0.0 end) as discount_share
    from orders
    group by customer_id
),
session_stats as (
    select
        customer_id,
        min(started_at) as first_session_at,
        max(started_at) as last_session_at,
        count(*) as sessions_total,
        count(*) filter (where started_at >= $cutoff - interval 7 day) as sessions_7d,
        count(*) filter (where started_at >= $cutoff - interval 14 day) as sessions_14d,
        coalesce(sum(product_views) filter (where started_at >= $cutoff - interval 7 day), 0) as product_views_7d,
        coalesce(sum(cart_adds) filter (where started_at >= $cutoff - interval 7 day), 0) as cart_adds_7d,
        avg(page_views) as page_views_per_session,
        avg(case when is_converted then 1.0 else 0.0 end) as converted_session_share,
        avg(case when device_type = 'mobile' then 1.0 else 0.0 end) as mobile_share,
        avg(case when start_day_part = 'evening' then 1.0 else 0.0 end) as evening_share
    from sessions
    group by customer_id
),
customers as (
    select cu.customer_id, cu.created_at
    from {c.customers_table} as cu
    left join order_stats as os on os.customer_id = cu.customer_id
    left join session_stats as ss on ss.customer_id = cu.customer_id
    where cu.created_at < $cutoff
        or os.customer_id is not null
        or ss.customer_id is not null
)
select
    cu.customer_id,
    date_diff('second', os.last_order_at, $cutoff) / 86400.0 as recency_days,
    date_diff('second', ss.last_session_at, $cutoff) / 86400.0 as days_since_last_session,
    date_diff('second', least(
        coalesce(case when cu.created_at < $cutoff then cu.created_at end, $cutoff),
        coalesce(os.first_order_at, $cutoff),
        coalesce(ss.first_session_at, $cutoff)), $cutoff) / 86400.0 as tenure_days,
    coalesce(os.orders_total, 0) as orders_total,
    coalesce(os.orders_7d, 0) as orders_7d,
    coalesce(os.orders_14d, 0) as orders_14d,
    coalesce(os.orders_30d, 0) as orders_30d,
    coalesce(os.revenue_total, 0) as revenue_total,
    coalesce(os.revenue_30d, 0) as revenue_30d,
    os.revenue_total / os.orders_total as average_order_value,
    os.discount_share,
    coalesce(ss.sessions_total, 0) as sessions_total,
    coalesce(ss.sessions_7d, 0) as sessions_7d,
    coalesce(ss.sessions_14d, 0) as sessions_14d,
    coalesce(ss.product_views_7d, 0) as product_views_7d,
    coalesce(ss.cart_adds_7d, 0) as cart_adds_7d,
    ss.page_views_per_session,
    ss.converted_session_share,
    ss.mobile_share,
    ss.evening_share
from customers as cu
left join order_stats as os on os.customer_id = cu.customer_id
left join session_stats as ss on ss.customer_id = cu.customer_id
order by cu.customer_id
"""


def label_sql(config: PropensityConfig | None = None) -> str:
    """Customers with an order in ``[$cutoff, $label_end)`` (placed, not a credit note;
    cancelled orders do not count)."""
    c = config or PropensityConfig()
    return f"""
select distinct customer_id
from {c.orders_table}
where customer_id is not null
    and ordered_at >= $cutoff
    and ordered_at < $label_end
    and coalesce(merchandise_amount, total, 0) > 0
    and status <> 'cancelled'
"""


def cutoff_of(day: dt.date) -> dt.datetime:
    """The cutoff for a logical day: the first instant after it."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def features_at(con, cutoff: dt.datetime, config: PropensityConfig | None = None) -> pd.DataFrame:
    """Point-in-time features of every customer known at ``cutoff``."""
    df = con.execute(feature_sql(config), {"cutoff": cutoff}).df()
    for col in FEATURE_COLUMNS:
        df[col] = df[col].astype(float)
    return df


def labels_at(
    con, cutoff: dt.datetime, horizon_days: int, config: PropensityConfig | None = None
) -> set[str]:
    """The customers who bought in the ``horizon_days`` after ``cutoff``."""
    end = cutoff + dt.timedelta(days=horizon_days)
    rows = con.execute(label_sql(config), {"cutoff": cutoff, "label_end": end}).fetchall()
    return {r[0] for r in rows}


def labelled_frame(con, cutoff: dt.datetime, task: str, config: PropensityConfig) -> pd.DataFrame:
    """Features at ``cutoff`` with the task's population and label ``y``."""
    feats = features_at(con, cutoff, config)
    buyers = labels_at(con, cutoff, config.horizon_days, config)
    bought = feats["customer_id"].isin(buyers).to_numpy()
    feats = feats.assign(cutoff=cutoff)
    if task == "purchase":
        return feats.assign(y=bought.astype(int))
    if task == "churn":
        keep = feats["orders_total"].to_numpy() > 0
        return feats.loc[keep].assign(y=(~bought[keep]).astype(int)).reset_index(drop=True)
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def data_bounds(con, config: PropensityConfig) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and last instant of order and session data."""
    row = con.execute(
        f"""
        select min(t0), max(t1) from (
            select min(ordered_at) as t0, max(ordered_at) as t1 from {config.orders_table}
            union all
            select min(started_at), max(started_at) from {config.sessions_table}
        )
        """
    ).fetchall()[0]
    return row[0], row[1]


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


# --------------------------------------------------------------------------- models


def _log1p_nonneg(X: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(X, 0, None))


def make_logreg(random_state: int = 0) -> Any:
    """Logistic regression on log counts; missing values (no order yet) are imputed with
    the median and flagged."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(_log1p_nonneg),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000, random_state=random_state),
    )


def make_gbm(random_state: int = 0, max_iter: int = 200) -> Any:
    """Histogram gradient boosting (handles missing values natively)."""
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=max_iter,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


class RecencyBaseline(ClassifierMixin, BaseEstimator):
    """One-feature logistic regression on recency (days since the last order; never
    bought = longer than anyone). The reference every model must beat."""

    def __init__(self, column: int = 0):
        self.column = column

    def fit(self, X: np.ndarray, y: np.ndarray) -> RecencyBaseline:
        r = np.asarray(X, dtype=float)[:, self.column]
        self.fill_ = float(np.nanmax(r)) + 1.0 if np.isfinite(r).any() else 0.0
        self.model_ = LogisticRegression().fit(self._x(X), y)
        self.classes_ = self.model_.classes_
        return self

    def _x(self, X: np.ndarray) -> np.ndarray:
        r = np.asarray(X, dtype=float)[:, self.column]
        return np.log1p(np.nan_to_num(r, nan=self.fill_)).reshape(-1, 1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(self._x(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(self._x(X))


CANDIDATES = ("logreg", "gbm")


def fit_calibrated(
    estimator: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, folds: int = 3
) -> CalibratedClassifierCV:
    """Fit ``estimator`` and calibrate its probabilities by cross-validation on the
    training rows, folds grouped by customer (a customer who appears at several cutoffs
    never sits on both sides of a fold). Isotonic when both classes have at least 500
    rows, sigmoid (Platt) otherwise."""
    n_groups = len(np.unique(groups))
    folds = max(2, min(folds, n_groups))
    method = "isotonic" if min(int(y.sum()), int(len(y) - y.sum())) >= 500 else "sigmoid"
    cv = list(GroupKFold(n_splits=folds).split(X, y, groups))
    return CalibratedClassifierCV(clone(estimator), method=method, cv=cv).fit(X, y)


# --------------------------------------------------------------------------- metrics


def deciles(scores: np.ndarray) -> np.ndarray:
    """Decile 1..10 by score, 1 = the highest-scoring tenth (ties broken by position)."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if n == 0:
        return np.zeros(0, dtype=int)
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    return (rank * 10 // n + 1).astype(int)


def lift_table(y: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """Per decile (1 = highest scores): customers, positives, rate, lift over the base
    rate and the cumulative share of all positives captured."""
    y = np.asarray(y, dtype=float)
    d = deciles(scores)
    base = y.mean() if len(y) else 0.0
    total = y.sum()
    out, captured = [], 0.0
    for k in range(1, 11):
        m = d == k
        pos = float(y[m].sum())
        captured += pos
        rate = pos / m.sum() if m.sum() else 0.0
        out.append(
            {
                "decile": k,
                "customers": int(m.sum()),
                "positives": int(pos),
                "rate": rate,
                "lift": rate / base if base else 0.0,
                "cumulative_capture": captured / total if total else 0.0,
            }
        )
    return out


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(err)


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, PR-AUC (average precision), Brier score, calibration error, base rate, lift."""
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < len(y)
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "ece": calibration_error(y, p),
        "base_rate": float(y.mean()),
        "rows": int(len(y)),
        "mean_score": float(np.mean(p)),
        "lift": lift_table(y, p),
        "top_decile_lift": lift_table(y, p)[0]["lift"],
    }


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
        return _train_task(con, day, task, config)


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
    train = pd.concat(
        [labelled_frame(con, c, task, config) for c in split.train], ignore_index=True
    )
    valid = labelled_frame(con, split.validation, task, config)
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
    for name in CANDIDATES:
        model = fit_calibrated(
            make_model(name, config), Xt, yt, groups, folds=config.calibration_folds
        )
        candidates[name] = evaluate(yv, model.predict_proba(Xv)[:, 1])
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
    current = features_at(con, split.score, config)
    if task == "churn":
        current = current.loc[current["orders_total"] > 0].reset_index(drop=True)
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
        algorithm=best,
        scores=scores,
        candidates=candidates,
        split=split,
        rows=rows,
        data_start=first,
        features=cols,
    )


def make_model(name: str, config: PropensityConfig | None = None) -> Any:
    """A fresh, unfitted candidate by name."""
    config = config or PropensityConfig()
    if name == "logreg":
        return make_logreg(config.random_state)
    if name == "gbm":
        return make_gbm(config.random_state, config.gbm_max_iter)
    raise ValueError(f"unknown model {name!r}; choose from {CANDIDATES}")


# --------------------------------------------------------------------------- tables

PROPENSITY_SCORES_DDL = """
create table if not exists ml.propensity_scores (
    customer_id varchar not null,
    model varchar not null,          -- churn | purchase
    score double not null,           -- calibrated probability, 0..1
    decile integer not null,         -- 1 = the highest-scoring tenth of the customers scored
    algorithm varchar not null,      -- the chosen learner: logreg | gbm
    horizon_days integer not null,   -- the N of "in the next N days"
    run_id varchar not null,
    run_date date not null
)
"""


def ensure_tables(con) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(PROPENSITY_SCORES_DDL)


def write_results(
    con,
    day: dt.date,
    results: Sequence[TaskResult],
    *,
    started_at: dt.datetime,
    config: PropensityConfig,
) -> None:
    """Replace the day's scores and model-run rows of every task in one transaction."""
    ensure_tables(con)
    finished = utcnow()
    con.execute("begin transaction")
    try:
        if config.retention_days is not None:
            con.execute(
                "delete from ml.propensity_scores where run_date < ?",
                [day - dt.timedelta(days=config.retention_days)],
            )
        for res in results:
            rid = run_id(res.task, day)
            con.execute(
                "delete from ml.propensity_scores where model = ? and run_date = ?", [res.task, day]
            )
            con.execute("delete from ml.model_runs where run_id = ?", [rid])
            window: dict[str, Any] = {"horizon_days": config.horizon_days, "rows": res.rows}
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
                record_model_run(
                    con, model="propensity", status="skipped", message=res.message, **common
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
                params = _params(name, config) | (
                    {"features": res.features} if name != "recency_baseline" else {}
                )
                record_model_run(
                    con, model=name, status=status, params=params, metrics=metrics, **common
                )
            s = res.scores.assign(
                model=res.task,
                algorithm=res.algorithm,
                horizon_days=config.horizon_days,
                run_id=rid,
                run_date=day,
            )
            con.register("_scores", s)
            con.execute(
                "insert into ml.propensity_scores select customer_id, model, score, decile, "
                "algorithm, horizon_days, run_id, run_date from _scores"
            )
            con.unregister("_scores")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


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


def run(ctx: Any, config: PropensityConfig | None = None) -> dict[str, Any]:
    """Pipeline stage: train, evaluate and score churn and purchase propensity as of
    ``ctx.day``; write ``ml.propensity_scores`` and ``ml.model_runs``."""
    from tailor.warehouse import connect

    config = config or PropensityConfig()
    started = utcnow()
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        results = [train_task(con, ctx.day, task, config) for task in TASKS]
        write_results(con, ctx.day, results, started_at=started, config=config)
    finally:
        con.close()
    out: dict[str, Any] = {}
    for r in results:
        if r.status != "chosen":
            out[r.task] = {"status": r.status, "message": r.message}
            continue
        m = r.candidates[r.algorithm]
        out[r.task] = {
            "status": r.status,
            "algorithm": r.algorithm,
            "auc": round(m["auc"], 4),
            "pr_auc": round(m["pr_auc"], 4),
            "brier": round(m["brier"], 4),
            "recency_baseline_auc": round(r.candidates["recency_baseline"]["auc"], 4),
            "scored": r.rows.get("scored", 0),
        }
    return out
