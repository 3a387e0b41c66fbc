"""The interface every recommender shares, and the sparse top-n helpers they use.

A recommender is fitted on a ``(users, items)`` sparse matrix of implicit feedback and
then answers two questions:

* ``recommend(user_items, n)``: the best ``n`` items for each row of ``user_items`` (the
  users' histories, not necessarily the users it was fitted on, so a model fitted on the
  training window can score the holdout users);
* ``similar_items(items, n)``: the ``n`` items most like each given item.

Both return two ``(rows, n)`` arrays: item indices (``int32``, padded with -1 when a row
has fewer than ``n`` candidates) and scores (``float32``, padded with ``-inf``). Rows are
scored in batches, so memory is bounded by ``batch_size x n_items`` whatever the number of
users, and a dense users x items matrix is never built.

Subclasses implement ``fit`` and ``_score(user_items_batch, groups_batch)`` (a dense array
or a sparse matrix of scores for the batch); item-to-item models also set
``item_weights_`` (a sparse or dense ``(items, items)`` matrix, row = the item a user
interacted with, column = the item it points to), which gives ``similar_items`` and
``explain`` for free; a model without them gives ``similar_items`` by overriding
``_similarity_rows`` (ALS: the cosine of its factors) or ``_similar`` (popularity).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

# Dense score blocks are capped at about this many cells (float32: 4 bytes each).
DEFAULT_BLOCK_CELLS = 1 << 24
# A sparse scorer's row counts as this many cells when batching (4,096 users a batch).
SPARSE_ROW_CELLS = 4096


def as_csr(matrix: Any, dtype: type = np.float32) -> sp.csr_matrix:
    """A canonical CSR copy-free view where possible (sorted indices, no duplicates)."""
    m = matrix if sp.issparse(matrix) else sp.csr_matrix(matrix)
    m = sp.csr_matrix(m, dtype=dtype)
    if not m.has_canonical_format:
        m.sum_duplicates()
    return m


def batch_rows(n_rows: int, n_items: int, batch_size: int | None = None) -> int:
    """Rows per batch so that a dense batch of scores stays near ``DEFAULT_BLOCK_CELLS``."""
    if batch_size:
        return max(1, int(batch_size))
    return int(max(1, min(max(n_rows, 1), DEFAULT_BLOCK_CELLS // max(n_items, 1))))


def topn_dense(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` columns of each row of a dense array (``-inf`` = not a candidate)."""
    rows, cols = scores.shape
    n_out = n
    n = min(n, cols)
    ids = np.full((rows, n_out), -1, dtype=np.int32)
    out = np.full((rows, n_out), -np.inf, dtype=np.float32)
    if rows == 0 or n == 0:
        return ids, out
    if n < cols:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(cols), (rows, cols)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    # ties broken by item index so that results do not depend on the partition
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    valid = np.isfinite(top_scores)
    ids[:, :n] = np.where(valid, top, -1)
    out[:, :n] = np.where(valid, top_scores, -np.inf)
    return ids, out


def topn_sparse(scores: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` stored entries of each row of a CSR matrix, vectorized over rows (ties
    by item index)."""
    scores = sp.csr_matrix(scores)
    rows, cols = scores.shape
    ids = np.full((rows, n), -1, dtype=np.int32)
    out = np.full((rows, n), -np.inf, dtype=np.float32)
    if scores.nnz == 0 or n == 0:
        return ids, out
    col_bits = max(1, int(cols - 1).bit_length())
    row_bits = 64 - _SCORE_BITS - col_bits
    if row_bits < 1:  # over 2^31 items: no room for the row in the key
        return _topn_sparse_stable(scores, n, ids, out)
    for start, stop in _row_blocks(scores.indptr, 1 << row_bits, _KEY_BLOCK_ENTRIES):
        block = scores[start:stop] if (start, stop) != (0, rows) else scores
        _topn_sparse_keys(block, n, col_bits, ids[start:stop], out[start:stop])
    return ids, out


# bits of a float32 score in a sort key
_SCORE_BITS = 32
# Entries keyed and sorted at once. Each array of a block stays under glibc's 32 MB mmap
# threshold, so the blocks reuse the heap's memory: ten times faster on a machine where
# fresh pages are dear than one sort of a 4,096-customer batch's 7M scores.
_KEY_BLOCK_ENTRIES = 1 << 20


def _row_blocks(indptr: np.ndarray, max_rows: int, max_entries: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` row ranges of a CSR matrix of at most ``max_rows``
    rows and, unless one row holds more, ``max_entries`` stored entries."""
    rows = len(indptr) - 1
    blocks = []
    start = 0
    while start < rows:
        # the furthest row end whose entries still fit (one row at least)
        stop = int(np.searchsorted(indptr, indptr[start] + max_entries, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, rows)
        blocks.append((start, stop))
        start = stop
    return blocks


def _topn_sparse_keys(
    scores: sp.csr_matrix, n: int, col_bits: int, ids: np.ndarray, out: np.ndarray
) -> None:
    """Fill ``ids``/``out`` with the top ``n`` of each row: one sort of unique 64-bit keys
    (row, score descending, column), which carry everything the result needs, so no
    stable argsort and no sorted indices are needed. Ten times faster than either; the
    keys are built in place, as fresh memory is much of the cost."""
    rows = scores.shape[0]
    indptr = scores.indptr
    score_shift = np.uint64(_SCORE_BITS + col_bits)
    col_shift = np.uint64(col_bits)
    key = _descending_key(scores.data)
    key <<= col_shift
    key |= scores.indices.astype(np.uint64)  # int32 or int64 indices alike
    row = np.repeat(np.arange(rows, dtype=np.uint64), np.diff(indptr))
    row <<= score_shift
    key |= row
    del row
    key.sort()
    # the sorted keys of each row are still contiguous and in row order: its first n
    first = indptr[:-1, None] + np.arange(n)
    valid = first < indptr[1:, None]
    r, k = np.nonzero(valid)
    top = key[first[valid]]
    ids[r, k] = (top & np.uint64((1 << col_bits) - 1)).astype(np.int32)
    out[r, k] = _descending_value((top >> col_shift).astype(np.uint32))


def _topn_sparse_stable(
    scores: sp.csr_matrix, n: int, ids: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topn_sparse` by a stable argsort of (row, score) over sorted indices."""
    rows = scores.shape[0]
    counts = np.diff(scores.indptr)
    if not scores.has_sorted_indices:
        scores = scores.sorted_indices()
    row_of = np.repeat(np.arange(rows, dtype=np.uint64), counts)
    order = np.argsort(
        (row_of << np.uint64(_SCORE_BITS)) | _descending_key(scores.data), kind="stable"
    )
    rank = np.arange(scores.nnz) - np.repeat(scores.indptr[:-1], counts)
    keep = rank < n
    sel = order[keep]
    r = row_of[keep]
    k = rank[keep]
    ids[r, k] = scores.indices[sel]
    out[r, k] = scores.data[sel]
    return ids, out


def _descending_key(values: np.ndarray) -> np.ndarray:
    """uint64 keys below 2^32 whose ascending order is the descending order of float32
    ``values`` (:func:`_descending_value` inverts it)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    # IEEE 754 floats order like integers once negatives have every bit flipped and
    # positives their sign bit set; inverting that gives descending order
    flip = (bits.view(np.int32) >> np.int32(31)).view(np.uint32)  # all ones if < 0
    flip |= np.uint32(0x80000000)
    flip ^= bits
    np.invert(flip, out=flip)
    return flip.astype(np.uint64)


def _descending_value(key: np.ndarray) -> np.ndarray:
    """The float32 values of :func:`_descending_key`'s keys (as uint32)."""
    ascending = ~key
    was_negative = (ascending >> np.uint32(31)) == 0
    return np.where(was_negative, ~ascending, ascending ^ np.uint32(0x80000000)).view(np.float32)


def prune_rows(
    matrix: sp.csr_matrix, n: int, *, drop_diagonal: bool = False, row_offset: int = 0
) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row.

    With ``drop_diagonal`` the entries where ``column == row + row_offset`` are dropped
    (``row_offset``: where a block of rows starts in the full matrix).
    """
    m = sp.csr_matrix(matrix)
    if drop_diagonal:
        m = m.tocoo()
        off = m.col != m.row + row_offset
        m = sp.csr_matrix((m.data[off], (m.row[off], m.col[off])), shape=m.shape)
    m.eliminate_zeros()
    ids, vals = topn_sparse(m, n)
    valid = ids >= 0
    rows = np.repeat(np.arange(m.shape[0]), valid.sum(axis=1))
    out = sp.csr_matrix((vals[valid], (rows, ids[valid])), shape=m.shape, dtype=np.float32)
    out.sort_indices()
    return out


def compact(
    ids: np.ndarray, scores: np.ndarray, keep: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` kept entries of each row, shifted left; padded with -1 / -inf."""
    rows = ids.shape[0]
    out_ids = np.full((rows, n), -1, dtype=np.int32)
    out_scores = np.full((rows, n), -np.inf, dtype=np.float32)
    keep = keep & (ids >= 0)
    rank = np.cumsum(keep, axis=1) - 1
    sel = keep & (rank < n)
    r, c = np.nonzero(sel)
    out_ids[r, rank[r, c]] = ids[r, c]
    out_scores[r, rank[r, c]] = scores[r, c]
    return out_ids, out_scores


def contains(matrix: sp.csr_matrix | None, ids: np.ndarray) -> np.ndarray:
    """``out[u, r]``: whether item ``ids[u, r]`` is stored in row ``u`` of ``matrix``."""
    if matrix is None or matrix.nnz == 0:
        return np.zeros(ids.shape, dtype=bool)
    m = sp.csr_matrix(matrix)
    n_items = np.int64(m.shape[1])
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    keys = np.sort(rows * n_items + m.indices)
    q = np.arange(ids.shape[0], dtype=np.int64)[:, None] * n_items + np.maximum(ids, 0)
    pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    return (keys[pos] == q) & (ids >= 0)


def mask_entries(scores: sp.csr_matrix, exclude: sp.csr_matrix | None) -> sp.csr_matrix:
    """Remove from ``scores`` every entry that is stored in ``exclude``."""
    if exclude is None or exclude.nnz == 0 or scores.nnz == 0:
        return scores
    hit = scores.multiply(exclude.astype(bool)).tocsr()
    if hit.nnz == 0:
        return scores
    out = (scores - hit).tocsr()
    # entries equal in both were removed exactly; anything else that became 0 is too
    out.eliminate_zeros()
    return out


def blocked_topn_product(
    left: sp.csr_matrix,
    right: sp.spmatrix,
    n: int,
    *,
    block_cells: int,
    transform: Any = None,
    drop_diagonal: bool = True,
) -> sp.csr_matrix:
    """``prune_rows(left @ right, n)`` computed a block of rows at a time.

    Only one block of the (possibly dense-ish) product exists at a time: memory is bounded
    by ``block_cells`` plus the kept ``rows x n`` entries. ``transform(block, start)``, if
    given, rescales a block before pruning (e.g. co-occurrence to cosine).
    """
    n_rows, n_cols = left.shape[0], right.shape[1]
    block = max(1, block_cells // max(n_cols, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n_rows, block):
        G = (left[start : start + block] @ right).tocsr()
        if transform is not None:
            G = transform(G, start)
        P = prune_rows(G, n, drop_diagonal=drop_diagonal, row_offset=start).tocoo()
        rows.append(P.row.astype(np.int64) + start)
        cols.append(P.col)
        vals.append(P.data.astype(np.float32))
    if not rows:
        return sp.csr_matrix((n_rows, n_cols), dtype=np.float32)
    out = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_cols),
        dtype=np.float32,
    )
    out.sort_indices()
    return out


class Recommender:
    """Base class: ``fit`` / ``recommend`` / ``similar_items`` / ``explain``.

    Follows scikit-learn conventions: ``__init__`` stores parameters, ``fit`` returns
    ``self`` and learned attributes end in ``_``.
    """

    #: the name written to ``ml.model_runs`` and ``ml.recommendations``
    name: str = "recommender"
    #: whether ``explain`` can name a history item behind a recommendation
    explains: bool = False
    #: whether the model proposes nothing for users without history (all but popularity)
    needs_history: bool = True
    #: whether ``_score`` returns sparse scores (only the items the history points to):
    #: such models are scored in larger batches, their memory grows with the candidates,
    #: not with the catalog
    sparse_scores: bool = False

    item_weights_: sp.csr_matrix | np.ndarray | None = None
    n_items_: int = 0

    # -- to implement ----------------------------------------------------------------
    def fit(self, user_items: sp.spmatrix, **context: Any) -> Recommender:
        raise NotImplementedError

    def _score(
        self, user_items: sp.csr_matrix, groups: np.ndarray | None
    ) -> np.ndarray | sp.csr_matrix:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names if hasattr(self, p)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not self.n_items_:
            raise RuntimeError(f"{type(self).__name__} is not fitted")

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
        """The top ``n`` items for each row of ``user_items``.

        Parameters
        ----------
        user_items
            ``(users, n_items_)`` histories, weighted as at fit time.
        filter_seen
            Leave out every item in the user's history.
        exclude
            ``(users, n_items_)`` sparse matrix of further items to leave out per user
            (e.g. purchases, when views should stay recommendable).
        allowed_items
            Boolean mask over items; only these may be recommended (active catalog).
        user_groups
            Integer group (segment) per user, -1 when unknown; used by models that score by
            group and ignored by the others.
        batch_size
            Users scored at once (default: about 16M score cells per batch).
        """
        self._check_fitted()
        X = as_csr(user_items)
        if X.shape[1] != self.n_items_:
            raise ValueError(f"user_items has {X.shape[1]} items; the model knows {self.n_items_}")
        n_users = X.shape[0]
        ex = as_csr(exclude) if exclude is not None else None
        groups = None if user_groups is None else np.asarray(user_groups)
        bs = batch_rows(
            n_users, SPARSE_ROW_CELLS if self.sparse_scores else self.n_items_, batch_size
        )
        ids = np.full((n_users, n), -1, dtype=np.int32)
        scores = np.full((n_users, n), -np.inf, dtype=np.float32)
        for start in range(0, n_users, bs):
            stop = min(start + bs, n_users)
            Xb = X[start:stop]
            s = self._score(Xb, None if groups is None else groups[start:stop])
            if self.needs_history and not sp.issparse(s):
                # a dense model scores every item even without evidence; a user with no
                # history gets no candidates from it (the caller falls back)
                s = np.array(s, dtype=np.float32, copy=True)
                s[np.diff(Xb.indptr) == 0] = -np.inf
            drop = left_out(X, ex, start, stop, filter_seen=filter_seen)
            ids[start:stop], scores[start:stop] = _top(s, n, drop, allowed_items)
        return ids, scores

    def similar_items(
        self,
        items: np.ndarray | None = None,
        n: int = 10,
        *,
        allowed_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` most similar items to each of ``items`` (default: all), itself excluded
        (:meth:`_similar`)."""
        self._check_fitted()
        items = np.arange(self.n_items_) if items is None else np.asarray(items)
        return self._similar(items, n, allowed_items)

    def _similar(
        self, items: np.ndarray, n: int, allowed_items: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`similar_items` in blocks of items, each scored by :meth:`_similarity_rows`."""
        bs = batch_rows(len(items), self.n_items_)
        ids = np.full((len(items), n), -1, dtype=np.int32)
        scores = np.full((len(items), n), -np.inf, dtype=np.float32)
        for start in range(0, len(items), bs):
            block = items[start : start + bs]
            own = sp.csr_matrix(
                (np.ones(len(block), dtype=np.float32), (np.arange(len(block)), block)),
                shape=(len(block), self.n_items_),
            )
            ids[start : start + len(block)], scores[start : start + len(block)] = _top(
                self._similarity_rows(block), n, own, allowed_items
            )
        return ids, scores

    def _similarity_rows(self, block: np.ndarray) -> np.ndarray | sp.csr_matrix:
        """How similar every item is to each item of ``block``: the item-item weights, of
        which only positive evidence makes items similar."""
        if self.item_weights_ is None:
            raise NotImplementedError(f"{type(self).__name__} has no item-item weights")
        rows = self.item_weights_[block]
        rows = rows.astype(np.float32) if sp.issparse(rows) else np.array(rows, dtype=np.float32)
        if not sp.issparse(rows):
            rows[rows <= 0] = -np.inf
        else:
            rows = sp.csr_matrix(rows)
            rows.data[rows.data <= 0] = 0
            rows.eliminate_zeros()
        return rows

    def explain(
        self, user_items: sp.spmatrix, rec_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each recommended item, the history item that contributed most to its score.

        Returns ``(anchor_ids, contributions)`` shaped like ``rec_ids``; -1 / 0 where no
        history item points to the recommendation (or the model does not explain).
        """
        rec_ids = np.asarray(rec_ids)
        anchors = np.full(rec_ids.shape, -1, dtype=np.int32)
        contrib = np.zeros(rec_ids.shape, dtype=np.float32)
        W = self.item_weights_
        if not self.explains or W is None or rec_ids.size == 0:
            return anchors, contrib
        X = as_csr(user_items)
        if sp.issparse(W):
            return _explain_sparse(X, sp.csr_matrix(W), rec_ids, anchors, contrib)
        n_rec = rec_ids.shape[1]
        counts = np.diff(X.indptr)
        # one (user, history item, recommended slot) triple per history entry and slot
        hist_user = np.repeat(np.arange(X.shape[0]), counts)
        u = np.repeat(hist_user, n_rec)
        j = np.repeat(X.indices, n_rec)
        x = np.repeat(X.data, n_rec)
        slot = np.tile(np.arange(n_rec), len(hist_user))
        i = rec_ids[u, slot]
        ok = (i >= 0) & (i != j)
        u, j, x, slot, i = u[ok], j[ok], x[ok], slot[ok], i[ok]
        if len(u) == 0:
            return anchors, contrib
        w = np.asarray(W[j, i]).ravel() if sp.issparse(W) else W[j, i]
        c = x * w
        pos = c > 0
        u, j, slot, c = u[pos], j[pos], slot[pos], c[pos]
        if len(u) == 0:
            return anchors, contrib
        key = u.astype(np.int64) * n_rec + slot
        order = np.lexsort((j, -c, key))
        first = np.ones(len(order), dtype=bool)
        first[1:] = key[order][1:] != key[order][:-1]
        best = order[first]
        anchors[u[best], slot[best]] = j[best]
        contrib[u[best], slot[best]] = c[best]
        return anchors, contrib


def _explain_sparse(
    X: sp.csr_matrix,
    W: sp.csr_matrix,
    rec_ids: np.ndarray,
    anchors: np.ndarray,
    contrib: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Recommender.explain` for sparse item weights, a slot at a time: each
    history entry ``(u, j)`` contributes ``X[u, j] * W[j, rec_ids[u, slot]]``, of which
    the largest positive one (ties: the lowest item index) names the anchor.

    The weights are looked up by a sorted search of the ``(j, i)`` pairs among ``W``'s
    keys, so the work follows the histories: gathering the rows of ``W.T`` that the
    recommendations name copies a popular item's whole column once per customer."""
    W = sp.csr_matrix(W)
    if not W.has_canonical_format:
        W = W.copy()
        W.sum_duplicates()
    n_items = np.int64(W.shape[1])
    # W's entries keyed row * n_items + column: ascending, as W is canonical
    w_key = np.repeat(np.arange(W.shape[0], dtype=np.int64), np.diff(W.indptr)) * n_items
    w_key += W.indices
    if len(w_key) == 0:
        return anchors, contrib
    users = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    history = X.indices.astype(np.int64)
    for slot in range(rec_ids.shape[1]):
        rec = rec_ids[users, slot]
        # an item does not explain itself
        ok = np.flatnonzero((rec >= 0) & (rec != history))
        if len(ok) == 0:
            continue
        query = history[ok] * n_items + rec[ok]
        order = np.argsort(query)  # sorted queries search several times faster
        at = np.empty(len(query), dtype=np.intp)
        at[order] = np.searchsorted(w_key, query[order])
        at[at == len(w_key)] = 0
        hit = w_key[at] == query
        c = X.data[ok[hit]] * W.data[at[hit]]
        positive = c > 0
        entry = ok[hit][positive]
        if len(entry) == 0:
            continue
        # the contributions as a (users, items) matrix, in X's row order
        rows = users[entry]
        indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
        contributions = sp.csr_matrix(
            (c[positive].astype(np.float32), X.indices[entry], indptr), shape=X.shape
        )
        best, value = topn_sparse(contributions, 1)
        found = best[:, 0] >= 0
        anchors[found, slot] = best[found, 0]
        contrib[found, slot] = value[found, 0]
    return anchors, contrib


def left_out(
    history: sp.csr_matrix,
    exclude: sp.csr_matrix | None,
    start: int,
    stop: int,
    *,
    filter_seen: bool,
) -> sp.csr_matrix | None:
    """The items rows ``start:stop`` may not be recommended: their history (when
    ``filter_seen``) and ``exclude``'s rows; None when neither applies."""
    drop = history[start:stop] if filter_seen else None
    if exclude is not None:
        drop = exclude[start:stop] if drop is None else (drop + exclude[start:stop]).tocsr()
    return drop


def _top(
    scores: np.ndarray | sp.spmatrix,
    n: int,
    drop: sp.csr_matrix | None,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    if sp.issparse(scores):
        s = sp.csr_matrix(scores, dtype=np.float32)
        s = mask_entries(s, drop)
        if allowed is not None and not np.all(allowed):
            # the inactive products' entries zeroed in place and dropped (a diagonal
            # matmul would sort every row); never in the caller's matrix
            if np.may_share_memory(s.data, scores.data) or np.may_share_memory(
                s.indices, scores.indices
            ):
                s = s.copy()
            s.data[~np.asarray(allowed, dtype=bool)[s.indices]] = 0
            s.eliminate_zeros()
        return topn_sparse(s, n)
    s = np.array(scores, dtype=np.float32, copy=True)
    if drop is not None and drop.nnz:
        d = drop.tocoo()
        s[d.row, d.col] = -np.inf
    if allowed is not None:
        s[:, ~np.asarray(allowed, dtype=bool)] = -np.inf
    return topn_dense(s, n)
