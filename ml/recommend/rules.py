"""The rules every served list goes through: exclusions of bought products, the
diversity rule and the popularity fill (:func:`ranked_lists`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.recommend.config import RecommendConfig
from ml.recommenders import (
    PopularityRecommender,
    Recommender,
)
from ml.recommenders.base import compact


def repeat_purchase_mask(
    products: pd.DataFrame, prefixes: Sequence[str], *, exclude_purchased: bool = True
) -> np.ndarray:
    """Products that may be recommended again after a purchase: those in the
    repeat-purchase categories (prefix match on the category path), or all of them when
    purchases are not excluded."""
    if not exclude_purchased:
        return np.ones(len(products), dtype=bool)
    if not prefixes:
        return np.zeros(len(products), dtype=bool)
    path = products["category_path"].fillna("").astype(str).str.strip().str.lower()
    mask = np.zeros(len(products), dtype=bool)
    for p in prefixes:
        p = p.strip().lower()
        mask |= (path == p).to_numpy() | path.str.startswith(p + " >").to_numpy()
    return mask


def exclusions(bought: sp.csr_matrix, repeat_mask: np.ndarray) -> sp.csr_matrix:
    """The bought products that may not be recommended again."""
    if repeat_mask.all():
        return sp.csr_matrix(bought.shape, dtype=np.float32)
    if not repeat_mask.any():
        return bought
    keep = sp.diags((~repeat_mask).astype(np.float32))
    out = (bought @ keep).tocsr()
    out.eliminate_zeros()
    return out


def category_codes(products: pd.DataFrame, column: str) -> np.ndarray:
    """Integer category per product for the diversity rule; a product without one gets a
    code of its own (the rule does not constrain it)."""
    values = products[column] if column in products else pd.Series([None] * len(products))
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    missing = codes < 0
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(missing.sum())
    return codes


# --------------------------------------------------------------------------- lists


def diversify(
    ids: np.ndarray,
    scores: np.ndarray,
    sources: np.ndarray,
    categories: np.ndarray,
    *,
    max_per_category: int,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk each row best first; drop repeats of an item and any item whose category
    already has ``max_per_category`` entries; keep the first ``n``.

    ``ids`` (-1 = empty), ``scores`` and ``sources`` (which model proposed the item) are
    ``(rows, candidates)`` arrays; ``categories`` maps item -> category code.
    """
    rows, width = ids.shape
    valid = ids >= 0
    flat_pos = np.arange(rows * width).reshape(rows, width)
    # first occurrence of each item in its row
    n_items = np.int64(max(int(ids.max(initial=0)) + 1, 1))
    item_key = np.where(valid, np.arange(rows)[:, None] * n_items + ids, -1 - flat_pos).ravel()
    _, first = np.unique(item_key, return_index=True)
    unique = np.zeros(rows * width, dtype=bool)
    unique[first] = True
    unique = unique.reshape(rows, width) & valid
    # running count of each category within its row, over the unique items only
    cats = np.where(unique, categories[np.where(valid, ids, 0)], -1)
    n_cats = np.int64(max(int(categories.max(initial=0)) + 1, 1))
    cat_key = np.where(unique, np.arange(rows)[:, None] * n_cats + cats, -1 - flat_pos).ravel()
    order = np.argsort(cat_key, kind="stable")
    sorted_keys = cat_key[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    seen_before = np.empty(len(order), dtype=np.int64)
    seen_before[order] = np.arange(len(order)) - group_start
    keep = unique & (seen_before.reshape(rows, width) < max_per_category)
    out_ids, out_scores = compact(ids, scores.astype(np.float32), keep, n)
    src = np.where(keep, sources, -1)
    _, out_src = compact(ids, src.astype(np.float32), keep, n)
    out_src = np.where(out_ids >= 0, out_src, -1).astype(np.int8)
    return out_ids, out_scores, out_src


def ranked_lists(
    model: Recommender,
    popularity: PopularityRecommender,
    history: sp.csr_matrix,
    *,
    exclude: sp.csr_matrix,
    allowed: np.ndarray,
    categories: np.ndarray,
    groups: np.ndarray | None,
    config: RecommendConfig,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lists a model serves: its candidates, then popularity (segment) as fill, minus
    exclusions and inactive products, with the diversity rule; ``n`` per row.

    Every row gets ``n`` products whenever the catalog has ``n`` it may show the customer:
    a row the candidate pool leaves short is redone with a popularity fill 8 times wider,
    up to the whole catalog (a few rows at a time, so memory stays bounded), and a row
    still short with the whole catalog (too few categories for the rule) is topped up
    beyond the per-category cap, those products ranked last.

    Returns ``(ids, scores, sources)``; source 0 = the model, 1 = popularity fill.
    """
    pool = max(config.candidate_pool, n)
    full = max(int(np.count_nonzero(allowed)), n)
    kw = {
        "exclude": exclude,
        "allowed": allowed,
        "categories": categories,
        "groups": groups,
        "config": config,
        "n": n,
    }
    ids, scores, sources = _ranked_lists(model, popularity, history, pool=pool, fill=pool, **kw)
    short = np.flatnonzero((ids < 0).any(axis=1))
    fill = pool
    last = False
    while len(short) and not last:
        fill = min(full, fill * 8)
        last = fill >= full
        step = max(1, FILL_CELLS // (pool + fill))
        for start in range(0, len(short), step):
            rows = short[start : start + step]
            ids[rows], scores[rows], sources[rows] = _ranked_lists(
                model,
                popularity,
                history[rows],
                pool=pool,
                fill=fill,
                relax=last,
                **(
                    kw
                    | {"exclude": exclude[rows], "groups": None if groups is None else groups[rows]}
                ),
            )
        short = short[(ids[short] < 0).any(axis=1)]
    return ids, scores, sources


# Candidate cells (rows x candidates) a refill of short lists handles at once.
FILL_CELLS = 1 << 23


# ranked_lists' parameters again, plus the widths: it passes its own through to this one
def _ranked_lists(
    model: Recommender,
    popularity: PopularityRecommender,
    history: sp.csr_matrix,
    *,
    exclude: sp.csr_matrix,
    allowed: np.ndarray,
    categories: np.ndarray,
    groups: np.ndarray | None,
    config: RecommendConfig,
    n: int,
    pool: int,
    fill: int,
    relax: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pool`` candidates of the model, ``fill`` of popularity, diversified; with
    ``relax``, rows still short are topped up beyond the category cap."""
    kw = {
        "filter_seen": config.exclude_viewed,
        "exclude": exclude,
        "allowed_items": allowed,
        "user_groups": groups,
        "batch_size": None,
    }
    fill_ids, fill_scores = popularity.recommend(history, fill, **kw)
    if model is popularity:
        ids, scores = fill_ids, fill_scores
        sources = np.ones(ids.shape, dtype=np.int8)
    else:
        m_ids, m_scores = model.recommend(history, pool, **kw)
        ids = np.concatenate([m_ids, fill_ids], axis=1)
        scores = np.concatenate([m_scores, fill_scores], axis=1)
        sources = np.concatenate(
            [np.zeros(m_ids.shape, np.int8), np.ones(fill_ids.shape, np.int8)], axis=1
        )
    out = diversify(ids, scores, sources, categories, max_per_category=config.max_per_category, n=n)
    if not relax or not (out[0] < 0).any():
        return out
    # the diverse list first, then the remaining candidates in their order (repeats of an
    # item are dropped, the category cap is not applied)
    uncapped = np.zeros(categories.shape, dtype=np.int64)
    return diversify(
        np.concatenate([out[0], ids], axis=1),
        np.concatenate([out[1], scores], axis=1),
        np.concatenate([out[2], sources], axis=1),
        uncapped,
        max_per_category=ids.shape[1] + n,
        n=n,
    )
