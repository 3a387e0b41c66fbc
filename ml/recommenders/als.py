"""Implicit-feedback matrix factorization (ALS) through the optional ``implicit`` package."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender
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
        # one attribute per parameter, as named (get_params and repr read them back)
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
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1.0
        self.unit_factors_ = self.item_factors_ / norms[:, None]
        self.n_items_ = X.shape[1]
        return self

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> np.ndarray:
        X = weigh(user_items, self.weighting)
        U = self.model_.recalculate_user(np.arange(X.shape[0]), X)
        return np.asarray(U, dtype=np.float32) @ self.item_factors_.T

    def _similarity_rows(self, block: np.ndarray) -> np.ndarray:
        """Cosine of the item factors."""
        return self.unit_factors_[block] @ self.unit_factors_.T
