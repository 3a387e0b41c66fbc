"""The served model refitted on all data, and the lists it serves (indices, in batches
of customers)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.recommend.config import RecommendConfig
from ml.recommend.data import (
    Features,
    RecData,
    full_matrix,
    kind_matrix,
    product_texts,
    purchase_matrix,
)
from ml.recommend.models import build
from ml.recommend.rules import (
    category_codes,
    diversify,
    exclusions,
    ranked_lists,
    repeat_purchase_mask,
)
from ml.recommenders import (
    ContentRecommender,
    PopularityRecommender,
    Recommender,
)

REASONS = {
    "bought": "because you bought ",
    "added_to_cart": "because you added ",
    "viewed": "because you viewed ",
    "for_you": "picked for you",
    "viewed_before": "you viewed this recently",
    "in_cart": "you added this to your cart",
    "bought_before": "buy it again",
    "popular_in_segment": "popular in your segment",
    "popular": "popular right now",
}


@dataclass
class Served:
    """The fitted models a run serves from."""

    model: Recommender
    popularity: PopularityRecommender
    global_popularity: PopularityRecommender
    content: ContentRecommender | None
    fit_seconds: float
    X: sp.csr_matrix | None = None  # the interactions the models were fitted on


def fit_served(
    data: RecData,
    name: str,
    config: RecommendConfig,
    X: sp.csr_matrix | None = None,
    *,
    features: Features | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    stored: Recommender | None = None,
) -> Served:
    """Fit the served model (with the ``params`` the tuning chose, per model),
    popularity (by segment and global) and content on all data: the events weighed and
    decayed to the end of the day by ``features``, else the mart's scores. ``stored``:
    the served model already fitted (a stored fit, :mod:`ml.recommend.cadence`), served
    as it is; popularity and content are fitted on the night's data all the same."""
    X = full_matrix(data, features) if X is None else X
    item_text = product_texts(data.products)
    started = time.perf_counter()
    pop = PopularityRecommender().fit(X, user_groups=data.groups)
    glob = PopularityRecommender().fit(X)
    # models fitted on X by name (a stored hybrid's content part serves similar items)
    fitted: dict[str, Recommender] = {repr(m): m for m, _ in getattr(stored, "components", ())}
    if name == "popularity":
        model: Recommender = pop
    elif stored is not None:
        model = stored
    else:
        model = build(name, config, data.n_items, (params or {}).get(name), params)
        model.name = name
        model.fit(X, user_groups=data.groups, item_text=item_text, fitted=fitted)
    content: ContentRecommender | None = None
    if isinstance(model, ContentRecommender):
        content = model
    elif any(isinstance(p, str) and p for p in item_text):
        similar = ContentRecommender(neighbours=max(50, config.similar_items * 2))
        content = fitted.get(repr(similar)) or similar.fit(X, item_text=item_text)
    return Served(model, pop, glob, content, time.perf_counter() - started, X)


def recommendation_batches(
    data: RecData, served: Served, config: RecommendConfig, X: sp.csr_matrix | None = None
) -> Iterator[pd.DataFrame]:
    """The rows of ``ml.recommendations`` (indices, not ids yet), one batch of customers at
    a time: ``user, rank, item, score, model, reason_code, reason_item``."""
    X = (served.X if served.X is not None else full_matrix(data)) if X is None else X
    kinds = kind_matrix(data)
    excluded = exclusions(
        purchase_matrix(data),
        repeat_purchase_mask(
            data.products,
            config.repeat_purchase_categories,
            exclude_purchased=config.exclude_purchased,
        ),
    )
    bought = excluded  # what the global list leaves out (it uses no other history)
    if config.exclude_viewed:  # every product in the mart's history, not only its events
        excluded = (excluded + kinds.astype(bool)).astype(np.float32).tocsr()
    # the lists of both kinds of customers: the same rules, catalog and length
    lists = functools.partial(
        ranked_lists,
        allowed=data.allowed,
        categories=category_codes(data.products, config.diversity_column),
        groups=None,
        config=config,
        n=config.k,
    )
    users = np.flatnonzero(data.servable)
    model_name = served.model.name
    for start in range(0, len(users), config.batch_size):
        u = users[start : start + config.batch_size]
        personal = (
            data.consent[u] if config.require_personalization_consent else np.ones(len(u), bool)
        )
        ids = np.full((len(u), config.k), -1, np.int32)
        scores = np.full((len(u), config.k), -np.inf, np.float32)
        sources = np.full((len(u), config.k), 1, np.int8)
        anchors = np.full((len(u), config.k), -1, np.int32)
        if personal.any():
            up = u[personal]
            hist = X[up]
            p_ids, p_scores, p_src = lists(
                served.model, served.popularity, hist, exclude=excluded[up], groups=data.groups[up]
            )
            ids[personal], scores[personal], sources[personal] = p_ids, p_scores, p_src
            if served.model.explains:
                a, _ = served.model.explain(hist, np.where(p_src == 0, p_ids, -1))
                anchors[personal] = a
        if (~personal).any():
            # no consent to personalize: the global list, scored without the customer's
            # history or segment; bought products are still left out
            ua = u[~personal]
            anon = sp.csr_matrix((len(ua), data.n_items), dtype=np.float32)
            g_ids, g_scores, g_src = lists(
                served.global_popularity, served.global_popularity, anon, exclude=bought[ua]
            )
            ids[~personal], scores[~personal], sources[~personal] = g_ids, g_scores, g_src
        valid = ids >= 0
        rows, cols = np.nonzero(valid)
        user = u[rows]
        item = ids[rows, cols]
        anchor = anchors[rows, cols]
        src = sources[rows, cols]
        is_personal = personal[rows]
        # the customer's own relation to the item (0: none), then to the anchor
        own = np.zeros(len(rows), dtype=np.int8)
        if is_personal.any():
            own[is_personal] = (
                np.asarray(kinds[user[is_personal], item[is_personal]]).ravel().astype(np.int8)
            )
        kind = np.zeros(len(rows), dtype=np.int8)
        has_anchor = anchor >= 0
        if has_anchor.any():
            kind[has_anchor] = (
                np.asarray(kinds[user[has_anchor], anchor[has_anchor]]).ravel().astype(np.int8)
            )
        has_anchor &= own == 0
        grouped = data.groups[user] >= 0
        because = np.select(
            [kind == 3, kind == 2, kind == 1], ["bought", "added_to_cart", "viewed"], "for_you"
        )
        again = np.select(
            [own == 3, own == 2, own == 1], ["bought_before", "in_cart", "viewed_before"], ""
        )
        reason = np.where(
            src == 0,
            np.where(own > 0, again, because),
            np.where(grouped & is_personal, "popular_in_segment", "popular"),
        )
        yield pd.DataFrame(
            {
                "user": user,
                "rank": (cols + 1).astype(np.int32),
                "item": item,
                "score": scores[rows, cols].astype(np.float64),
                "model": np.where(src == 0, model_name, "popularity"),
                "reason_code": reason,
                "reason_item": np.where((src == 0) & has_anchor, anchor, -1),
            }
        )


def similar_item_rows(data: RecData, served: Served, config: RecommendConfig) -> pd.DataFrame:
    """``ml.similar_items`` rows (indices): for every recommendable product, its most
    similar recommendable products from the served model, topped up by content."""
    n = config.similar_items
    items = np.flatnonzero(data.allowed)
    allowed = data.allowed
    parts = []
    names = []
    model = served.model
    if model.item_weights_ is not None and not isinstance(model, PopularityRecommender):
        ids, scores = model.similar_items(items, n, allowed_items=allowed)
        parts.append((ids, scores))
        names.append(model.name)
    if served.content is not None and served.content is not model:
        ids, scores = served.content.similar_items(items, n, allowed_items=allowed)
        parts.append((ids, scores))
        names.append("content")
    if not parts:
        return pd.DataFrame(columns=["item", "rank", "similar_item", "score", "model"])
    ids = np.concatenate([p[0] for p in parts], axis=1)
    scores = np.concatenate([p[1] for p in parts], axis=1)
    src = np.concatenate([np.full(p[0].shape, k, np.int8) for k, p in enumerate(parts)], axis=1)
    no_cats = np.arange(data.n_items)  # no diversity rule for similar items
    ids, scores, src = diversify(ids, scores, src, no_cats, max_per_category=1, n=n)
    rows, cols = np.nonzero(ids >= 0)
    return pd.DataFrame(
        {
            "item": items[rows],
            "rank": (cols + 1).astype(np.int32),
            "similar_item": ids[rows, cols],
            "score": scores[rows, cols].astype(np.float64),
            "model": np.asarray(names, dtype=object)[src[rows, cols]],
        }
    )
