"""Popularity: the baseline every other model must beat, and the cold-start fallback."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender, as_csr, batch_rows, compact, contains, left_out


class PopularityRecommender(Recommender):
    """Items ranked by their total (recency-weighted) interaction score.

    Recency comes from the input: the job decays every interaction to the cutoff (a
    half-life), so recent interest outweighs old interest.

    With ``user_groups`` at fit time (a segment per user), each group gets its own ranking,
    shrunk towards the global one so that a small segment does not rank on a handful of
    interactions::

        score_g(i) = (n_g * share_g(i) + shrinkage * share(i)) / (n_g + shrinkage)

    where ``share`` is an item's share of all interaction weight and ``n_g`` the group's
    users. Users whose group is unknown (-1) or unseen get the global ranking.

    Parameters
    ----------
    binary
        Count users (each interaction 1) rather than summing weights.
    shrinkage
        Pseudo-users of global popularity added to each group.
    """

    name = "popularity"
    needs_history = False

    def __init__(self, binary: bool = False, shrinkage: float = 50.0):
        self.binary = binary
        self.shrinkage = shrinkage

    def fit(
        self, user_items: sp.spmatrix, *, user_groups: np.ndarray | None = None, **_: Any
    ) -> PopularityRecommender:
        X = as_csr(user_items)
        if self.binary:
            X = X.copy()
            X.data[:] = 1.0
        self.n_items_ = X.shape[1]
        total = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
        self.item_scores_ = _share(total).astype(np.float32)
        self.group_scores_: dict[int, np.ndarray] = {}
        if user_groups is not None:
            groups = np.asarray(user_groups)
            for g in np.unique(groups[groups >= 0]):
                rows = groups == g
                n_g = float(rows.sum())
                share_g = _share(np.asarray(X[rows].sum(axis=0)).ravel().astype(np.float64))
                blended = (n_g * share_g + self.shrinkage * self.item_scores_) / (
                    n_g + self.shrinkage
                )
                self.group_scores_[int(g)] = blended.astype(np.float32)
        return self

    def scores_for(self, group: int | None = None) -> np.ndarray:
        """The ranking scores of one group (the global ones when unknown)."""
        if group is None or group < 0:
            return self.item_scores_
        return self.group_scores_.get(int(group), self.item_scores_)

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> np.ndarray:
        n = user_items.shape[0]
        if groups is None or not self.group_scores_:
            return np.broadcast_to(self.item_scores_, (n, self.n_items_))
        return (
            np.stack([self.scores_for(int(g)) for g in groups])
            if n
            else np.empty((0, self.n_items_))
        )

    # Recommender.recommend's parameters: it overrides that method, faster for one ranking
    def recommend(
        self,
        user_items: sp.spmatrix,
        n: int = 10,
        *,
        filter_seen: bool = True,
        exclude: sp.spmatrix | None = None,
        allowed_items: np.ndarray | None = None,
        user_groups: np.ndarray | None = None,
        batch_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Recommender.recommend`, without scoring every item for every user:
        each group's ranking is sorted once and each user's list is the head of it with
        the user's exclusions taken out."""
        self._check_fitted()
        X = as_csr(user_items)
        n_users = X.shape[0]
        groups = np.full(n_users, -1) if user_groups is None else np.asarray(user_groups)
        ex = as_csr(exclude) if exclude is not None else None
        rankings: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for g in {-1, *(int(v) for v in np.unique(groups))}:
            s = self.scores_for(g).astype(np.float32).copy()
            if allowed_items is not None:
                s[~np.asarray(allowed_items, dtype=bool)] = -np.inf
            order = np.lexsort((np.arange(self.n_items_), -s))
            order = order[np.isfinite(s[order])]
            rankings[g] = (order.astype(np.int32), s[order])
        bs = batch_rows(n_users, max(n, 1) * 64, batch_size)
        ids = np.full((n_users, n), -1, dtype=np.int32)
        scores = np.full((n_users, n), -np.inf, dtype=np.float32)
        for start in range(0, n_users, bs):
            stop = min(start + bs, n_users)
            drop = left_out(X, ex, start, stop, filter_seen=filter_seen)
            width = n + (int(np.diff(drop.indptr).max()) if drop is not None and drop.nnz else 0)
            gb = groups[start:stop]
            cand = np.full((stop - start, width), -1, dtype=np.int32)
            cand_s = np.full((stop - start, width), -np.inf, dtype=np.float32)
            for g in np.unique(gb):
                rows = gb == g
                order, s = rankings.get(int(g), rankings[-1])
                m = min(width, len(order))
                cand[rows, :m] = order[:m]
                cand_s[rows, :m] = s[:m]
            keep = ~contains(drop, cand)
            ids[start:stop], scores[start:stop] = compact(cand, cand_s, keep, n)
        return ids, scores

    def _similar(
        self, items: np.ndarray, n: int, allowed_items: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Popularity knows nothing about items: the most popular other items."""
        own = sp.csr_matrix(
            (np.ones(len(items)), (np.arange(len(items)), items)), shape=(len(items), self.n_items_)
        )
        return self.recommend(own, n, allowed_items=allowed_items)


def _share(x: np.ndarray) -> np.ndarray:
    s = x.sum()
    return x / s if s > 0 else x
