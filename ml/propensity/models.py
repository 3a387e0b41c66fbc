"""The candidate classifiers, the recency baseline, and their calibration."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ml.propensity.config import PropensityConfig

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


def make_model(name: str, config: PropensityConfig | None = None) -> Any:
    """A fresh, unfitted candidate by name."""
    config = config or PropensityConfig()
    if name == "logreg":
        return make_logreg(config.random_state)
    if name == "gbm":
        return make_gbm(config.random_state, config.gbm_max_iter)
    raise ValueError(f"unknown model {name!r}; choose from {CANDIDATES}")
