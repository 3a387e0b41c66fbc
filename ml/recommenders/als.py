"""Implicit-feedback matrix factorization (ALS) through the optional ``implicit`` package."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender, batch_rows
from ml.recommenders.itemknn import weigh


def implicit_available() -> bool:
    try:
        import implicit  # noqa: F401
    except ImportError:
        return False
    return True


class ALSRecommender(Recommender):
    """Weighted matrix factorization (Hu, Koren & Volinsky, 2008) by alternating least
    squares, from ``implicit.cpu.als``.

    Users are scored from their history (``recalculate_user``), so a model fitted on a
    training window scores any user, like the item-item models. ``implicit`` runs faster
    with ``OPENBLAS_NUM_THREADS=1`` (it parallelizes itself).

    Parameters
    ----------
    factors, regularization, alpha, iterations
        As in ``implicit.als.AlternatingLeastSquares`` (confidence = 1 + alpha * x).
    weighting
        ``none``, ``log`` or ``binary`` transform of the interaction scores.
    random_state
        Seed of the factor initialization.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        weighting: str = "log",
        random_state: int = 0,
    ):
        # scikit-learn style: constructor arguments stored as they are
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state

    def fit(self, user_items: sp.spmatrix, **_: Any) -> ALSRecommender:
        from implicit.cpu.als import AlternatingLeastSquares

        X = weigh(user_items, self.weighting)
        self.model_ = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.random_state,
        )
        self.model_.fit(X, show_progress=False)
        self.item_factors_ = np.asarray(self.model_.item_factors, dtype=np.float32)
        self.n_items_ = X.shape[1]
        return self

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> np.ndarray:
        X = weigh(user_items, self.weighting)
        U = self.model_.recalculate_user(np.arange(X.shape[0]), X)
        return np.asarray(U, dtype=np.float32) @ self.item_factors_.T

    def similar_items(
        self,
        items: np.ndarray | None = None,
        n: int = 10,
        *,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cosine of the item factors."""
        from ml.recommenders.base import _top

        self._check_fitted()
        items = np.arange(self.n_items_) if items is None else np.asarray(items)
        V = self.item_factors_
        norms = np.linalg.norm(V, axis=1)
        norms[norms == 0] = 1.0
        Vn = V / norms[:, None]
        bs = batch_rows(len(items), self.n_items_)
        ids = np.full((len(items), n), -1, dtype=np.int32)
        scores = np.full((len(items), n), -np.inf, dtype=np.float32)
        for start in range(0, len(items), bs):
            block = items[start : start + bs]
            own = sp.csr_matrix(
                (np.ones(len(block), np.float32), (np.arange(len(block)), block)),
                shape=(len(block), self.n_items_),
            )
            ids[start : start + bs], scores[start : start + bs] = _top(
                Vn[block] @ Vn.T, n, own, allowed_items
            )
        return ids, scores
