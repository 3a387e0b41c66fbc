"""Ranking metrics for recommendations: pure functions.

Two forms of each metric:

* per user, on plain Python sequences (``precision_at_k(truth, recs, k)``): the
  definition, easy to check by hand;
* for many users at once (:func:`ranking_metrics`), on a padded ``(users, k)`` array of
  recommended item indices and a sparse truth matrix: the form the evaluation uses.
  Both give the same numbers (the unit tests check it).

Relevance is binary. ``truth`` is the set of items the user interacted with in the
holdout; ``recs`` is the ranked list shown (best first). Conventions, as in
microsoft/recommenders:

* precision@k divides by k, even when fewer than k items were recommended;
* recall@k divides by the number of relevant items;
* NDCG@k uses the gain 1 / log2(rank + 1) and the ideal ranking of min(|truth|, k) hits;
* MAP@k averages precision at each hit's rank over min(|truth|, k);
* hit rate@k is 1 when at least one of the top k is relevant.

A user with an empty truth set scores 0 everywhere; evaluations leave such users out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")


def _hits(truth: Iterable, recs: Sequence, k: int) -> list[bool]:
    relevant = set(truth)
    seen: set = set()
    out = []
    for item in list(recs)[:k]:
        # a repeated item earns nothing the second time
        out.append(item in relevant and item not in seen)
        seen.add(item)
    return out


def precision_at_k(truth: Iterable, recs: Sequence, k: int) -> float:
    """Share of the top ``k`` recommendations that are relevant."""
    if k <= 0:
        raise ValueError("k must be positive")
    return sum(_hits(truth, recs, k)) / k


def recall_at_k(truth: Iterable, recs: Sequence, k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    relevant = set(truth)
    if not relevant:
        return 0.0
    return sum(_hits(relevant, recs, k)) / len(relevant)


def dcg_at_k(truth: Iterable, recs: Sequence, k: int) -> float:
    return float(sum(1.0 / np.log2(r + 2) for r, h in enumerate(_hits(truth, recs, k)) if h))


def ndcg_at_k(truth: Iterable, recs: Sequence, k: int) -> float:
    """Discounted cumulative gain of the top ``k``, over the best achievable."""
    relevant = set(truth)
    if not relevant:
        return 0.0
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(len(relevant), k)))
    return dcg_at_k(relevant, recs, k) / ideal


def average_precision_at_k(truth: Iterable, recs: Sequence, k: int) -> float:
    """Mean of precision@rank over the ranks of the hits, divided by min(|truth|, k)."""
    relevant = set(truth)
    if not relevant:
        return 0.0
    total, found = 0.0, 0
    for r, h in enumerate(_hits(relevant, recs, k)):
        if h:
            found += 1
            total += found / (r + 1)
    return total / min(len(relevant), k)


def map_at_k(truths: Sequence[Iterable], recs: Sequence[Sequence], k: int) -> float:
    """Mean average precision@k over users (``truths[i]`` pairs with ``recs[i]``)."""
    if len(truths) != len(recs):
        raise ValueError("truths and recs must have one entry per user")
    if not truths:
        return 0.0
    return float(
        np.mean([average_precision_at_k(t, r, k) for t, r in zip(truths, recs, strict=True)])
    )


def hit_rate_at_k(truth: Iterable, recs: Sequence, k: int) -> float:
    """1.0 when at least one of the top ``k`` is relevant, else 0.0."""
    return 1.0 if any(_hits(truth, recs, k)) else 0.0


def catalog_coverage(recs: Iterable[Sequence], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one user's list."""
    if catalog_size <= 0:
        raise ValueError("catalog_size must be positive")
    items = {
        i
        for row in recs
        for i in row
        if i is not None and not (isinstance(i, int | np.integer) and i < 0)
    }
    return len(items) / catalog_size


# --------------------------------------------------------------------------- batch form


def hit_matrix(truth: sp.spmatrix, rec_ids: np.ndarray) -> np.ndarray:
    """``hits[u, r]``: whether ``rec_ids[u, r]`` is in row ``u`` of ``truth``.

    ``rec_ids`` is padded with -1 (no recommendation). A repeated item counts once.
    """
    truth = sp.csr_matrix(truth)
    rec_ids = np.asarray(rec_ids)
    n_users, k = rec_ids.shape
    if truth.shape[0] != n_users:
        raise ValueError("truth and rec_ids must have one row per user")
    n_items = truth.shape[1]
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(truth.indptr))
    truth_keys = rows * n_items + truth.indices.astype(np.int64)
    truth_keys.sort()
    valid = rec_ids >= 0
    keys = np.arange(n_users, dtype=np.int64)[:, None] * n_items + np.where(valid, rec_ids, 0)
    pos = np.searchsorted(truth_keys, keys)
    pos = np.minimum(pos, max(len(truth_keys) - 1, 0))
    hits = valid & (truth_keys[pos] == keys) if len(truth_keys) else np.zeros_like(valid)
    # a repeated item in one list counts once: keep only each key's first occurrence
    flat = np.where(valid, keys, -1 - np.arange(n_users * k).reshape(n_users, k)).ravel()
    _, first = np.unique(flat, return_index=True)
    first_mask = np.zeros(flat.size, dtype=bool)
    first_mask[first] = True
    hits &= first_mask.reshape(n_users, k)
    return hits


def ranking_metrics(truth: sp.spmatrix, rec_ids: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG, AP and hit@k for many users at once.

    ``truth`` is a ``(users, items)`` sparse matrix whose non-zeros are the relevant
    items; ``rec_ids`` a ``(users, >= k)`` array of item indices, best first, padded with
    -1. Returns one array of length ``users`` per metric (keys of :data:`METRICS`).
    """
    truth = sp.csr_matrix(truth)
    truth.eliminate_zeros()
    rec_ids = np.asarray(rec_ids)[:, :k]
    hits = hit_matrix(truth, rec_ids).astype(np.float64)
    n_rel = np.diff(truth.indptr).astype(np.float64)
    kk = rec_ids.shape[1]
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, kk + 2))
    dcg = hits @ discounts
    ideal_cum = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    idcg = ideal_cum[np.minimum(n_rel, k).astype(int)]
    prec_at_rank = np.cumsum(hits, axis=1) / np.arange(1, kk + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(n_rel > 0, n_hits / n_rel, 0.0)
        ndcg = np.where(idcg > 0, dcg / idcg, 0.0)
        ap = np.where(n_rel > 0, (prec_at_rank * hits).sum(axis=1) / np.minimum(n_rel, k), 0.0)
    return {
        "precision": n_hits / k,
        "recall": recall,
        "ndcg": ndcg,
        "map": ap,
        "hit_rate": (n_hits > 0).astype(np.float64),
    }


def summarize(
    truth: sp.spmatrix,
    rec_ids: np.ndarray,
    ks: Sequence[int] = (10,),
    *,
    catalog_size: int | None = None,
    slices: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float | int]:
    """Mean metrics as a flat dict (``ndcg@10``, ``recall@5``, ``coverage@10``, ...).

    ``slices`` maps a name to a boolean mask over users (e.g. ``{"warm": ..., "cold": ...}``);
    each slice adds ``<name>.<metric>@k`` keys and ``<name>.users``.
    """
    out: dict[str, float | int] = {"users": int(np.asarray(rec_ids).shape[0])}
    for k in ks:
        per_user = ranking_metrics(truth, rec_ids, k)
        for name, values in per_user.items():
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else 0.0
        if catalog_size:
            top = np.asarray(rec_ids)[:, :k]
            out[f"coverage@{k}"] = float(len(np.unique(top[top >= 0])) / catalog_size)
        for slice_name, mask in (slices or {}).items():
            mask = np.asarray(mask, dtype=bool)
            out[f"{slice_name}.users"] = int(mask.sum())
            for name, values in per_user.items():
                out[f"{slice_name}.{name}@{k}"] = float(values[mask].mean()) if mask.any() else 0.0
    return out


def bootstrap_mean(
    values: np.ndarray, *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """The mean of per-user ``values`` with a percentile bootstrap interval over users.

    Returns ``mean``, ``low``, ``high`` (the central ``level`` interval) and ``se`` (the
    standard deviation of the resampled means). Give it the per-user difference of two
    models on the same users for a paired comparison. The resamples depend only on the
    number of users and ``seed``, so two calls with the same users resample alike.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return {"mean": 0.0, "low": 0.0, "high": 0.0, "se": 0.0}
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, (1 << 22) // n)  # resamples drawn at once: ~32 MB of indices
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {
        "mean": float(values.mean()),
        "low": float(low),
        "high": float(high),
        "se": float(means.std(ddof=1)) if resamples > 1 else 0.0,
    }
