"""Customer segmentation: K-Means on behavioural features, with stable, named segments.

The nightly job (``run``) reads ``marts.customer_features``, preprocesses it (log of skewed
counts and money, imputation, scaling), chooses k by silhouette (Davies–Bouldin as the
second check), compares K-Means with a Gaussian mixture and DBSCAN in ``ml.model_runs``,
names each segment from its centroid in original units, and keeps segment ids stable from
one run to the next by matching centroids to the previous run's (Hungarian matching on
centroid distance). It writes

* ``ml.customer_segments``: one row per customer and run;
* ``ml.segment_profiles``: one row per segment and run (size, centroid, description);
* ``ml.segment_transitions``: how many customers moved from which segment to which;
* ``ml.model_runs``: the chosen model, the alternatives and the k selection.

Every run replaces its own day's rows in one transaction, so reruns are idempotent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import DBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from ml.compute import limited_threads
from ml.runs import record_model_run, run_id, to_json, utcnow

TASK = "segmentation"

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


# --------------------------------------------------------------------------- choosing k


def score_k_range(
    Z: np.ndarray,
    k_range: tuple[int, int] = (2, 10),
    *,
    n_init: int = 10,
    silhouette_sample: int | None = 5000,
    random_state: int = 0,
) -> tuple[pd.DataFrame, dict[int, KMeans]]:
    """Fit K-Means for every k in ``k_range`` (inclusive) and score each fit.

    Silhouette is computed on one fixed random sample of at most ``silhouette_sample``
    rows (it is quadratic in N); Davies–Bouldin and inertia on all rows.
    """
    n = len(Z)
    lo, hi = k_range
    hi = min(hi, n - 1)
    rng = np.random.default_rng(random_state)
    sample = None
    if silhouette_sample is not None and n > silhouette_sample:
        sample = np.sort(rng.choice(n, size=silhouette_sample, replace=False))
    rows, fits = [], {}
    for k in range(max(2, lo), hi + 1):
        km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=random_state)
        labels = km.fit_predict(Z)
        if len(np.unique(labels)) < 2:
            continue
        zs, ls = (Z, labels) if sample is None else (Z[sample], labels[sample])
        sil = silhouette_score(zs, ls) if len(np.unique(ls)) > 1 else float("nan")
        rows.append(
            {
                "k": k,
                "silhouette": float(sil),
                "davies_bouldin": float(davies_bouldin_score(Z, labels)),
                "inertia": float(km.inertia_),
                "min_cluster_share": float(np.bincount(labels).min() / n),
            }
        )
        fits[k] = km
    return pd.DataFrame(rows), fits


def choose_k(
    scores: pd.DataFrame, *, tolerance: float = 0.02, preferred_k: int | None = None
) -> tuple[int, str]:
    """Pick k by silhouette, with Davies–Bouldin as the second check.

    A k passes the check when its Davies–Bouldin index is no worse than the median over
    the range (a high silhouette with a poor DB index usually means one far-away group
    and a blur of the rest). The k with the best silhouette among those that pass wins.
    If the previous run's k (``preferred_k``) passes and its silhouette is within
    ``tolerance`` of the winner's, it is kept, so that segments do not split and merge
    from one night to the next on noise.
    """
    if scores.empty:
        raise ValueError("no k could be scored")
    ok = scores[scores["davies_bouldin"] <= scores["davies_bouldin"].median()]
    if ok.empty:
        ok = scores
    pick = ok.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
    k, sil = int(pick["k"]), float(pick["silhouette"])
    best_k = int(scores.loc[scores["silhouette"].idxmax(), "k"])
    if preferred_k is not None and preferred_k != k and preferred_k in set(ok["k"]):
        prev_sil = float(ok.loc[ok["k"] == preferred_k, "silhouette"].iloc[0])
        if prev_sil >= sil - tolerance:
            return int(preferred_k), (
                f"previous run's k={preferred_k}: silhouette {prev_sil:.3f} within {tolerance} "
                f"of the best ({sil:.3f} at k={k}), Davies-Bouldin passes"
            )
    if k == best_k:
        return k, f"best silhouette ({sil:.3f}); Davies-Bouldin {pick['davies_bouldin']:.3f} passes"
    return k, (
        f"best silhouette ({sil:.3f}) among the k whose Davies-Bouldin passes; k={best_k} "
        f"scored higher but its Davies-Bouldin is worse than the median"
    )


# --------------------------------------------------------------------------- the estimator


class CustomerSegmenter(ClusterMixin, BaseEstimator):
    """Preprocessing + K-Means with k chosen over a range.

    Parameters
    ----------
    k_range : (int, int)
        Smallest and largest k tried (inclusive).
    n_init : int
        K-Means restarts (k-means++ seeding) per k.
    silhouette_sample : int or None
        Rows used for the silhouette score when N is larger.
    tolerance : float
        How much lower a silhouette ``preferred_k`` may have and still be kept.
    preferred_k : int or None
        k to keep when it scores within ``tolerance`` of the best (the previous run's).
    preprocessor : transformer or None
        Defaults to ``FeaturePreprocessor()``.
    init_centroids : DataFrame or None
        The previous run's centroids in original units. When k equals their number,
        K-Means is also started from them, and that solution is kept if its inertia is
        within ``stickiness`` (relative) of the best k-means++ restart: two nearly equally
        good partitions should not swap from one night to the next.
    stickiness : float
    fit_sample : int or None
        With more rows than this, k is chosen on a random sample of this size and the
        chosen solution is then refined on all rows (K-Means over every k and restart on
        millions of customers does not fit a nightly window).
    random_state : int

    Attributes
    ----------
    preprocessor_, kmeans_, k_, k_reason_, selection_ (one row per k tried),
    warm_started_ (the kept solution started from ``init_centroids``), labels_,
    cluster_centers_ (scaled space), centroids_ (original units, one row per cluster),
    feature_names_in_.
    """

    def __init__(
        self,
        k_range: tuple[int, int] = (2, 10),
        n_init: int = 10,
        silhouette_sample: int | None = 5000,
        tolerance: float = 0.02,
        preferred_k: int | None = None,
        preprocessor: TransformerMixin | None = None,
        init_centroids: pd.DataFrame | None = None,
        stickiness: float = 0.01,
        fit_sample: int | None = 100_000,
        random_state: int = 0,
    ):
        self.k_range = k_range
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.tolerance = tolerance
        self.preferred_k = preferred_k
        self.preprocessor = preprocessor
        self.init_centroids = init_centroids
        self.stickiness = stickiness
        self.fit_sample = fit_sample
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> CustomerSegmenter:
        X = _as_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.preprocessor_ = clone(self.preprocessor or FeaturePreprocessor()).fit(X)
        Z = self.preprocessor_.transform(X)
        Zk = Z
        if self.fit_sample is not None and len(Z) > self.fit_sample:
            rng = np.random.default_rng(self.random_state)
            Zk = Z[np.sort(rng.choice(len(Z), size=self.fit_sample, replace=False))]
        with limited_threads():
            self.selection_, fits = score_k_range(
                Zk,
                self.k_range,
                n_init=self.n_init,
                silhouette_sample=self.silhouette_sample,
                random_state=self.random_state,
            )
        self.k_, self.k_reason_ = choose_k(
            self.selection_, tolerance=self.tolerance, preferred_k=self.preferred_k
        )
        self.kmeans_ = fits[self.k_]
        if Zk is not Z:  # refine the sample's solution on every row
            with limited_threads():
                self.kmeans_ = KMeans(
                    n_clusters=self.k_, init=self.kmeans_.cluster_centers_, n_init=1
                ).fit(Z)
        self.warm_started_ = False
        init = self.init_centroids
        if init is not None and len(init) == self.k_ and set(X.columns) <= set(init.columns):
            start = self.preprocessor_.transform(init[list(X.columns)].astype(float))
            with limited_threads():
                warm = KMeans(n_clusters=self.k_, init=start, n_init=1).fit(Z)
            if warm.inertia_ <= self.kmeans_.inertia_ * (1 + self.stickiness):
                self.kmeans_ = warm
                self.warm_started_ = True
        self.labels_ = self.kmeans_.labels_
        self.cluster_centers_ = self.kmeans_.cluster_centers_
        self.centroids_ = self.preprocessor_.inverse_transform(self.cluster_centers_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Distances to every cluster centre (scaled space)."""
        return self.kmeans_.transform(
            self.preprocessor_.transform(_as_frame(X, self.feature_names_in_))
        )

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.kmeans_.predict(
            self.preprocessor_.transform(_as_frame(X, self.feature_names_in_))
        )


# --------------------------------------------------------------------------- alternatives


def compare_alternatives(
    Z: np.ndarray,
    kmeans_labels: np.ndarray,
    k: int,
    *,
    sample: int = 5000,
    random_state: int = 0,
) -> list[dict[str, Any]]:
    """Fit a Gaussian mixture (k components) and DBSCAN on the same scaled data and score
    them like K-Means: silhouette and Davies–Bouldin (on a sample), cluster count, and
    agreement with K-Means (adjusted Rand index). DBSCAN's eps is the 90th percentile of
    the distance to the ``min_samples``-th neighbour; noise points are left out of the
    silhouette and counted as a share."""
    rng = np.random.default_rng(random_state)
    idx = np.arange(len(Z))
    if len(Z) > sample:
        idx = np.sort(rng.choice(len(Z), size=sample, replace=False))
    Zs, km_s = Z[idx], kmeans_labels[idx]
    out: list[dict[str, Any]] = [
        {
            "model": "kmeans",
            "params": {"n_clusters": k},
            "metrics": _cluster_scores(Zs, km_s) | {"ari_vs_kmeans": 1.0},
            "labels": kmeans_labels,
        }
    ]

    fit_rows = Z
    if len(Z) > 20 * sample:  # fitted on a sample, applied to every row
        fit_rows = Z[np.sort(rng.choice(len(Z), size=20 * sample, replace=False))]
    gmm = GaussianMixture(
        n_components=k, covariance_type="full", n_init=2, random_state=random_state, reg_covar=1e-4
    ).fit(fit_rows)
    g_labels = gmm.predict(Z)
    out.append(
        {
            "model": "gmm",
            "params": {"n_components": k, "covariance_type": "full", "n_init": 2},
            "metrics": _cluster_scores(Zs, g_labels[idx])
            | {
                "bic": float(gmm.bic(fit_rows)),
                "ari_vs_kmeans": float(adjusted_rand_score(kmeans_labels, g_labels)),
            },
            "labels": g_labels,
        }
    )

    min_samples = max(5, 2 * Z.shape[1])
    nn = NearestNeighbors(n_neighbors=min(min_samples, len(Zs) - 1)).fit(Zs)
    k_distance = nn.kneighbors(Zs)[0][:, -1]
    eps = float(np.quantile(k_distance, 0.9))
    if eps <= 0:
        # most customers have min_samples identical twins (a store with a day or two of
        # history, such as the REES46 sample): DBSCAN needs eps > 0
        positive = k_distance[k_distance > 0]
        eps = float(positive.min()) if len(positive) else 1e-6
    d_labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(Zs)
    core = d_labels >= 0
    m = _cluster_scores(Zs[core], d_labels[core]) if core.sum() > 2 else {}
    m |= {
        "noise_share": float(1 - core.mean()),
        "n_clusters": int(len(set(d_labels[core]))),
        "ari_vs_kmeans": float(adjusted_rand_score(km_s, d_labels)),
        "rows": int(len(Zs)),
    }
    out.append(
        {
            "model": "dbscan",
            "params": {"eps": eps, "min_samples": min_samples, "eps_rule": "p90 k-distance"},
            "metrics": m,
            "labels": None,
            "sample_index": idx,
            "sample_labels": d_labels,
        }
    )
    return out


def _cluster_scores(Z: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    n_clusters = len(np.unique(labels))
    if n_clusters < 2 or n_clusters >= len(Z):
        return {
            "n_clusters": int(n_clusters),
            "silhouette": float("nan"),
            "davies_bouldin": float("nan"),
        }
    return {
        "n_clusters": int(n_clusters),
        "silhouette": float(silhouette_score(Z, labels)),
        "davies_bouldin": float(davies_bouldin_score(Z, labels)),
    }


# --------------------------------------------------------------------------- names


def _fmt(x: float, money: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if money:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}"


ROLE_LABELS: dict[str, str] = {
    "frequency": "order count",
    "monetary": "spend",
    "aov": "order value",
    "recency": "days since the last order",
    "tenure": "tenure",
    "sessions": "sessions",
    "views_per_session": "page views per session",
    "cart_adds": "cart adds",
    "cart_rate": "view-to-cart rate",
    "cart_abandonment": "abandoned carts",
    "discount_share": "discount use",
    "mobile_share": "mobile use",
    "evening_share": "evening activity",
}


def feature_label(column: str, roles: Mapping[str, str]) -> str:
    """A reader's name for a feature column."""
    for role, col in roles.items():
        if col == column and role in ROLE_LABELS:
            return ROLE_LABELS[role]
    return column.replace("_", " ")


def describe_segment(
    centroid: pd.Series,
    z: pd.Series,
    roles: Mapping[str, str],
    size: int,
    total: int,
    currency: str = "",
) -> tuple[str, str]:
    """A short name and a one-paragraph description for one segment.

    ``centroid`` is the centre in original units, ``z`` the same centre in standard units
    (how far from the average customer, in standard deviations, after the log transform).
    The name comes from a small set of rules over the roles (buyers or not, recency,
    tenure, value, frequency, discount use); one trait (mobile, evening, desktop) is added
    where the segment stands out on it.
    """

    def val(role: str) -> float | None:
        c = roles.get(role)
        return float(centroid[c]) if c is not None and c in centroid.index else None

    def zv(role: str) -> float:
        c = roles.get(role)
        return float(z[c]) if c is not None and c in z.index else 0.0

    freq = val("frequency")
    buyers = freq is None or freq >= 0.5
    if not buyers:
        if zv("tenure") < -0.75:
            base = "New browsers"
        elif zv("views_per_session") > 0.4 or zv("sessions") > 0.4 or zv("cart_adds") > 0.4:
            base = "Window shoppers"
        elif "sessions" in roles:
            base = "Occasional visitors"
        else:  # no web data: all we know is that they have not bought (or returned it all)
            base = "Non-buying customers"
    elif zv("recency") > 0.75:
        base = "Lapsing buyers" if zv("monetary") < 0.75 else "High-value lapsing"
    elif zv("tenure") < -0.75:
        base = "New customers"
    elif freq is not None and freq < 1.6 and zv("frequency") < 0.25:
        base = "One-time buyers"
    elif zv("monetary") > 0.5 and zv("aov") > 0.25 and zv("discount_share") < 0.5:
        base = "High-value loyal"
    elif zv("discount_share") > 0.5:
        base = "Discount-driven buyers"
    elif zv("frequency") > 0.5:
        base = "Frequent buyers"
    else:
        base = "Regular buyers"

    traits = []
    if zv("mobile_share") > 0.75:
        traits.append("mobile")
    elif zv("mobile_share") < -0.75:
        traits.append("desktop")
    if zv("evening_share") > 0.75:
        traits.append("evening")
    name = base + (f" ({', '.join(traits)})" if traits else "")

    share = size / total if total else 0.0
    money = f" {currency}" if currency else ""
    parts = [f"{size:,} customers ({share:.0%})."]
    facts = []
    if freq is not None:
        facts.append(f"{_fmt(freq)} orders")
    if val("monetary") is not None:
        facts.append(f"{_fmt(val('monetary'), True)}{money} spent")
    if val("aov") is not None and buyers:
        facts.append(f"average order {_fmt(val('aov'), True)}{money}")
    if val("recency") is not None and buyers:
        facts.append(f"last order {_fmt(val('recency'))} days ago")
    if val("tenure") is not None:
        facts.append(f"customer for {_fmt(val('tenure'))} days")
    if val("sessions") is not None:
        facts.append(f"{_fmt(val('sessions'))} sessions")
    if val("views_per_session") is not None:
        facts.append(f"{_fmt(val('views_per_session'))} views per session")
    if val("discount_share") is not None and buyers:
        facts.append(f"{val('discount_share'):.0%} of orders discounted")
    if val("mobile_share") is not None:
        facts.append(f"{val('mobile_share'):.0%} mobile")
    if val("evening_share") is not None:
        facts.append(f"{val('evening_share'):.0%} in the evening")
    if facts:
        parts.append("Typical customer: " + ", ".join(facts) + ".")
    standout = z.abs().sort_values(ascending=False).head(3)
    notes = [
        f"{'higher' if z[c] > 0 else 'lower'} {feature_label(c, roles)} ({z[c]:+.1f} sd)"
        for c in standout.index
        if abs(z[c]) >= 0.5
    ]
    if notes:
        parts.append("Compared with the average customer: " + "; ".join(notes) + ".")
    return name, " ".join(parts)


def unique_names(
    names: Sequence[str], z: pd.DataFrame, roles: Mapping[str, str] | None = None
) -> list[str]:
    """Make names unique: a repeated name gets the feature its segment stands out on most
    (among the repeats); anything still repeated gets a number."""
    out = list(names)
    for name in set(names):
        idx = [i for i, n in enumerate(names) if n == name]
        if len(idx) < 2:
            continue
        sub = z.iloc[idx]
        dev = sub - sub.mean()
        for i, row in zip(idx, dev.itertuples(index=False), strict=True):
            s = pd.Series(row, index=z.columns)
            c = s.abs().idxmax()
            out[i] = f"{name}, {'higher' if s[c] > 0 else 'lower'} {feature_label(c, roles or {})}"
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            out[i] = f"{n} #{seen[n]}"
    return out


# --------------------------------------------------------------------------- stable ids


def match_to_previous(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    preprocessor: FeaturePreprocessor,
    *,
    max_distance: float = 1.5,
) -> dict[int, int]:
    """Match this run's clusters to the previous run's segments.

    ``previous``: centroids in original units, indexed by segment id; ``current``:
    centroids in original units, indexed by cluster number. Both are mapped into this
    run's scaled space (so the comparison uses today's scaling), and the assignment that
    minimises the total centroid distance is found with the Hungarian algorithm. A pair
    further apart than ``max_distance`` (standard units) is not a match.

    Returns {cluster number: previous segment id} for the matched clusters.
    """
    if previous.empty or current.empty:
        return {}
    cols = [c for c in preprocessor.feature_names_in_ if c in previous.columns]
    if len(cols) < len(preprocessor.feature_names_in_):
        # a feature came or went: compare on the shared ones, filled with today's fill
        missing = [c for c in preprocessor.feature_names_in_ if c not in previous.columns]
        previous = previous.assign(**{c: np.nan for c in missing})
    if not cols:
        return {}
    names = list(preprocessor.feature_names_in_)
    P = preprocessor.transform(previous[names].astype(float))
    C = preprocessor.transform(current[names].astype(float))
    keep = [names.index(c) for c in cols]
    P, C = P[:, keep], C[:, keep]
    cost = np.sqrt(((C[:, None, :] - P[None, :, :]) ** 2).sum(axis=2))
    rows, cols_ = linear_sum_assignment(cost)
    return {
        int(current.index[r]): int(previous.index[c])
        for r, c in zip(rows, cols_, strict=True)
        if cost[r, c] <= max_distance
    }


def assign_segment_ids(
    matches: Mapping[int, int], clusters: Sequence[int], next_id: int
) -> dict[int, int]:
    """Segment id per cluster: the matched previous id, or a fresh one (``next_id``,
    ``next_id + 1``, ... in cluster order) for clusters that matched nothing."""
    out = {}
    for c in sorted(clusters):
        if c in matches:
            out[c] = matches[c]
        else:
            out[c] = next_id
            next_id += 1
    return out


def segment_moves(previous: pd.Series, current: pd.Series) -> tuple[dict[str, Any], pd.DataFrame]:
    """Compare two runs' assignments (customer_id -> segment_id).

    Returns a summary (customers in both runs, how many moved, the share, newcomers and
    leavers) and the transition counts (from_segment_id, to_segment_id, customers), where
    a newcomer comes from null and a leaver goes to null.
    """
    prev = previous.rename("from_segment_id")
    cur = current.rename("to_segment_id")
    both = pd.concat([prev, cur], axis=1, join="outer")
    stayed_in = both.dropna()
    moved = int((stayed_in["from_segment_id"] != stayed_in["to_segment_id"]).sum())
    summary = {
        "customers_in_both_runs": int(len(stayed_in)),
        "moved": moved,
        "moved_share": float(moved / len(stayed_in)) if len(stayed_in) else 0.0,
        "new_customers": int(both["from_segment_id"].isna().sum()),
        "gone_customers": int(both["to_segment_id"].isna().sum()),
    }
    trans = (
        both.assign(customers=1)
        .groupby(["from_segment_id", "to_segment_id"], dropna=False)["customers"]
        .sum()
        .reset_index()
    )
    for c in ("from_segment_id", "to_segment_id"):
        trans[c] = trans[c].astype("Int64")
    return summary, trans


# --------------------------------------------------------------------------- tables

CUSTOMER_SEGMENTS_DDL = """
create table if not exists ml.customer_segments (
    customer_id varchar not null,
    segment_id integer not null,     -- stable across runs (see ml.segment_profiles)
    segment_name varchar not null,
    distance double not null,        -- distance to the segment centroid, standardized units
    run_id varchar not null,
    run_date date not null
)
"""

SEGMENT_PROFILES_DDL = """
create table if not exists ml.segment_profiles (
    segment_id integer not null,
    segment_name varchar not null,
    size bigint not null,            -- customers in the segment
    share double not null,           -- of all segmented customers
    centroid json not null,          -- {feature: value} in original units (orders, money, days, shares)
    top_categories json,             -- [{"category": ..., "share": ...}] by favourite category
    description varchar not null,
    is_new boolean not null,         -- the segment did not match any segment of the previous run
    previous_run_id varchar,         -- the run it was matched against
    run_id varchar not null,
    run_date date not null
)
"""

SEGMENT_TRANSITIONS_DDL = """
create table if not exists ml.segment_transitions (
    from_segment_id integer,         -- null: the customer was not segmented in the previous run
    to_segment_id integer,           -- null: the customer is no longer segmented
    customers bigint not null,
    previous_run_id varchar,
    run_id varchar not null,
    run_date date not null
)
"""


def ensure_tables(con) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(CUSTOMER_SEGMENTS_DDL)
    con.execute(SEGMENT_PROFILES_DDL)
    con.execute(SEGMENT_TRANSITIONS_DDL)


@dataclass
class SegmentationConfig:
    # Fewer than four segments only restates the buyer / browser split that RFM already
    # gives (silhouette favours that top-level split); more than ten is not actionable.
    k_range: tuple[int, int] = (4, 10)
    n_init: int = 10
    silhouette_sample: int = 5000
    tolerance: float = 0.02
    max_match_distance: float = 1.5
    memory_days: int = 28  # segments seen this recently can get their id back
    stickiness: float = 0.01  # keep last night's partition if within 1% of the best inertia
    fit_sample: int | None = 100_000  # choose k on a sample of this many customers
    min_customers: int = 50
    roles: tuple[str, ...] = DEFAULT_ROLES
    compare_alternatives: bool = True
    random_state: int = 0
    # ml.customer_segments keeps this many days of history (None: all); profiles and
    # transitions are small and kept.
    retention_days: int | None = 35
    feature_table: str = "marts.customer_features"


@dataclass
class SegmentationResult:
    run_id: str
    run_date: dt.date
    assignments: pd.DataFrame  # customer_id, segment_id, segment_name, distance
    profiles: pd.DataFrame
    transitions: pd.DataFrame
    moves: dict[str, Any]
    model: CustomerSegmenter
    alternatives: list[dict[str, Any]]
    status: str = "chosen"


def load_features(con, config: SegmentationConfig, day: dt.date) -> pd.DataFrame:
    """The feature table, one row per customer (erased customers are not in it)."""
    # in a fixed order: the seeded K-Means and the sample that chooses k depend on it,
    # and a table built in parallel has none
    return con.execute(f"select * from {config.feature_table} order by customer_id").df()


@dataclass
class PreviousRun:
    """What a run needs to know about the runs before it."""

    run_id: str | None = None  # the latest run before this one
    k: int | None = None  # its number of segments
    # every segment seen in the memory window, by id: its latest centroid (original units)
    centroids: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict[int, str] = field(default_factory=dict)  # segment id -> name
    latest_ids: set[int] = field(default_factory=set)  # the segments of the latest run
    assignments: pd.Series = field(default_factory=lambda: pd.Series(dtype="Int64"))
    next_id: int = 1  # the next unused segment id (ids are never reused)


def load_previous(con, day: dt.date, memory_days: int = 28) -> PreviousRun:
    """The runs before ``day``: the latest one (its k and assignments, for the moves) and
    every segment seen in the ``memory_days`` before ``day`` (to match against, so that a
    segment that disappears for a night or two gets its id back when it returns)."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ml' and table_name = 'segment_profiles'"
    ).fetchall()[0][0]
    if not exists:
        return PreviousRun()
    # ids born on this day or later are not counted: a rerun of the day gives its new
    # segments the same ids again
    (max_id,) = con.execute(
        "select max(segment_id) from ml.segment_profiles where run_date < ?", [day]
    ).fetchall()[0]
    next_id = int(max_id or 0) + 1
    rows = con.execute(
        "select run_id, run_date from ml.segment_profiles where run_date < ? "
        "order by run_date desc limit 1",
        [day],
    ).fetchall()
    if not rows:
        return PreviousRun(next_id=next_id)
    prev_run, prev_day = rows[0]
    prof = con.execute(
        """
        select segment_id, segment_name, centroid, run_id = ? as is_latest
        from ml.segment_profiles
        where run_date < ? and run_date >= ?
        qualify row_number() over (partition by segment_id order by run_date desc) = 1
        order by segment_id
        """,
        [prev_run, day, min(prev_day, day - dt.timedelta(days=memory_days))],
    ).df()
    ids = prof["segment_id"].astype(int)
    cent = pd.DataFrame([json.loads(c) for c in prof["centroid"]], index=ids)
    assign = con.execute(
        "select customer_id, segment_id from ml.customer_segments where run_id = ?", [prev_run]
    ).df()
    latest = {int(i) for i, flag in zip(ids, prof["is_latest"], strict=True) if flag}
    return PreviousRun(
        run_id=prev_run,
        k=len(latest),
        centroids=cent,
        names=dict(zip(ids, prof["segment_name"], strict=True)),
        latest_ids=latest,
        assignments=assign.set_index("customer_id")["segment_id"].astype("Int64"),
        next_id=next_id,
    )


def top_categories(con, assignments: pd.DataFrame, n: int = 3) -> dict[int, list[dict[str, Any]]]:
    """The most common favourite categories per segment (from marts.customers)."""
    has = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'customers' and column_name = 'favourite_category'"
    ).fetchall()[0][0]
    if not has or assignments.empty:
        return {}
    con.register("_seg_assign", assignments[["customer_id", "segment_id"]])
    try:
        rows = con.execute(
            """
            with counted as (
                select a.segment_id, c.favourite_category as category, count(*) as n
                from _seg_assign as a
                join marts.customers as c on c.customer_id = a.customer_id
                where c.favourite_category is not null
                group by all
            ),
            ranked as (
                select *, n / sum(n) over (partition by segment_id) as share,
                    row_number() over (partition by segment_id order by n desc, category) as rk
                from counted
            )
            select segment_id, category, share from ranked where rk <= ? order by segment_id, rk
            """,
            [n],
        ).fetchall()
    finally:
        con.unregister("_seg_assign")
    out: dict[int, list[dict[str, Any]]] = {}
    for seg, cat, share in rows:
        out.setdefault(int(seg), []).append({"category": cat, "share": round(float(share), 4)})
    return out


def segment(
    features: pd.DataFrame,
    day: dt.date,
    *,
    config: SegmentationConfig | None = None,
    previous: PreviousRun | None = None,
    currency: str = "",
) -> SegmentationResult:
    """Segment one run's customers; pure (no database), so that tests and the benchmark
    can call it directly. ``features`` has a ``customer_id`` column and numeric features;
    ``previous`` is the run to keep ids stable against."""
    with limited_threads():
        return _segment(features, day, config=config, previous=previous, currency=currency)


def _segment(
    features: pd.DataFrame,
    day: dt.date,
    *,
    config: SegmentationConfig | None = None,
    previous: PreviousRun | None = None,
    currency: str = "",
) -> SegmentationResult:
    config = config or SegmentationConfig()
    cols, roles = select_features(features, config.roles)
    X = features[cols].astype(float)
    if "frequency" in roles and roles.get("recency") in cols:
        # recency is the days since the last purchase; for someone who never bought it is
        # undefined (the feature table puts the days since first seen there), so it is
        # filled like a missing value: longer ago than anyone's.
        X.loc[features[roles["frequency"]].to_numpy() <= 0, roles["recency"]] = np.nan
    fill = {roles[r]: v for r, v in ROLE_FILL.items() if r in roles and roles[r] in cols}
    previous = previous or PreviousRun()
    prev_c = previous.centroids
    preferred_k = previous.k
    model = CustomerSegmenter(
        k_range=config.k_range,
        n_init=config.n_init,
        silhouette_sample=config.silhouette_sample,
        tolerance=config.tolerance,
        preferred_k=preferred_k,
        preprocessor=FeaturePreprocessor(fill_values=fill),
        init_centroids=prev_c.loc[sorted(previous.latest_ids)] if previous.latest_ids else None,
        stickiness=config.stickiness,
        fit_sample=config.fit_sample,
        random_state=config.random_state,
    ).fit(X)
    k = model.k_
    centroids = model.centroids_
    centroids.index = range(k)
    matches = match_to_previous(
        prev_c, centroids, model.preprocessor_, max_distance=config.max_match_distance
    )
    ids = assign_segment_ids(matches, list(range(k)), previous.next_id)
    sizes = np.bincount(model.labels_, minlength=k)
    z = pd.DataFrame(model.cluster_centers_, columns=cols)
    prev_names = previous.names
    fresh = [
        describe_segment(centroids.loc[c], z.loc[c], roles, int(sizes[c]), len(X), currency)
        for c in range(k)
    ]
    fresh_names = unique_names([f[0] for f in fresh], z, roles)
    names = {}
    taken = {prev_names[ids[c]] for c in range(k) if ids[c] in prev_names}
    for c in range(k):
        if ids[c] in prev_names:
            names[c] = prev_names[ids[c]]
        else:
            n = fresh_names[c]
            while n in taken:
                n = f"{n} (new)"
            taken.add(n)
            names[c] = n
    dist = model.kmeans_.transform(model.preprocessor_.transform(X))[
        np.arange(len(X)), model.labels_
    ]
    assignments = pd.DataFrame(
        {
            "customer_id": features[ID_COLUMN].astype(str).to_numpy(),
            "segment_id": [ids[c] for c in model.labels_],
            "segment_name": [names[c] for c in model.labels_],
            "distance": dist,
        }
    )
    profiles = pd.DataFrame(
        {
            "segment_id": [ids[c] for c in range(k)],
            "segment_name": [names[c] for c in range(k)],
            "size": sizes.astype(int),
            "share": sizes / len(X),
            "centroid": [
                to_json({col: round(float(v), 6) for col, v in centroids.loc[c].items()})
                for c in range(k)
            ],
            "description": [fresh[c][1] for c in range(k)],
            "derived_name": fresh_names,
            "is_new": [c not in matches for c in range(k)],
        }
    ).sort_values("segment_id", ignore_index=True)
    rid = run_id(TASK, day)
    if len(previous.assignments):
        moves, transitions = segment_moves(
            previous.assignments,
            assignments.set_index("customer_id")["segment_id"].astype("Int64"),
        )
    else:
        moves = {
            "customers_in_both_runs": 0,
            "moved": 0,
            "moved_share": 0.0,
            "new_customers": len(assignments),
            "gone_customers": 0,
        }
        transitions = pd.DataFrame(columns=["from_segment_id", "to_segment_id", "customers"])
    moves["previous_run_id"] = previous.run_id
    matched = set(matches.values())
    moves["matched_segments"] = len(matches)
    moves["new_segments"] = int(k - len(matches))
    moves["returning_segments"] = len(matched - previous.latest_ids)
    moves["retired_segments"] = len(previous.latest_ids - matched)
    alternatives = []
    if config.compare_alternatives and len(X) >= 20:
        alternatives = compare_alternatives(
            model.preprocessor_.transform(X),
            model.labels_,
            k,
            sample=config.silhouette_sample,
            random_state=config.random_state,
        )
    return SegmentationResult(
        run_id=rid,
        run_date=day,
        assignments=assignments,
        profiles=profiles,
        transitions=transitions,
        moves=moves,
        model=model,
        alternatives=alternatives,
    )


def write_result(
    con,
    result: SegmentationResult,
    *,
    started_at: dt.datetime,
    config: SegmentationConfig,
    top_cats: Mapping[int, list[dict[str, Any]]] | None = None,
) -> None:
    """Replace the run's rows in every segmentation table, in one transaction."""
    ensure_tables(con)
    rid, day = result.run_id, result.run_date
    prof = result.profiles.copy()
    prof["top_categories"] = [to_json((top_cats or {}).get(int(s), [])) for s in prof["segment_id"]]
    prof["previous_run_id"] = result.moves.get("previous_run_id")
    prof["run_id"] = rid
    prof["run_date"] = day
    seg = result.assignments.copy()
    seg["run_id"] = rid
    seg["run_date"] = day
    trans = result.transitions.copy()
    trans["previous_run_id"] = result.moves.get("previous_run_id")
    trans["run_id"] = rid
    trans["run_date"] = day
    model = result.model
    sel = model.selection_.to_dict(orient="records")
    data_window = {"as_of": day, "customers": len(seg), "features": list(model.feature_names_in_)}
    con.execute("begin transaction")
    try:
        for table in ("customer_segments", "segment_profiles", "segment_transitions"):
            con.execute(f"delete from ml.{table} where run_date = ?", [day])
        con.execute("delete from ml.model_runs where run_id = ?", [rid])
        if config.retention_days is not None:
            con.execute(
                "delete from ml.customer_segments where run_date < ?",
                [day - dt.timedelta(days=config.retention_days)],
            )
        con.register("_seg", seg)
        con.execute(
            "insert into ml.customer_segments select customer_id, segment_id, segment_name, "
            "distance, run_id, run_date from _seg"
        )
        con.register("_prof", prof)
        con.execute(
            "insert into ml.segment_profiles select segment_id, segment_name, size, share, "
            "centroid::json, top_categories::json, description, is_new, previous_run_id, "
            "run_id, run_date from _prof"
        )
        if len(trans):
            con.register("_trans", trans)
            con.execute(
                "insert into ml.segment_transitions select from_segment_id, to_segment_id, "
                "customers, previous_run_id, run_id, run_date from _trans"
            )
        finished = utcnow()
        alt = {a["model"]: a for a in result.alternatives}
        km_metrics = dict(alt.get("kmeans", {}).get("metrics", {}))
        km_metrics |= {
            "k": model.k_,
            "k_reason": model.k_reason_,
            "warm_started": model.warm_started_,
            "k_selection": sel,
            "inertia": float(model.kmeans_.inertia_),
            "segment_sizes": dict(
                zip(prof["segment_id"].astype(str), prof["size"].astype(int), strict=True)
            ),
            "moves": result.moves,
            "derived_names": dict(
                zip(prof["segment_id"].astype(str), prof["derived_name"], strict=True)
            ),
        }
        params = {
            "k_range": list(config.k_range),
            "n_init": config.n_init,
            "init": "k-means++",
            "silhouette_sample": config.silhouette_sample,
            "tolerance": config.tolerance,
            "max_match_distance": config.max_match_distance,
            "memory_days": config.memory_days,
            "stickiness": config.stickiness,
            "random_state": config.random_state,
            "log_columns": model.preprocessor_.log_columns_,
            "fill_values": model.preprocessor_.fill_values_,
        }
        common = {
            "run_id": rid,
            "task": TASK,
            "run_date": day,
            "data_window": data_window,
            "data_end": day + dt.timedelta(days=1),
            "started_at": started_at,
            "finished_at": finished,
        }
        record_model_run(
            con,
            model="kmeans",
            status="chosen",
            params=params,
            metrics=km_metrics,
            replace=False,
            **common,
        )
        for name in ("gmm", "dbscan"):
            if name in alt:
                record_model_run(
                    con,
                    model=name,
                    status="candidate",
                    params=alt[name]["params"],
                    metrics=alt[name]["metrics"],
                    replace=False,
                    **common,
                )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for view in ("_seg", "_prof", "_trans"):
            with contextlib.suppress(Exception):  # not registered
                con.unregister(view)


def record_skipped(con, day: dt.date, message: str, started_at: dt.datetime) -> None:
    from ml import runs

    ensure_tables(con)
    runs.record_skipped(
        con,
        task=TASK,
        model="kmeans",
        run_date=day,
        message=message,
        started_at=started_at,
        clear=("ml.customer_segments", "ml.segment_profiles", "ml.segment_transitions"),
    )


def run(ctx: Any, config: SegmentationConfig | None = None) -> dict[str, Any]:
    """Pipeline stage: segment the customers as of ``ctx.day`` and write the ml tables.

    Returns a summary for the run log (k, segment sizes, moved customers).
    """
    from tailor.warehouse import connect

    config = config or SegmentationConfig()
    started = utcnow()
    day: dt.date = ctx.day
    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        features = load_features(con, config, day)
        if len(features) < config.min_customers:
            msg = (
                f"{len(features)} customers in {config.feature_table}; need {config.min_customers}"
            )
            record_skipped(con, day, msg, started)
            return {"status": "skipped", "message": msg}
        result = segment(
            features,
            day,
            config=config,
            previous=load_previous(con, day, config.memory_days),
            currency=_currency(con),
        )
        cats = top_categories(con, result.assignments)
        write_result(con, result, started_at=started, config=config, top_cats=cats)
    finally:
        con.close()
    return {
        "status": result.status,
        "run_id": result.run_id,
        "k": result.model.k_,
        "segments": dict(
            zip(result.profiles["segment_name"], result.profiles["size"].astype(int), strict=True)
        ),
        "moved": result.moves["moved"],
        "moved_share": round(result.moves["moved_share"], 4),
    }


def _currency(con) -> str:
    try:
        row = con.execute("select any_value(reporting_currency) from marts.customers").fetchall()[0]
    except Exception:  # noqa: BLE001 - the column or table may not exist
        return ""
    return row[0] or "" if row else ""
