"""Content-based similarity: TF-IDF over product title, description, category and brand."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.recommenders.base import Recommender, blocked_topn_product
from ml.recommenders.itemknn import BLOCK_CELLS, weigh

# the last similarity computed: {"key": ..., "value": (vectorizer, vectors, weights)}
_CACHE: dict[str, Any] = {}


def _slug(value: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")


def product_text(
    title: object = None,
    description: object = None,
    category_path: object = None,
    brand: object = None,
    *,
    category_separator: str = ">",
) -> str:
    """One document per product.

    Category and brand become single tokens (``cat_home``, ``cat_home_decor``, ...,
    ``brand_casaluna``) so that they match exactly and do not mix with title words; every
    level of the category path is a token, so products in the same branch share the upper
    levels. The title appears twice: it is the most specific text a catalog has.
    """
    parts: list[str] = []
    for text in (title, title, description):
        if text is not None and text == text and str(text).strip():
            parts.append(str(text))
    if category_path is not None and category_path == category_path and str(category_path).strip():
        levels = [_slug(x) for x in str(category_path).split(category_separator) if x.strip()]
        parts += ["cat_" + "_".join(levels[: i + 1]) for i in range(len(levels))]
    if brand is not None and brand == brand and str(brand).strip():
        parts.append("brand_" + _slug(brand))
    return " ".join(parts)


class ContentRecommender(Recommender):
    """Item-item cosine similarity of TF-IDF vectors, top-``neighbours`` per item.

    It needs no interactions to relate items, so it covers new products (cold items), and
    it gives ``similar_items`` for every product with a description. Users are scored like
    item-kNN: ``score(u, i) = sum_j x_uj * sim(j, i)``.

    ``fit(user_items, item_text=[...])``: one document per item column (see
    :func:`product_text`); empty for items without a catalog entry.

    ``max_df``: terms in more documents than this are ignored (default: 1% of the
    catalog, at least 200). They say little about similarity, and the cost of the
    similarity product grows with the square of a term's document count: on a 50,000
    product catalog whose top-level departments hold 2,500 products each, 5% instead of
    1% makes the fit ten times slower (66 s instead of 6 s) for the same neighbours.

    The similarity depends on the catalog text only, so the last one computed is reused
    when the same documents are fitted again with the same parameters (the job fits
    content several times per run).
    """

    name = "content"
    explains = True
    sparse_scores = True

    def __init__(
        self,
        neighbours: int = 50,
        max_features: int = 50_000,
        min_df: int = 1,
        max_df: int | None = None,
        weighting: str = "log",
    ):
        # one attribute per parameter, as named (get_params and repr read them back)
        self.neighbours = neighbours
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.weighting = weighting

    def fit(
        self,
        user_items: sp.spmatrix | None = None,
        *,
        item_text: Sequence[str] | None = None,
        **_: Any,
    ) -> ContentRecommender:
        if item_text is None:
            raise ValueError("ContentRecommender.fit needs item_text (one document per item)")
        docs = ["" if t is None else str(t) for t in item_text]
        if user_items is not None and user_items.shape[1] != len(docs):
            raise ValueError(f"{len(docs)} documents for {user_items.shape[1]} items")
        self.n_items_ = len(docs)
        key = (
            hashlib.sha256("\x00".join(docs).encode()).hexdigest(),
            self.neighbours,
            self.max_features,
            self.min_df,
            self.max_df,
        )
        if _CACHE.get("key") == key:
            self.vectorizer_, self.item_vectors_, self.item_weights_ = _CACHE["value"]
            return self
        from sklearn.feature_extraction.text import TfidfVectorizer

        n_docs = max(1, sum(bool(d.strip()) for d in docs))
        max_df = self.max_df if self.max_df is not None else max(200, int(0.01 * len(docs)))
        self.vectorizer_ = TfidfVectorizer(
            sublinear_tf=True,
            stop_words="english",
            max_features=self.max_features,
            min_df=min(self.min_df, n_docs),
            max_df=max(max_df, min(self.min_df, n_docs)),
            dtype=np.float32,
        )
        T = sp.csr_matrix((len(docs), 1), dtype=np.float32)
        if any(d.strip() for d in docs):
            # every term may be pruned away (tiny or uniform catalogs): no similarity then
            with contextlib.suppress(ValueError):
                T = self.vectorizer_.fit_transform(docs).tocsr()
        self.item_vectors_ = T
        self.item_weights_ = blocked_topn_product(
            T, T.T.tocsc(), self.neighbours, block_cells=BLOCK_CELLS
        )
        _CACHE["key"], _CACHE["value"] = (
            key,
            (self.vectorizer_, self.item_vectors_, self.item_weights_),
        )
        return self

    def _score(self, user_items: sp.csr_matrix, groups: np.ndarray | None) -> sp.csr_matrix:
        return (weigh(user_items, self.weighting) @ self.item_weights_).tocsr()
