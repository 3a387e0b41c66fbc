"""The candidate models the job knows, by name, with their default hyper-parameters and
the grids the tuning (:mod:`ml.recommend.tuning`) tries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ml.recommend.config import RecommendConfig
from ml.recommenders import (
    ContentRecommender,
    EASERecommender,
    HistoryRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    RP3betaRecommender,
)

# the models that score an item from the items a customer interacted with
ITEM_MODELS = ("ease", "rp3beta", "itemknn")

# every name ``models`` may list (tailor.config.RECOMMEND_MODELS repeats it for validation)
FAMILIES = ("ease", "itemknn", "rp3beta", "content", "history", "hybrid", "als")

DEFAULTS: dict[str, dict[str, Any]] = {
    "popularity": {},
    "ease": {"l2": 200.0},
    "itemknn": {"neighbours": 50, "shrink": 10.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.5, "neighbours": 100},
    "content": {"neighbours": 50},
    "history": {},
    # item_model None: EASE when the catalog allows it, else item-kNN
    "hybrid": {"item_model": None, "history": 0.5, "content": 0.1},
    "als": {},
}

# Hyper-parameter grids: every combination is scored on the validation split, except
# for the axes in LADDERS, walked from the default towards the better neighbour while
# it improves (EASE's lambda: each fit inverts an items x items matrix). EASE is tuned
# only up to TUNE_EASE_ITEMS products; beyond, its default is used.
GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "ease": {"l2": (12.5, 50.0, 200.0, 800.0, 3200.0, 12800.0)},
    "itemknn": {"neighbours": (20, 50, 200), "shrink": (0.0, 10.0, 100.0)},
    "rp3beta": {"alpha": (0.5, 1.0), "beta": (0.2, 0.5)},
    "hybrid": {"history": (0.0, 0.25, 0.5, 1.0), "content": (0.0, 0.1)},
}
LADDERS = {"ease": "l2"}
TUNE_EASE_ITEMS = 3000


def item_model_for(config: RecommendConfig, n_items: int | None) -> str:
    """The item-item model a hybrid blends by default: EASE when the catalog allows it."""
    return "itemknn" if n_items is not None and n_items > config.ease_max_items else "ease"


def build(
    name: str,
    config: RecommendConfig,
    n_items: int | None = None,
    params: Mapping[str, Any] | None = None,
    tuned: Mapping[str, Mapping[str, Any]] | None = None,
) -> Recommender:
    """A model by name with ``params`` over its defaults; a hybrid's item model takes its
    own parameters from ``tuned`` (the chosen ones of every model)."""
    p = DEFAULTS.get(name, {}) | dict(params or {})
    tuned = tuned or {}
    if name == "popularity":
        return PopularityRecommender()
    if name == "ease":
        return EASERecommender(l2=float(p["l2"]), weighting="log", max_items=config.ease_max_items)
    if name == "itemknn":
        return ItemKNNRecommender(
            neighbours=int(p["neighbours"]), shrink=float(p["shrink"]), weighting="log"
        )
    if name == "rp3beta":
        return RP3betaRecommender(
            alpha=float(p["alpha"]), beta=float(p["beta"]), neighbours=int(p["neighbours"])
        )
    if name == "content":
        return ContentRecommender(neighbours=int(p["neighbours"]))
    if name == "history":
        return HistoryRecommender()
    if name == "hybrid":
        item = p["item_model"] or item_model_for(config, n_items)
        parts: list[tuple[Recommender, float]] = [
            (build(item, config, n_items, tuned.get(item)), 1.0)
        ]
        if p["history"]:
            parts.append((HistoryRecommender(), float(p["history"])))
        if p["content"]:
            parts.append((ContentRecommender(neighbours=50), float(p["content"])))
        return HybridRecommender(parts)
    if name == "als":
        from ml.recommenders.als import ALSRecommender

        return ALSRecommender()
    raise KeyError(name)


def known_models() -> set[str]:
    """The model names this installation can build (``als`` needs ``implicit``)."""
    from ml.recommenders.als import implicit_available

    return {"popularity", *FAMILIES} - (set() if implicit_available() else {"als"})


def candidate_models(
    config: RecommendConfig, n_items: int | None = None
) -> dict[str, Callable[[], Recommender]]:
    """Factories of every model the job knows, by name, with the default parameters."""
    return {name: (lambda name=name: build(name, config, n_items)) for name in known_models()}
