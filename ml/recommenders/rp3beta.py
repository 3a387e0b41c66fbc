"""RP3beta: item-item random walks re-ranked by popularity (Paudel et al., 2017)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender, blocked_topn_product
from ml.recommenders.itemknn import BLOCK_CELLS, weigh


def _row_stochastic(m: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """Rows scaled to sum to 1, then every entry raised to ``alpha``."""
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    sums = np.asarray(m.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    m = sp.csr_matrix(sp.diags(1.0 / sums) @ m)
    if alpha != 1.0:
        m.data = np.power(m.data, alpha)
    return m


class RP3betaRecommender(Recommender):
    """``W[i, j] = (P_iu^alpha @ P_ui^alpha)[i, j] / pop(j)^beta``, top ``neighbours`` per row.

    ``P_ui`` is the user -> item transition matrix (a user's row of interactions summing to
    one), ``P_iu`` the item -> user one; a three-step walk user -> item -> user -> item,
    with the arrival item's popularity (its users) discounted by ``beta``. A user's score
    for ``j`` is ``sum_i x_ui * W[i, j]``. Strong on implicit feedback for its cost: one
    sparse product, like item-kNN.

    Parameters
    ----------
    alpha
        Exponent of the transition probabilities (1: a plain random walk).
    beta
        Popularity discount (0: none).
    neighbours
        Items kept per item.
    weighting
        How interaction scores enter the walk: ``none``, ``log`` or ``binary``.
    """

    name = "rp3beta"
    explains = True
    sparse_scores = True

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 0.5,
        neighbours: int = 100,
        weighting: str = "binary",
    ):
        # one attribute per parameter, as named (get_params and repr read them back)
        self.alpha = alpha
        self.beta = beta
        self.neighbours = neighbours
        self.weighting = weighting

    def fit(self, user_items: sp.spmatrix, **_: Any) -> RP3betaRecommender:
        X = weigh(user_items, self.weighting)
        self.n_items_ = X.shape[1]
        popularity = np.asarray((X > 0).sum(axis=0)).ravel().astype(np.float32)
        discount = np.power(np.maximum(popularity, 1.0), -self.beta).astype(np.float32)

        def rerank(G: sp.csr_matrix, start: int) -> sp.csr_matrix:
            G.data = G.data * discount[G.indices]
            return G

        self.item_weights_ = blocked_topn_product(
            _row_stochastic(X.T.tocsr(), self.alpha),
            _row_stochastic(X, self.alpha),
            self.neighbours,
            block_cells=BLOCK_CELLS,
            transform=rerank,
        )
        return self

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> sp.csr_matrix:
        return (weigh(user_items, self.weighting) @ self.item_weights_).tocsr()
