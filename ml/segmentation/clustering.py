"""Model choice: K-Means over a range of k, k chosen by silhouette and Davies–Bouldin,
warm starts from the previous run, and the Gaussian mixture / DBSCAN comparison."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import DBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from ml.compute import limited_threads
from ml.segmentation.features import FeaturePreprocessor, _as_frame

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
    keep_k : bool
        Keep the previous run's k without choosing again (a night between selections):
        K-Means with ``preferred_k`` clusters started from ``init_centroids``, no k range
        fitted (``selection_`` is empty). Needs both, with every feature column.

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
        keep_k: bool = False,
    ):
        # one attribute per parameter, as named (scikit-learn style: get_params reads them back)
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
        self.keep_k = keep_k

    def fit(self, X: pd.DataFrame, y: Any = None) -> CustomerSegmenter:
        X = _as_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.preprocessor_ = clone(self.preprocessor or FeaturePreprocessor()).fit(X)
        Z = self.preprocessor_.transform(X)
        if self.keep_k:
            return self._fit_kept_k(X, Z)
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

    def _fit_kept_k(self, X: pd.DataFrame, Z: np.ndarray) -> CustomerSegmenter:
        init = self.init_centroids
        k = self.preferred_k
        if init is None or k is None or len(init) != k or not set(X.columns) <= set(init.columns):
            raise ValueError("keeping k needs the previous k and its centroids, every feature")
        start = self.preprocessor_.transform(init[list(X.columns)].astype(float))
        with limited_threads():
            self.kmeans_ = KMeans(n_clusters=k, init=start, n_init=1).fit(Z)
        self.selection_ = pd.DataFrame(
            columns=["k", "silhouette", "davies_bouldin", "inertia", "min_cluster_share"]
        )
        self.k_, self.k_reason_ = k, f"k={k} kept"
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
