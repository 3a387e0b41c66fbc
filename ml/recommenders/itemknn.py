"""Item-item collaborative filtering on sparse matrices, keeping the top-N neighbours."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender, as_csr, blocked_topn_product

# Similarity blocks are capped at about this many candidate cells.
BLOCK_CELLS = 1 << 25

# The last similarity computed, {"key": ..., "value": ...}: the job fits the same item-kNN
# on the same matrix more than once per run (alone and inside the hybrid).
_CACHE: dict[str, object] = {}


def weigh(user_items: sp.spmatrix, weighting: str) -> sp.csr_matrix:
    """Transform implicit feedback: ``none`` (as given), ``log`` (log1p) or ``binary``."""
    X = as_csr(user_items).copy()
    if weighting == "binary":
        X.data[:] = 1.0
    elif weighting == "log":
        X.data = np.log1p(X.data)
    elif weighting != "none":
        raise ValueError(f"weighting must be none, log or binary, not {weighting!r}")
    return X


def item_similarity(
    user_items: sp.csr_matrix,
    *,
    neighbours: int,
    similarity: str = "cosine",
    shrink: float = 0.0,
    block_cells: int = BLOCK_CELLS,
) -> sp.csr_matrix:
    """Top-``neighbours`` item-item similarity, computed in row blocks.

    Row ``j`` holds the items most similar to item ``j`` (the diagonal is dropped), so a
    user's score for item ``i`` is ``sum_j x_uj * S[j, i]``. Only a block of rows of the
    co-occurrence matrix exists at any time, so memory is bounded by the block, the input
    and the kept neighbours.

    ``similarity``: ``cosine`` (co-occurrence over the product of the items' norms, plus
    ``shrink`` in the denominator, which damps items seen by few users) or
    ``cooccurrence`` (the weighted co-occurrence itself).
    """
    X = as_csr(user_items)
    key = (_fingerprint(X), neighbours, similarity, float(shrink), block_cells)
    if _CACHE.get("key") == key:
        return _CACHE["value"]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel()).astype(np.float32)
    if similarity not in ("cosine", "cooccurrence"):
        raise ValueError(f"similarity must be cosine or cooccurrence, not {similarity!r}")

    def to_cosine(G: sp.csr_matrix, start: int) -> sp.csr_matrix:
        if similarity == "cosine":
            rows = np.repeat(np.arange(G.shape[0]), np.diff(G.indptr))
            denom = norms[start + rows] * norms[G.indices] + shrink
            G.data = np.divide(G.data, denom, out=np.zeros_like(G.data), where=denom > 0)
        return G

    S = blocked_topn_product(
        X.T.tocsr(), X, neighbours, block_cells=block_cells, transform=to_cosine
    )
    _CACHE["key"], _CACHE["value"] = key, S
    return S


def _fingerprint(X: sp.csr_matrix) -> str:
    """A digest of a CSR matrix's shape and contents."""
    h = hashlib.sha256(repr(X.shape).encode())
    for part in (X.indptr, X.indices, X.data):
        h.update(np.ascontiguousarray(part).view(np.uint8))
    return h.hexdigest()


class ItemKNNRecommender(Recommender):
    """Item-based CF: ``score(u, i) = sum over the user's items j of x_uj * sim(j, i)``.

    Parameters
    ----------
    neighbours
        Similar items kept per item.
    similarity
        ``cosine`` or ``cooccurrence``.
    shrink
        Added to the cosine denominator.
    weighting
        How interaction scores enter the similarity: ``none``, ``log`` or ``binary``.
    """

    name = "itemknn"
    explains = True
    sparse_scores = True

    def __init__(
        self,
        neighbours: int = 100,
        similarity: str = "cosine",
        shrink: float = 10.0,
        weighting: str = "log",
    ):
        # one attribute per parameter, as named (get_params and repr read them back)
        self.neighbours = neighbours
        self.similarity = similarity
        self.shrink = shrink
        self.weighting = weighting

    def fit(self, user_items: sp.spmatrix, **_: Any) -> ItemKNNRecommender:
        X = weigh(user_items, self.weighting)
        self.n_items_ = X.shape[1]
        self.item_weights_ = item_similarity(
            X, neighbours=self.neighbours, similarity=self.similarity, shrink=self.shrink
        )
        return self

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> sp.csr_matrix:
        return (weigh(user_items, self.weighting) @ self.item_weights_).tocsr()
