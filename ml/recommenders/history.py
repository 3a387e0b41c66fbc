"""The customer's own recent interest: products they viewed or carted, most recent first."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender, as_csr
from ml.recommenders.itemknn import weigh


class HistoryRecommender(Recommender):
    """``score(u, i) = x_ui``: the (recency-weighted) interest already shown in an item.

    On its own it re-shows what a customer looked at; blended with an item-item model
    (:class:`~ml.recommenders.hybrid.HybridRecommender`) it lets products a customer
    viewed but did not buy compete with the products similar to them. Bought products
    are removed by the job's exclusions, like for every model. Its item-item weights are
    the identity, so ``similar_items`` has nothing to say and ``explain`` names no other
    item.
    """

    name = "history"
    sparse_scores = True

    def __init__(self, weighting: str = "none"):
        self.weighting = weighting

    def fit(self, user_items: sp.spmatrix, **_: Any) -> HistoryRecommender:
        self.n_items_ = as_csr(user_items).shape[1]
        return self

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> sp.csr_matrix:
        return weigh(user_items, self.weighting)
