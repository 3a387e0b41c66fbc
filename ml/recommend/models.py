"""The candidate models the job knows, by name."""

from __future__ import annotations

from collections.abc import Callable

from ml.recommend.config import RecommendConfig
from ml.recommenders import (
    ContentRecommender,
    EASERecommender,
    HistoryRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
)


def candidate_models(
    config: RecommendConfig, n_items: int | None = None
) -> dict[str, Callable[[], Recommender]]:
    """Factories of every model the job knows, by name.

    The hybrid blends the item-item model that fits the catalog (EASE up to
    ``ease_max_items``, item-kNN beyond), the customer's own recent interest and content
    similarity. ``als`` is there when the optional ``implicit`` package is installed.
    """
    from ml.recommenders.als import ALSRecommender, implicit_available

    def item_model() -> Recommender:
        if n_items is not None and n_items > config.ease_max_items:
            return ItemKNNRecommender(neighbours=50, shrink=10.0, weighting="log")
        return EASERecommender(l2=200.0, weighting="log", max_items=config.ease_max_items)

    factories: dict[str, Callable[[], Recommender]] = {
        "popularity": lambda: PopularityRecommender(),
        "itemknn": lambda: ItemKNNRecommender(neighbours=50, shrink=10.0, weighting="log"),
        "ease": lambda: EASERecommender(l2=200.0, weighting="log", max_items=config.ease_max_items),
        "content": lambda: ContentRecommender(neighbours=50),
        "history": lambda: HistoryRecommender(),
        "hybrid": lambda: HybridRecommender(
            [
                (item_model(), 1.0),
                (HistoryRecommender(), 0.5),
                (ContentRecommender(neighbours=50), 0.1),
            ]
        ),
    }
    if implicit_available():
        factories["als"] = lambda: ALSRecommender()
    return factories
