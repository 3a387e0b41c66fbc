"""What segmentation clusters on: feature roles, column choice and preprocessing.

Roles name what a column means to the naming rules and the imputation (``frequency``,
``recency``, ``mobile_share``...); ``FeaturePreprocessor`` turns the chosen columns into
the scaled space K-Means works in, and back to original units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

# Feature roles: what the naming rules and imputation need to know about a column. The
# first candidate present in the feature table is used.
ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "frequency": ("frequency", "order_count", "purchase_count", "orders"),
    "monetary": ("monetary", "gross_revenue", "net_revenue", "revenue"),
    "aov": ("aov", "average_order_value"),
    "recency": ("recency_days", "days_since_last_purchase", "days_since_last_order"),
    "tenure": ("tenure_days", "days_since_signup", "customer_age_days", "days_since_first_seen"),
    "sessions": ("sessions", "session_count"),
    "views_per_session": (
        "product_views_per_session",
        "page_views_per_session",
        "views_per_session",
    ),
    "cart_adds": ("cart_adds", "cart_add_count"),
    "cart_rate": ("view_to_cart_rate",),
    "cart_abandonment": ("cart_abandonment_count", "abandoned_carts"),
    "discount_share": ("discount_share", "discounted_order_share"),
    "mobile_share": ("mobile_share", "mobile_session_share"),
    "evening_share": ("evening_share", "evening_session_share", "evening_event_share"),
}

# Roles used for clustering by default: value (RFM), engagement, price sensitivity and
# channel. Raw counts that only restate others (page views vs. product views) are left out
# so that one aspect of behaviour does not outweigh the rest.
DEFAULT_ROLES: tuple[str, ...] = (
    "frequency",
    "monetary",
    "aov",
    "recency",
    "tenure",
    "sessions",
    "views_per_session",
    "cart_rate",
    "discount_share",
    "mobile_share",
    "evening_share",
)

# How missing values are filled, by role: a customer who never bought has no recency and
# no AOV; "long ago" and "nothing" describe them, a median would not.
ROLE_FILL: dict[str, str | float] = {
    "recency": "max",
    "aov": 0.0,
    "monetary": 0.0,
    "frequency": 0.0,
    "discount_share": 0.0,
}

ID_COLUMN = "customer_id"


def resolve_roles(columns: Sequence[str]) -> dict[str, str]:
    """Map each role to the first of its candidate columns that is present."""
    present = set(columns)
    out = {}
    for role, candidates in ROLE_COLUMNS.items():
        for c in candidates:
            if c in present:
                out[role] = c
                break
    return out


def select_features(
    frame: pd.DataFrame, roles: Sequence[str] = DEFAULT_ROLES
) -> tuple[list[str], dict[str, str]]:
    """The columns to cluster on and the role map. Columns that do not vary are left out
    (a source without web events has no sessions or devices). Falls back to every numeric
    column (ids, flags and dates excluded) when fewer than three roles are found."""
    varying = {c for c in frame.columns if frame[c].nunique(dropna=True) > 1}
    role_map = {r: c for r, c in resolve_roles(list(frame.columns)).items() if c in varying}
    cols = [role_map[r] for r in roles if r in role_map]
    if len(cols) < 3:
        cols = [
            c
            for c in frame.columns
            if c != ID_COLUMN
            and c in varying
            and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])
        ]
    return cols, role_map


# --------------------------------------------------------------------------- preprocessing


class FeaturePreprocessor(TransformerMixin, BaseEstimator):
    """log1p for skewed non-negative columns, imputation, standard scaling, clipping.

    Parameters
    ----------
    log_columns : "auto" or list of str
        Columns to log1p. "auto": non-negative columns whose values exceed 1 (so not
        shares) and whose skewness is above ``skew_threshold``.
    skew_threshold : float
    fill_values : mapping of column -> number or "median" | "max" | "min"
        How to fill missing values; other columns use the median.
    clip : float or None
        Scaled values are clipped to [-clip, clip] so that a few extreme customers do not
        pull a centroid of their own.
    """

    def __init__(
        self,
        log_columns: str | Sequence[str] = "auto",
        skew_threshold: float = 1.0,
        fill_values: Mapping[str, str | float] | None = None,
        clip: float | None = 5.0,
    ):
        self.log_columns = log_columns
        self.skew_threshold = skew_threshold
        self.fill_values = fill_values
        self.clip = clip

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeaturePreprocessor:
        X = _as_frame(X).astype(float)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        fill_spec = dict(self.fill_values or {})
        fills = {}
        for c in X.columns:
            col = X[c]
            spec = fill_spec.get(c, "median")
            if isinstance(spec, str):
                value = {"median": col.median(), "max": col.max(), "min": col.min()}[spec]
            else:
                value = float(spec)
            fills[c] = 0.0 if value is None or pd.isna(value) else float(value)
        self.fill_values_ = fills
        filled = X.fillna(fills)
        self.data_min_ = filled.min().to_numpy()
        self.data_max_ = filled.max().to_numpy()
        if self.log_columns == "auto":
            logs = []
            for c in filled.columns:
                col = filled[c]
                if col.min() >= 0 and col.max() > 1 and col.skew() > self.skew_threshold:
                    logs.append(c)
        else:
            logs = [c for c in self.log_columns if c in filled.columns]
        self.log_columns_ = logs
        logged = self._log(filled)
        self.mean_ = logged.mean().to_numpy()
        scale = logged.std(ddof=0).to_numpy()
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        return self

    def _log(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for c in self.log_columns_:
            out[c] = np.log1p(out[c].clip(lower=0))
        return out

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        X = _as_frame(X, self.feature_names_in_).astype(float)
        Z = (self._log(X.fillna(self.fill_values_)).to_numpy() - self.mean_) / self.scale_
        if self.clip is not None:
            Z = np.clip(Z, -self.clip, self.clip)
        return Z

    def inverse_transform(self, Z: np.ndarray) -> pd.DataFrame:
        """Back to original units (log columns through expm1), within the range seen in
        ``fit``."""
        Z = np.atleast_2d(np.asarray(Z, dtype=float))
        out = pd.DataFrame(Z * self.scale_ + self.mean_, columns=list(self.feature_names_in_))
        for c in self.log_columns_:
            out[c] = np.expm1(out[c])
        return out.clip(lower=self.data_min_, upper=self.data_max_, axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.feature_names_in_, dtype=object)


def _as_frame(X: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X[list(columns)] if columns is not None else X
    arr = np.asarray(X, dtype=float)
    names = list(columns) if columns is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=names)
