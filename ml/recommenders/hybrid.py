"""A weighted blend of other recommenders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender


def normalize_rows(
    scores: np.ndarray | sp.spmatrix, scale: float = 1.0
) -> np.ndarray | sp.csr_matrix:
    """Divide each row by its largest absolute score, so models on different scales blend,
    then multiply it by ``scale`` (a blend's weight) in place: at 10M events a night's
    scores hold tens of millions of entries, and ``normalize_rows(s) * w`` copied them."""
    if sp.issparse(scores):
        # a model's scores are a product or a sum of scipy matrices: their rows may come
        # unsorted but never with duplicate entries, so the peak needs no sort
        s = sp.csr_matrix(scores, dtype=np.float32, copy=True)
        counts = np.diff(s.indptr)
        peak = np.zeros(s.shape[0], dtype=np.float32)
        filled = counts > 0
        if s.nnz:
            peak[filled] = np.maximum.reduceat(np.abs(s.data), s.indptr[:-1][filled])
        peak[peak == 0] = 1.0
        # the row's entries divided in place: the same products as a diagonal matmul,
        # without the sort it costs
        s.data *= np.repeat((1.0 / peak).astype(np.float32), counts)
        if scale != 1.0:
            s.data *= np.float32(scale)  # in place: the same values as `s * scale`
        s.eliminate_zeros()
        return s
    s = np.asarray(scores, dtype=np.float32)
    peak = np.abs(s).max(axis=1, keepdims=True) if s.size else np.ones((s.shape[0], 1))
    peak[peak == 0] = 1.0
    out = s / peak
    if scale != 1.0:
        out *= np.float32(scale)
    return out


class HybridRecommender(Recommender):
    """``score = sum_m weight_m * normalize_rows(score_m)``.

    The item-item weights used for ``similar_items`` and ``explain`` are the same blend of
    the components' (row-normalized) item weights, for the components that have them.

    Parameters
    ----------
    components
        ``[(recommender, weight), ...]``; each is fitted with the same data and context.
        A ``fitted`` context (``{repr(model): model}`` of models already fitted on the
        same data) supplies components instead of fitting them again, and receives the
        components this fit made: the nightly job evaluates EASE and content on their own
        and inside the hybrid, on one training matrix.
    """

    name = "hybrid"
    explains = True

    def __init__(self, components: Sequence[tuple[Recommender, float]]):
        self.components = list(components)

    def fit(self, user_items: sp.spmatrix, **context: Any) -> HybridRecommender:
        if not self.components:
            raise ValueError("a hybrid needs at least one component")
        fitted: dict[str, Recommender] | None = context.get("fitted")
        for i, (model, weight) in enumerate(self.components):
            done = fitted.get(repr(model)) if fitted is not None else None
            if done is not None:
                self.components[i] = (done, weight)
                continue
            model.fit(user_items, **context)
            if fitted is not None:
                fitted[repr(model)] = model
        self.n_items_ = self.components[0][0].n_items_
        self.sparse_scores = all(model.sparse_scores for model, _ in self.components)
        self.item_weights_ = _weighted_sum(
            (model.item_weights_, weight)
            for model, weight in self.components
            if model.item_weights_ is not None
        )
        return self

    def _score(
        self, user_items: sp.csr_matrix, groups: np.ndarray | None
    ) -> np.ndarray | sp.csr_matrix:
        return _weighted_sum(
            (model._score(user_items, groups), weight) for model, weight in self.components
        )

    def get_params(self) -> dict[str, Any]:
        return {
            "components": [
                {"model": m.name, "weight": w, **m.get_params()} for m, w in self.components
            ]
        }


def _weighted_sum(
    parts: Iterable[tuple[np.ndarray | sp.spmatrix, float]],
) -> np.ndarray | sp.csr_matrix | None:
    """The sum of the row-normalized parts times their weights: sparse while every part
    is, dense otherwise; None when there is no part."""
    total: np.ndarray | sp.csr_matrix | None = None
    for scores, weight in parts:
        part = normalize_rows(scores, weight)
        if total is None:
            total = part
        elif sp.issparse(total) and sp.issparse(part):
            total = (total + part).tocsr()
        else:
            total = _dense(total) + _dense(part)
    return total


def _dense(m: np.ndarray | sp.spmatrix) -> np.ndarray:
    return m.toarray() if sp.issparse(m) else np.asarray(m)
