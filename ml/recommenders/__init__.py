"""Recommenders behind one interface: ``fit`` / ``recommend`` / ``similar_items``.

=====================  ==========================================================
class                  what it is
=====================  ==========================================================
PopularityRecommender  recent popularity, optionally per segment (baseline, cold start)
ItemKNNRecommender     item-item cosine / co-occurrence, top-N neighbours (sparse)
EASERecommender        linear item-item, closed form (catalogs up to ``max_items``)
RP3betaRecommender     item-item random walk, popularity discounted (sparse)
ContentRecommender     TF-IDF over title, description, category, brand
HistoryRecommender     the customer's own recent interest (viewed, carted)
HybridRecommender      weighted blend of the above
=====================  ==========================================================
"""

from ml.recommenders.base import Recommender
from ml.recommenders.content import ContentRecommender, product_text
from ml.recommenders.ease import CatalogTooLarge, EASERecommender
from ml.recommenders.history import HistoryRecommender
from ml.recommenders.hybrid import HybridRecommender
from ml.recommenders.itemknn import ItemKNNRecommender
from ml.recommenders.popularity import PopularityRecommender
from ml.recommenders.rp3beta import RP3betaRecommender

__all__ = [
    "CatalogTooLarge",
    "ContentRecommender",
    "EASERecommender",
    "HistoryRecommender",
    "HybridRecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "RP3betaRecommender",
    "Recommender",
    "product_text",
]
