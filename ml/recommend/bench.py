"""A split made ready to score models on (:class:`Bench`), and what the tuning and the
evaluation both need to build one: the configuration resolved for the store, the base
interaction features, the per-customer split and fitting a model."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.metrics import ranking_metrics
from ml.recommend.config import KINDS, RecommendConfig
from ml.recommend.data import (
    Features,
    RecData,
    interaction_matrix,
    product_texts,
    purchase_matrix,
)
from ml.recommend.rules import category_codes, exclusions, ranked_lists, repeat_purchase_mask
from ml.recommend.split import Split, customer_split
from ml.recommenders import PopularityRecommender, Recommender


def resolve(config: RecommendConfig, data: RecData) -> RecommendConfig:
    """The configuration with its automatic values decided for this store: the weights and
    half-life (the dbt project's when unset), what counts as relevant (cart and purchase;
    view in a store that sends only views) and whether viewed products are excluded
    (only in a views-only store)."""
    if not config.weights or config.half_life_days is None:
        config = config.with_dbt_vars(None)
    present = data.kinds_present()
    views_only = bool(present) and present <= {"view"}
    relevant = config.relevant_kinds
    if relevant is None:
        relevant = ("view",) if views_only else ("cart", "purchase")
    exclude_viewed = config.exclude_viewed
    if exclude_viewed is None:
        exclude_viewed = views_only
    return replace(config, relevant_kinds=tuple(relevant), exclude_viewed=bool(exclude_viewed))


def base_features(config: RecommendConfig) -> Features:
    return Features(dict(config.weights), float(config.half_life_days) or None)


def split_for(
    events: Any,
    data: RecData,
    config: RecommendConfig,
    *,
    end: float | np.ndarray,
    max_users: int | None,
) -> Split:
    return customer_split(
        events,
        (data.n_users, data.n_items),
        tuple(KINDS[k] for k in config.relevant_kinds or ()),
        share=config.holdout_share,
        count=config.holdout_count,
        min_items=config.min_history,
        end=end,
        max_users=max_users,
    )


@dataclass
class Bench:
    """A split made ready to score models on: the training matrix, and for the evaluated
    customers their history, exclusions and held-out products (what a model cannot be
    right about, bought before or inactive, is not counted)."""

    data: RecData
    config: RecommendConfig
    X: sp.csr_matrix
    users: np.ndarray
    truth: sp.csr_matrix
    exclude: sp.csr_matrix
    categories: np.ndarray
    _popularity: PopularityRecommender | None = None

    @classmethod
    def make(
        cls, data: RecData, split: Split, features: Features, config: RecommendConfig
    ) -> Bench:
        shape = (data.n_users, data.n_items)
        X = interaction_matrix(split.train, shape, features, split.reference)
        excluded = exclusions(
            purchase_matrix(data, split.train),
            repeat_purchase_mask(
                data.products,
                config.repeat_purchase_categories,
                exclude_purchased=config.exclude_purchased,
            ),
        )
        unseen = excluded + X.astype(bool) if config.exclude_viewed else excluded
        truth = (split.truth @ sp.diags(data.allowed.astype(np.float32))).tocsr()
        truth = (truth - truth.multiply(unseen.astype(bool))).tocsr()
        truth.eliminate_zeros()
        users = split.users[np.diff(truth[split.users].indptr) > 0]
        return cls(
            data,
            config,
            X,
            users,
            truth[users],
            excluded[users],
            category_codes(data.products, config.diversity_column),
        )

    @property
    def popularity(self) -> PopularityRecommender:
        """Popularity fitted on the training matrix (the fill of every list), fitted once."""
        if self._popularity is None:
            self._popularity = PopularityRecommender().fit(self.X, user_groups=self.data.groups)
        return self._popularity

    @property
    def history(self) -> sp.csr_matrix:
        return self.X[self.users]

    def lists(
        self, model: Recommender, popularity: PopularityRecommender, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        ids, _, sources = ranked_lists(
            model,
            popularity,
            self.history,
            exclude=self.exclude,
            allowed=self.data.allowed,
            categories=self.categories,
            groups=self.data.groups[self.users],
            config=self.config,
            n=n,
        )
        return ids, sources

    def ndcg(self, model: Recommender, popularity: PopularityRecommender) -> np.ndarray:
        """Per-customer NDCG@10 of a fitted model's served lists (what the tuning compares)."""
        ids, _ = self.lists(model, popularity, 10)
        return ranking_metrics(self.truth, ids, 10)["ndcg"] if len(ids) else np.zeros(0)


def fit(model: Recommender, X: sp.csr_matrix, data: RecData, fitted: dict) -> Recommender:
    model.fit(X, user_groups=data.groups, item_text=product_texts(data.products), fitted=fitted)
    fitted.setdefault(repr(model), model)
    return model
