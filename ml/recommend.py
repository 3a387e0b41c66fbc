"""Product recommendations: evaluate candidate models on a temporal holdout, serve the best.

The nightly job (:func:`run`, a pipeline stage) for logical day D:

1. reads ``marts.user_item_interactions`` (one row per customer and product, score decayed
   to the customer's last interaction), the interaction events of the holdout window,
   ``marts.products``, ``marts.customers`` and the customers' segments;
2. evaluates every candidate model on a **temporal holdout**: models are fitted on the
   interactions before ``D + 1 - holdout_days`` (decayed to that cutoff) and must find
   what each customer put in the cart or bought in the holdout days (precision, recall,
   NDCG, MAP, hit rate @5/@10, catalog coverage, warm and cold customers apart), through
   the same exclusions, diversity rule and popularity fill the served lists go through;
3. chooses the model with the best NDCG@10; it falls back to popularity (and says so in
   ``ml.model_runs``) when that model does not beat popularity, or when its NDCG@10 fell by
   more than ``max_ndcg_drop`` against its previous run;
4. refits the served model on all interactions (decayed to the end of D) and writes
   ``ml.recommendations`` (top K per customer with a reason) and ``ml.similar_items``, in
   batches of customers so that memory does not grow with the customer count;
5. records every model's parameters and metrics in ``ml.model_runs`` (``ml.runs``).

Everything the job writes for D is replaced in one transaction, so a rerun of D gives the
same rows. The configuration lives in :class:`RecommendConfig`.

Interaction weights and the half-life are the dbt project's
(``tailor__interaction_weight_*``, ``tailor__interaction_half_life_days``), read from
``dbt_project.yml`` so that the evaluation weighs events exactly as the mart does.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.metrics import summarize
from ml.recommenders import (
    CatalogTooLarge,
    ContentRecommender,
    EASERecommender,
    HistoryRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    product_text,
)
from ml.recommenders.base import compact

TASK = "recommendation"

# Interaction kinds, weakest to strongest (the codes order them).
KINDS = {"view": 1, "cart": 2, "purchase": 3}

# Defaults of the dbt vars, used when dbt_project.yml cannot be read.
DBT_DEFAULTS = {
    "tailor__interaction_weight_view": 1.0,
    "tailor__interaction_weight_cart": 3.0,
    "tailor__interaction_weight_purchase": 5.0,
    "tailor__interaction_half_life_days": 30.0,
}


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class RecommendConfig:
    """Every option of the recommendation job, with its default.

    Attributes
    ----------
    k
        Recommendations per customer (``rank`` 1..k).
    max_per_category
        Diversity rule: at most this many products of one category in a customer's top k.
        Only when the catalog has too few categories to fill k products otherwise are
        more added, ranked after the others (every customer gets k products whenever
        the catalog has k active ones they have not bought: the quality gate's rule).
    diversity_column
        The ``marts.products`` column that defines a category for the rule.
    repeat_purchase_categories
        Category paths (prefixes: ``"Beauty"`` covers ``"Beauty > Skin care"``) whose
        products may be recommended again after a purchase (consumables). Every other
        bought product is excluded.
    exclude_purchased
        Exclude bought products at all (False: every category is a repeat-purchase one,
        e.g. for a wholesaler whose customers reorder the same products).
    exclude_viewed
        Also exclude products the customer only viewed or carted (default: keep them; a
        viewed product is a good recommendation).
    holdout_days
        Days at the end of the data the evaluation holds out.
    relevant_kinds
        Holdout interactions that count as a correct recommendation.
    eval_ks
        Cut-offs the evaluation reports (the choice uses NDCG@10).
    candidate_pool
        Candidates per customer taken from a model before exclusions and diversity.
    similar_items
        Similar products written per product.
    batch_size
        Customers recommended at once when writing (bounds memory).
    min_holdout_users
        Fewer evaluable customers than this: no evaluation, popularity is served.
    max_eval_users
        Evaluate on a fixed random sample of this many holdout customers when there are
        more (None: all); the sample is the same for every model.
    max_ndcg_drop
        Relative drop of the chosen model's NDCG@10 against its previous run that makes
        the run fall back to popularity.
    min_lift
        Relative NDCG@10 lift over popularity the chosen model needs (0: any lift).
    require_personalization_consent
        Customers without personalization consent get the global popular list, scored
        without their history or segment (their bought products are still left out).
    retention_days
        Run dates of recommendations / similar items kept behind the newest (None: all).
    models
        Candidate model names (keys of :func:`candidate_models`); popularity is always
        evaluated as the baseline.
    ease_max_items
        EASE is skipped for larger catalogs (its memory grows with items squared).
    segment_tables
        Where a customer's segment is looked up, first found wins:
        ``ml.customer_segments`` (latest run on or before D), then the RFM segment.
    """

    k: int = 10
    max_per_category: int = 3
    diversity_column: str = "category_path"
    repeat_purchase_categories: tuple[str, ...] = ()
    exclude_purchased: bool = True
    exclude_viewed: bool = False
    holdout_days: int = 7
    relevant_kinds: tuple[str, ...] = ("cart", "purchase")
    eval_ks: tuple[int, ...] = (5, 10)
    candidate_pool: int = 50
    similar_items: int = 10
    batch_size: int = 20_000
    min_holdout_users: int = 20
    max_eval_users: int | None = 50_000
    max_ndcg_drop: float = 0.10
    min_lift: float = 0.0
    require_personalization_consent: bool = True
    retention_days: int | None = 14
    models: tuple[str, ...] = ("itemknn", "ease", "content", "hybrid")
    ease_max_items: int = 10_000
    segment_tables: tuple[str, ...] = ("ml.customer_segments", "marts.customer_rfm")
    weights: Mapping[str, float] = field(default_factory=dict)
    half_life_days: float | None = None

    def with_dbt_vars(self, dbt_project: Path | None) -> RecommendConfig:
        """Fill ``weights`` and ``half_life_days`` from the dbt project's vars."""
        vars_ = read_dbt_vars(dbt_project)
        weights = dict(self.weights) or {
            kind: float(vars_[f"tailor__interaction_weight_{kind}"]) for kind in KINDS
        }
        half_life = self.half_life_days or float(vars_["tailor__interaction_half_life_days"])
        return replace(self, weights=weights, half_life_days=half_life)


def read_dbt_vars(dbt_project: Path | None) -> dict[str, float]:
    """The interaction weights and half-life the dbt project uses."""
    out = dict(DBT_DEFAULTS)
    path = Path(dbt_project) / "dbt_project.yml" if dbt_project else None
    if path and path.exists():
        import yaml

        vars_ = (yaml.safe_load(path.read_text()) or {}).get("vars", {}) or {}
        for key in out:
            if key in vars_:
                out[key] = float(vars_[key])
    return out


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


# --------------------------------------------------------------------------- data


@dataclass
class RecData:
    """What the job knows, with customers and products as integer indices.

    ``interactions`` has one row per (user, item) with ``score`` decayed to ``as_of``,
    ``purchases`` (count), ``kind`` (strongest interaction code) and ``first_at``;
    ``holdout`` one row per interaction event at or after ``as_of - holdout_days``
    (``user``, ``item``, ``kind``, ``at``).
    """

    customer_ids: np.ndarray
    products: pd.DataFrame
    interactions: pd.DataFrame
    holdout: pd.DataFrame
    as_of: dt.datetime
    groups: np.ndarray
    group_names: list[str]
    servable: np.ndarray
    consent: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.customer_ids)

    @property
    def n_items(self) -> int:
        return len(self.products)

    @property
    def allowed(self) -> np.ndarray:
        return self.products["is_recommendable"].to_numpy(dtype=bool)


def _matrix(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    m = sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


def full_matrix(data: RecData) -> sp.csr_matrix:
    """All interactions, weighted and decayed to ``as_of``."""
    it = data.interactions
    return _matrix(
        it["user"].to_numpy(),
        it["item"].to_numpy(),
        it["score"].to_numpy(),
        (data.n_users, data.n_items),
    )


def kind_matrix(data: RecData) -> sp.csr_matrix:
    """The strongest interaction kind (1 view, 2 cart, 3 purchase) per user and item."""
    it = data.interactions
    return _matrix(
        it["user"].to_numpy(),
        it["item"].to_numpy(),
        it["kind"].to_numpy(),
        (data.n_users, data.n_items),
    )


def decay(ages_days: np.ndarray, half_life: float) -> np.ndarray:
    return np.power(0.5, np.asarray(ages_days, dtype=np.float64) / half_life)


def train_matrix(data: RecData, cutoff: dt.datetime, config: RecommendConfig) -> sp.csr_matrix:
    """The interactions before ``cutoff``, decayed to ``cutoff``.

    Derived from the decayed totals and the holdout events, not from all events:
    ``sum_{t < c} w 2^-(c-t)/h = 2^((as_of-c)/h) * (total - sum_{t >= c} w 2^-(as_of-t)/h)``.
    """
    h = float(config.half_life_days or DBT_DEFAULTS["tailor__interaction_half_life_days"])
    it = data.interactions
    before = (it["first_at"] < cutoff).to_numpy()
    ho = data.holdout[data.holdout["at"] >= cutoff]
    w = ho["kind"].map({code: config.weights.get(kind, 1.0) for kind, code in KINDS.items()})
    age = (data.as_of - ho["at"]).dt.total_seconds().to_numpy() / 86400.0
    recent = _matrix(
        ho["user"].to_numpy(),
        ho["item"].to_numpy(),
        w.to_numpy() * decay(age, h),
        (data.n_users, data.n_items),
    )
    total = _matrix(
        it["user"].to_numpy()[before],
        it["item"].to_numpy()[before],
        it["score"].to_numpy()[before],
        (data.n_users, data.n_items),
    )
    recent = recent.multiply(total.astype(bool)).tocsr()  # pairs first seen in the holdout are gone
    X = (total - recent).tocsr() * np.float32(
        2.0 ** ((data.as_of - cutoff).total_seconds() / 86400.0 / h)
    )
    X.data[X.data < 1e-6] = 0.0  # rounding left-overs of pairs the holdout explains fully
    X.eliminate_zeros()
    return X.tocsr()


def purchase_matrix(data: RecData, before: dt.datetime | None = None) -> sp.csr_matrix:
    """Products each customer bought (before ``before``, when given)."""
    it = data.interactions
    bought = it[it["purchases"] > 0]
    counts = _matrix(
        bought["user"].to_numpy(),
        bought["item"].to_numpy(),
        bought["purchases"].to_numpy(),
        (data.n_users, data.n_items),
    )
    if before is not None:
        ho = data.holdout[
            (data.holdout["at"] >= before) & (data.holdout["kind"] == KINDS["purchase"])
        ]
        later = _matrix(
            ho["user"].to_numpy(), ho["item"].to_numpy(), np.ones(len(ho)), counts.shape
        )
        counts = (counts - later).tocsr()
        counts.data[counts.data < 0.5] = 0
        counts.eliminate_zeros()
    counts.data[:] = 1.0
    return counts


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


# --------------------------------------------------------------------------- evaluation


@dataclass
class ModelResult:
    name: str
    status: str  # chosen | candidate | baseline | fallback | skipped | failed
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str | None = None


@dataclass
class Evaluation:
    results: list[ModelResult]
    best: str | None  # the candidate (not popularity) with the best NDCG@10
    served: str  # the model the run serves
    fallback: bool = False
    message: str | None = None
    data_window: dict[str, Any] = field(default_factory=dict)

    def result(self, name: str) -> ModelResult | None:
        return next((r for r in self.results if r.name == name), None)


def holdout_truth(
    data: RecData, cutoff: dt.datetime, excluded: sp.csr_matrix, config: RecommendConfig
) -> sp.csr_matrix:
    """Relevant holdout interactions per user: what the lists should contain.

    Products the rules would never show (bought before, inactive) are not counted: a
    model cannot be right about them.
    """
    codes = [KINDS[k] for k in config.relevant_kinds]
    ho = data.holdout[(data.holdout["at"] >= cutoff) & data.holdout["kind"].isin(codes)]
    truth = _matrix(
        ho["user"].to_numpy(), ho["item"].to_numpy(), np.ones(len(ho)), (data.n_users, data.n_items)
    )
    truth.data[:] = 1.0
    truth = (truth @ sp.diags(data.allowed.astype(np.float32))).tocsr()
    truth = (truth - truth.multiply(excluded)).tocsr()
    truth.eliminate_zeros()
    return truth


def evaluate(
    data: RecData,
    config: RecommendConfig,
    *,
    previous_ndcg: Mapping[str, float] | None = None,
    factories: Mapping[str, Callable[[], Recommender]] | None = None,
    log: Callable[[str], None] | None = None,
) -> Evaluation:
    """Fit every candidate on the training window and score it on the holdout."""
    config = _with_weights(config)
    factories = dict(factories or candidate_models(config, data.n_items))
    cutoff = data.as_of - dt.timedelta(days=config.holdout_days)
    X = train_matrix(data, cutoff, config)
    bought = purchase_matrix(data, before=cutoff)
    excluded = exclusions(
        bought,
        repeat_purchase_mask(
            data.products,
            config.repeat_purchase_categories,
            exclude_purchased=config.exclude_purchased,
        ),
    )
    truth = holdout_truth(data, cutoff, excluded, config)
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    n_holdout_users = len(users)
    if config.max_eval_users and len(users) > config.max_eval_users:
        users = np.sort(
            np.random.default_rng(0).choice(users, config.max_eval_users, replace=False)
        )
    n_list = max(max(config.eval_ks), config.k)
    window = {
        "as_of": data.as_of,
        "cutoff": cutoff,
        "holdout_days": config.holdout_days,
        "relevant_kinds": list(config.relevant_kinds),
        "train_users": int((np.diff(X.indptr) > 0).sum()),
        "train_items": int((np.diff(X.tocsc().indptr) > 0).sum()),
        "train_pairs": int(X.nnz),
        "holdout_users": n_holdout_users,
        "evaluated_users": len(users),
        "holdout_pairs": int(truth[users].nnz),
        "catalog_items": int(data.allowed.sum()),
    }
    if len(users) < config.min_holdout_users:
        msg = f"{len(users)} customers with holdout interactions; need {config.min_holdout_users}"
        results = [ModelResult("popularity", "fallback", message=f"no evaluation: {msg}")]
        results += [ModelResult(name, "skipped", message=msg) for name in config.models]
        return Evaluation(results, None, "popularity", True, f"no evaluation: {msg}", window)
    hist = X[users]
    warm = np.diff(hist.indptr) > 0
    groups = data.groups
    categories = category_codes(data.products, config.diversity_column)
    item_text = _item_text(data.products)
    results: list[ModelResult] = []
    popularity: PopularityRecommender | None = None
    fitted: dict[str, Recommender] = {}  # a hybrid reuses the candidates fitted on X
    for name in ("popularity", *[m for m in config.models if m != "popularity"]):
        if name not in factories:
            results.append(ModelResult(name, "failed", message=f"unknown model {name!r}"))
            continue
        model = factories[name]()
        model.name = name
        started = time.perf_counter()
        try:
            model.fit(X, user_groups=groups, item_text=item_text, fitted=fitted)
        except CatalogTooLarge as exc:
            results.append(ModelResult(name, "skipped", _params(model), message=str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one failing candidate must not stop the run
            results.append(
                ModelResult(name, "failed", _params(model), message=f"{type(exc).__name__}: {exc}")
            )
            continue
        fit_s = time.perf_counter() - started
        fitted.setdefault(repr(model), model)
        if name == "popularity":
            popularity = model  # type: ignore[assignment]
        if popularity is None:
            raise RuntimeError("popularity must be evaluated first: it fills every list")
        started = time.perf_counter()
        ids, _, sources = ranked_lists(
            model,
            popularity,
            hist,
            exclude=excluded[users],
            allowed=data.allowed,
            categories=categories,
            groups=groups[users],
            config=config,
            n=n_list,
        )
        rec_s = time.perf_counter() - started
        metrics = summarize(
            truth[users],
            ids,
            config.eval_ks,
            catalog_size=int(data.allowed.sum()),
            slices={"warm": warm, "cold": ~warm},
        )
        metrics["fill_share"] = float((sources[ids >= 0] == 1).mean()) if (ids >= 0).any() else 1.0
        metrics["fit_seconds"] = round(fit_s, 3)
        metrics["recommend_seconds"] = round(rec_s, 3)
        status = "baseline" if name == "popularity" else "candidate"
        results.append(ModelResult(name, status, _params(model), metrics))
        if log:
            log(
                f"{name:<12} ndcg@10={metrics.get('ndcg@10', 0):.4f} fit={fit_s:.1f}s rec={rec_s:.1f}s"
            )
    return choose(results, config, previous_ndcg or {}, window)


def choose(
    results: list[ModelResult],
    config: RecommendConfig,
    previous_ndcg: Mapping[str, float],
    window: dict[str, Any] | None = None,
) -> Evaluation:
    """Pick the best model by NDCG@10 and apply the fallback rules (statuses are set).

    The best candidate is served unless
    * it does not beat popularity (by ``min_lift``): popularity is served, flagged, also
      when popularity is simply the best model (the run is not personalized: worth a look);
    * its NDCG@10 fell by more than ``max_ndcg_drop`` against its own latest earlier run:
      popularity is served, flagged. The next run compares against this run's NDCG, so a
      lasting drop (a changed catalog, a new season) is flagged for one night, not forever.
    """
    scored = [r for r in results if r.status in ("baseline", "candidate")]
    base = next((r for r in scored if r.name == "popularity"), None)
    if base is None:
        for r in results:
            if r.name == "popularity":
                r.status = "fallback"
        return Evaluation(
            results, None, "popularity", True, "popularity was not evaluated", window or {}
        )
    base_ndcg = base.metrics.get("ndcg@10", 0.0)
    for r in scored:
        r.metrics["ndcg@10_lift_vs_popularity"] = (
            r.metrics.get("ndcg@10", 0.0) / base_ndcg - 1.0 if base_ndcg > 0 else None
        )
        if r.name in previous_ndcg:
            r.metrics["previous_ndcg@10"] = previous_ndcg[r.name]
    candidates = [r for r in scored if r is not base]
    if not candidates:
        message = "no candidate model could be evaluated"
        base.status, base.message = "fallback", f"served: {message}"
        return Evaluation(results, None, "popularity", True, message, window or {})
    # ties go to the earlier candidate in the configured order
    best = max(candidates, key=lambda r: r.metrics.get("ndcg@10", 0.0))
    best_ndcg = best.metrics.get("ndcg@10", 0.0)
    message = None
    if best_ndcg <= base_ndcg * (1.0 + config.min_lift):
        message = (
            f"{best.name} NDCG@10 {best_ndcg:.4f} does not beat popularity {base_ndcg:.4f}"
            + (f" by {config.min_lift:.0%}" if config.min_lift else "")
        )
    elif best.name in previous_ndcg and previous_ndcg[best.name] > 0:
        prev = previous_ndcg[best.name]
        drop = 1.0 - best_ndcg / prev
        if drop > config.max_ndcg_drop:
            message = (
                f"{best.name} NDCG@10 {best_ndcg:.4f} dropped {drop:.0%} from {prev:.4f} in its "
                f"previous run (limit {config.max_ndcg_drop:.0%})"
            )
    if message:
        base.status = "fallback"
        base.message = f"served instead of {best.name}: {message}"
        best.message = f"best candidate by NDCG@10 but not served: {message}"
        return Evaluation(results, best.name, "popularity", True, message, window or {})
    best.status = "chosen"
    base.status = "baseline"
    return Evaluation(results, best.name, best.name, False, None, window or {})


def _params(model: Recommender) -> dict[str, Any]:
    try:
        params = model.get_params()
    except Exception:  # noqa: BLE001 - parameters are informative only
        return {}
    return {
        k: v
        for k, v in params.items()
        if isinstance(v, str | int | float | bool | list | dict | None)
    }


def _item_text(products: pd.DataFrame) -> list[str]:
    cols = [
        products.get(c, pd.Series([None] * len(products)))
        for c in ("title", "description", "category_path", "brand")
    ]
    return [product_text(t, d, c, b) for t, d, c, b in zip(*cols, strict=True)]


def _with_weights(config: RecommendConfig) -> RecommendConfig:
    if config.weights and config.half_life_days:
        return config
    return config.with_dbt_vars(None)


# --------------------------------------------------------------------------- warehouse


RECOMMENDATIONS_DDL = """
create table if not exists ml.recommendations (
    customer_id varchar not null,
    rank integer not null,              -- 1 = best, up to the configured k
    product_id varchar not null,
    score double not null,              -- the producing model's score (compare within one model only)
    model varchar not null,             -- the model that proposed the product (the served model, or popularity as fill and cold start)
    reason varchar not null,            -- shown to people: because you viewed "X" | popular in your segment | ...
    reason_code varchar not null,       -- viewed | added_to_cart | bought (reason_product_id) | viewed_before | in_cart | bought_before | for_you | popular_in_segment | popular
    reason_product_id varchar,          -- the customer's product behind a 'because you ...' reason
    run_id varchar not null,
    run_date date not null
)
"""

SIMILAR_ITEMS_DDL = """
create table if not exists ml.similar_items (
    product_id varchar not null,
    rank integer not null,              -- 1 = most similar
    similar_product_id varchar not null,
    score double not null,              -- the model's similarity (compare within one model only)
    model varchar not null,             -- the served model, or content (TF-IDF) where it knows too few neighbours
    run_id varchar not null,
    run_date date not null
)
"""


def ensure_tables(con: Any) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(RECOMMENDATIONS_DDL)
    con.execute(SIMILAR_ITEMS_DDL)


def _exists(con: Any, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def _columns(con: Any, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return {r[0].lower() for r in rows}


INTERACTION_EVENTS_SQL = """
-- The interaction events of marts.user_item_interactions, one row per event
-- (the mart's event_signals and order_signals).
select
    events.customer_id,
    events.product_id,
    case
        when events.event_name = 'Product Viewed' then 'view'
        when events.event_name = 'Product Added' then 'cart'
        else 'purchase'
    end as interaction_type,
    events.event_at as interacted_at
from intermediate.int_events_stitched as events
left join staging.stg_shop__orders as orders
    on events.order_id = orders.order_id
where events.customer_id is not null
    and events.product_id is not null
    and (
        events.event_name in ('Product Viewed', 'Product Added')
        or (events.event_name = 'Order Completed' and orders.order_id is null)
    )
union all
select
    orders.customer_id,
    items.product_id,
    'purchase' as interaction_type,
    orders.ordered_at as interacted_at
from intermediate.int_order_items_classified as items
inner join staging.stg_shop__orders as orders
    on items.order_id = orders.order_id
where items.is_product
    and orders.customer_id is not null
    and orders.status = 'completed'
    and items.quantity > 0
"""


def interaction_events_sql(con: Any) -> str:
    """SQL for the interaction events: ``marts.user_item_events`` when the dbt project has
    it, else the same selection from the intermediate models."""
    if _exists(con, "marts.user_item_events"):
        return "select customer_id, product_id, interaction_type, interacted_at from marts.user_item_events"
    return INTERACTION_EVENTS_SQL


def load_data(
    con: Any, day: dt.date, config: RecommendConfig, *, events_sql: str | None = None
) -> RecData:
    """Read the warehouse as of the end of ``day``.

    Customer and product ids are mapped to integer indices inside DuckDB, so that only
    integer arrays cross into Python for the interactions.
    """
    config = config if config.half_life_days else config.with_dbt_vars(None)
    as_of = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    h = float(config.half_life_days)
    ho_start = as_of - dt.timedelta(days=config.holdout_days)
    has_customers = _exists(con, "marts.customers")
    cust_cols = _columns(con, "marts.customers") if has_customers else set()
    consent_expr = (
        "coalesce(c.has_personalization_consent, false)"
        if "has_personalization_consent" in cust_cols
        else "true"
    )
    con.execute("drop table if exists _rec_customers")
    con.execute(
        f"""
        create temp table _rec_customers as
        with known as (
            {"select customer_id, " + consent_expr + " as consent from marts.customers as c" if has_customers else "select null::varchar as customer_id, true as consent where false"}
        ),
        seen as (
            select distinct customer_id from marts.user_item_interactions
        ),
        all_ids as (
            select customer_id from known union select customer_id from seen
        )
        select
            (row_number() over (order by all_ids.customer_id) - 1)::integer as idx,
            all_ids.customer_id,
            known.customer_id is not null as servable,
            coalesce(known.consent, false) as consent
        from all_ids
        left join known on all_ids.customer_id = known.customer_id
        """
    )
    prod_cols = _columns(con, "marts.products")

    def col(name: str, cast: str = "varchar") -> str:
        return f"p.{name}" if name in prod_cols else f"null::{cast} as {name}"

    is_product = "coalesce(p.is_product, true)" if "is_product" in prod_cols else "true"
    is_active = "coalesce(p.is_active, true)" if "is_active" in prod_cols else "true"
    con.execute("drop table if exists _rec_products")
    con.execute(
        f"""
        create temp table _rec_products as
        with catalog as (
            select
                p.product_id, {col("title")}, {col("description")}, {col("category_path")},
                {col("category_level_1")}, {col("brand")},
                {is_active} as is_active, {is_product} as is_product
            from marts.products as p
        ),
        unknown as (
            select distinct i.product_id
            from marts.user_item_interactions as i
            anti join catalog on i.product_id = catalog.product_id
        ),
        all_products as (
            select *, true as is_known from catalog
            union all
            select product_id, null, null, null, null, null, false, false, false from unknown
        )
        select
            (row_number() over (order by product_id) - 1)::integer as idx,
            *,
            is_known and is_active and is_product as is_recommendable
        from all_products
        """
    )
    customers = con.execute(
        "select customer_id, servable, consent from _rec_customers order by idx"
    ).df()
    products = con.execute("select * exclude (idx) from _rec_products order by idx").df()
    interactions = con.execute(
        f"""
        -- every row of the mart as built for the day, also a pair whose timestamps run
        -- past the end of the day (clock skew, timezones): the quality gate excludes
        -- purchases by the same rows
        with anchored as (
            select *, max(last_interaction_at) over (partition by customer_id) as customer_last
            from marts.user_item_interactions
        )
        select
            c.idx as user,
            p.idx as item,
            -- the mart decays to the customer's latest interaction; decay on to as_of
            interaction_score * power(
                0.5, greatest(date_diff('second', customer_last, ?::timestamp), 0) / 86400.0 / {h}
            ) as score,
            purchase_count as purchases,
            case when purchase_count > 0 then 3 when cart_count > 0 then 2 else 1 end::tinyint as kind,
            first_interaction_at as first_at
        from anchored
        join _rec_customers as c on anchored.customer_id = c.customer_id
        join _rec_products as p on anchored.product_id = p.product_id
        """,
        [as_of],
    ).df()
    sql = events_sql or interaction_events_sql(con)
    holdout = con.execute(
        f"""
        with e as ({sql})
        select
            c.idx as user,
            p.idx as item,
            case e.interaction_type when 'view' then 1 when 'cart' then 2 else 3 end::tinyint as kind,
            e.interacted_at as at
        from e
        join _rec_customers as c on e.customer_id = c.customer_id
        join _rec_products as p on e.product_id = p.product_id
        where e.interacted_at >= ? and e.interacted_at < ?
        """,
        [ho_start, as_of],
    ).df()
    groups, names = _segments(con, customers, day, config)
    return RecData(
        customer_ids=customers["customer_id"].to_numpy(dtype=object),
        products=products,
        interactions=interactions,
        holdout=holdout,
        as_of=as_of,
        groups=groups,
        group_names=names,
        servable=customers["servable"].to_numpy(dtype=bool),
        consent=customers["consent"].to_numpy(dtype=bool),
    )


def _segments(
    con: Any, customers: pd.DataFrame, day: dt.date, config: RecommendConfig
) -> tuple[np.ndarray, list[str]]:
    """A segment code per customer (-1 unknown) from the first segment table found."""
    groups = np.full(len(customers), -1, dtype=np.int32)
    for table in config.segment_tables:
        if not _exists(con, table):
            continue
        cols = _columns(con, table)
        if "segment_name" in cols and "run_date" in cols:
            seg = con.execute(
                f"""
                select customer_id, segment_name as segment from {table}
                where run_date = (select max(run_date) from {table} where run_date <= ?)
                """,
                [day],
            ).df()
        elif "rfm_segment" in cols:
            seg = con.execute(f"select customer_id, rfm_segment as segment from {table}").df()
        else:
            continue
        if seg.empty:
            continue
        codes, names = pd.factorize(seg["segment"])
        lookup = pd.Series(codes, index=seg["customer_id"])
        lookup = lookup[~lookup.index.duplicated()]
        groups = lookup.reindex(customers["customer_id"]).fillna(-1).to_numpy(dtype=np.int32)
        return groups, [str(n) for n in names]
    return groups, []


def previous_ndcg(con: Any, day: dt.date) -> dict[str, float]:
    """Each model's NDCG@10 in its latest earlier run."""
    if not _exists(con, "ml.model_runs"):
        return {}
    rows = con.execute(
        """
        select model, try_cast(json_extract_string(metrics, '$."ndcg@10"') as double) as ndcg
        from ml.model_runs
        where task = ? and run_date < ?
            and json_extract_string(metrics, '$."ndcg@10"') is not null
        qualify row_number() over (partition by model order by run_date desc) = 1
        """,
        [TASK, day],
    ).fetchall()
    return {m: float(v) for m, v in rows if v is not None}


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


def fit_served(
    data: RecData, name: str, config: RecommendConfig, X: sp.csr_matrix | None = None
) -> Served:
    """Fit the served model, popularity (by segment and global) and content on all data."""
    factories = candidate_models(config, data.n_items)
    X = full_matrix(data) if X is None else X
    item_text = _item_text(data.products)
    started = time.perf_counter()
    pop = PopularityRecommender().fit(X, user_groups=data.groups)
    glob = PopularityRecommender().fit(X)
    fitted: dict[str, Recommender] = {}
    if name == "popularity":
        model: Recommender = pop
    else:
        model = factories[name]()
        model.name = name
        model.fit(X, user_groups=data.groups, item_text=item_text, fitted=fitted)
    content: ContentRecommender | None = None
    if isinstance(model, ContentRecommender):
        content = model
    elif any(isinstance(p, str) and p for p in item_text):
        similar = ContentRecommender(neighbours=max(50, config.similar_items * 2))
        content = fitted.get(repr(similar)) or similar.fit(X, item_text=item_text)
    return Served(model, pop, glob, content, time.perf_counter() - started)


def recommendation_batches(
    data: RecData, served: Served, config: RecommendConfig, X: sp.csr_matrix | None = None
) -> Iterator[pd.DataFrame]:
    """The rows of ``ml.recommendations`` (indices, not ids yet), one batch of customers at
    a time: ``user, rank, item, score, model, reason_code, reason_item``."""
    X = full_matrix(data) if X is None else X
    kinds = kind_matrix(data)
    excluded = exclusions(
        purchase_matrix(data),
        repeat_purchase_mask(
            data.products,
            config.repeat_purchase_categories,
            exclude_purchased=config.exclude_purchased,
        ),
    )
    categories = category_codes(data.products, config.diversity_column)
    allowed = data.allowed
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
            p_ids, p_scores, p_src = ranked_lists(
                served.model,
                served.popularity,
                hist,
                exclude=excluded[up],
                allowed=allowed,
                categories=categories,
                groups=data.groups[up],
                config=config,
                n=config.k,
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
            g_ids, g_scores, g_src = ranked_lists(
                served.global_popularity,
                served.global_popularity,
                anon,
                exclude=excluded[ua],
                allowed=allowed,
                categories=categories,
                groups=None,
                config=config,
                n=config.k,
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


def write_run(
    con: Any,
    data: RecData,
    day: dt.date,
    evaluation: Evaluation,
    served: Served,
    config: RecommendConfig,
    *,
    started_at: dt.datetime,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Replace the day's rows of every recommendation table, in one transaction."""
    from ml.runs import record_model_run, run_id, utcnow

    ensure_tables(con)
    rid = run_id(TASK, day)
    X = full_matrix(data)
    _id_tables(con, data)
    con.execute("begin transaction")
    try:
        con.execute("delete from ml.recommendations where run_date = ?", [day])
        con.execute("delete from ml.similar_items where run_date = ?", [day])
        con.execute("delete from ml.model_runs where run_id = ?", [rid])
        n_rows = 0
        rec_started = time.perf_counter()
        for batch in recommendation_batches(data, served, config, X):
            con.register("_rec_batch", batch)
            con.execute(
                f"""
                insert into ml.recommendations
                select
                    c.customer_id, b.rank, p.product_id, b.score, b.model,
                    case
                        when b.reason_code in ('bought', 'added_to_cart', 'viewed') then
                            {_reason_sql("b.reason_code", "a.title", "a.product_id")}
                        else case b.reason_code
                            {" ".join(f"when '{c}' then '{t}'" for c, t in REASONS.items() if c not in ("bought", "added_to_cart", "viewed"))}
                            else b.reason_code
                        end
                    end,
                    b.reason_code,
                    a.product_id,
                    ?, ?
                from _rec_batch as b
                join _rec_customers as c on b."user" = c.idx
                join _rec_products as p on b.item = p.idx
                left join _rec_products as a on b.reason_item = a.idx
                """,
                [rid, day],
            )
            con.unregister("_rec_batch")
            n_rows += len(batch)
            if log:
                log(f"recommendations: {n_rows:,} rows")
        rec_seconds = time.perf_counter() - rec_started
        sim = similar_item_rows(data, served, config)
        if len(sim):
            con.register("_sim_batch", sim)
            con.execute(
                """
                insert into ml.similar_items
                select p.product_id, s.rank, q.product_id, s.score, s.model, ?, ?
                from _sim_batch as s
                join _rec_products as p on s.item = p.idx
                join _rec_products as q on s.similar_item = q.idx
                """,
                [rid, day],
            )
            con.unregister("_sim_batch")
        finished = utcnow()
        data_start = data.interactions["first_at"].min() if len(data.interactions) else None
        served_name = evaluation.served
        for r in evaluation.results:
            metrics = dict(r.metrics)
            if r.name == served_name:
                metrics |= {
                    "served_fit_seconds": round(served.fit_seconds, 3),
                    "served_recommend_seconds": round(rec_seconds, 3),
                    "recommendation_rows": n_rows,
                    "similar_item_rows": len(sim),
                }
            record_model_run(
                con,
                run_id=rid,
                model=r.name,
                task=TASK,
                run_date=day,
                status=r.status,
                params=r.params
                | ({"config": _config_dict(config)} if r.name == served_name else {}),
                metrics=metrics,
                data_window=evaluation.data_window,
                data_start=None
                if data_start is None or pd.isna(data_start)
                else pd.Timestamp(data_start).floor("us").to_pydatetime(),
                data_end=data.as_of,
                message=r.message,
                started_at=started_at,
                finished_at=finished,
                replace=False,
            )
        if config.retention_days is not None:
            con.execute(
                """
                delete from ml.recommendations
                where run_date < (select max(run_date) from ml.recommendations) - ?::integer
                """,
                [config.retention_days],
            )
            con.execute(
                """
                delete from ml.similar_items
                where run_date < (select max(run_date) from ml.similar_items) - ?::integer
                """,
                [config.retention_days],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return {
        "recommendation_rows": n_rows,
        "similar_item_rows": len(sim),
        "recommend_seconds": round(rec_seconds, 2),
    }


def _id_tables(con: Any, data: RecData) -> None:
    """Temp tables mapping the integer indices back to ids (and titles, for reasons)."""
    customers = pd.DataFrame(
        {"idx": np.arange(data.n_users, dtype=np.int32), "customer_id": data.customer_ids}
    )
    titles = (
        data.products["title"] if "title" in data.products else pd.Series([None] * data.n_items)
    )
    products = pd.DataFrame(
        {
            "idx": np.arange(data.n_items, dtype=np.int32),
            "product_id": data.products["product_id"].to_numpy(),
            "title": titles.to_numpy(),
        }
    )
    for name, frame in (("_rec_customers", customers), ("_rec_products", products)):
        con.register("_rec_frame", frame)
        con.execute(f"create or replace temp table {name} as select * from _rec_frame")
        con.unregister("_rec_frame")


def _reason_sql(code: str, title: str, product_id: str) -> str:
    verb = (
        f"case {code} when 'bought' then 'because you bought ' "
        f"when 'added_to_cart' then 'because you added ' else 'because you viewed ' end"
    )
    tail = f"case when {code} = 'added_to_cart' then ' to your cart' else '' end"
    return f"{verb} || '\"' || coalesce({title}, {product_id}) || '\"' || {tail}"


def _config_dict(config: RecommendConfig) -> dict[str, Any]:
    d = asdict(config)
    d["weights"] = dict(config.weights)
    return d


def record_skipped(con: Any, day: dt.date, message: str, started_at: dt.datetime) -> None:
    from ml import runs

    ensure_tables(con)
    runs.record_skipped(
        con,
        task=TASK,
        model="popularity",
        run_date=day,
        message=message,
        started_at=started_at,
        clear=("ml.recommendations", "ml.similar_items"),
    )


def recommend_day(
    con: Any,
    day: dt.date,
    config: RecommendConfig | None = None,
    *,
    dbt_project: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate, choose, fit and write the recommendations of ``day`` on an open
    connection. Returns a summary for the run log."""
    from ml.runs import utcnow

    started = utcnow()
    config = (config or RecommendConfig()).with_dbt_vars(dbt_project)
    for table in ("marts.user_item_interactions", "marts.products"):
        if not _exists(con, table):
            msg = f"{table} does not exist"
            record_skipped(con, day, msg, started)
            return {"status": "skipped", "message": msg}
    data = load_data(con, day, config)
    if data.interactions.empty or not data.allowed.any():
        msg = "no interactions" if data.interactions.empty else "no recommendable products"
        record_skipped(con, day, msg, started)
        return {"status": "skipped", "message": msg}
    evaluation = evaluate(data, config, previous_ndcg=previous_ndcg(con, day), log=log)
    served = fit_served(data, evaluation.served, config)
    written = write_run(con, data, day, evaluation, served, config, started_at=started, log=log)
    for t in ("_rec_customers", "_rec_products"):
        con.execute(f"drop table if exists {t}")
    metrics = {
        r.name: round(r.metrics.get("ndcg@10", 0.0), 4) for r in evaluation.results if r.metrics
    }
    global_list = (
        int((data.servable & ~data.consent).sum()) if config.require_personalization_consent else 0
    )
    return {
        "status": "fallback" if evaluation.fallback else "chosen",
        # customers without a personalization consent: served the global list, not their own
        "global_list_customers": global_list,
        "served": evaluation.served,
        "best": evaluation.best,
        "message": evaluation.message,
        "ndcg@10": metrics,
        "holdout_users": evaluation.data_window.get("holdout_users"),
        **written,
    }


def latest_interaction_day(con: Any) -> dt.date | None:
    """The day of the latest interaction in the mart (the CLI's default day)."""
    if not _exists(con, "marts.user_item_interactions"):
        return None
    (last,) = con.execute(
        "select max(last_interaction_at) from marts.user_item_interactions"
    ).fetchone()
    return None if last is None else last.date()


def evaluate_day(
    con: Any,
    day: dt.date,
    config: RecommendConfig | None = None,
    *,
    dbt_project: Path | None = None,
    models: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Evaluation, RecData]:
    """The evaluation of ``day`` without writing anything (``tailor recommend
    --evaluate-only``, ``benchmarks/recommend_quality.py``). ``models``: candidates to
    compare (default: the configured ones)."""
    config = (config or RecommendConfig()).with_dbt_vars(dbt_project)
    if models is not None:
        config = replace(config, models=tuple(m for m in models if m != "popularity"))
    data = load_data(con, day, config)
    return evaluate(data, config, log=log), data


REPORT_METRICS = (
    "ndcg@10",
    "precision@10",
    "recall@10",
    "map@10",
    "hit_rate@10",
    "coverage@10",
    "warm.ndcg@10",
    "cold.ndcg@10",
    "fit_seconds",
)


def report(con: Any, day: dt.date) -> pd.DataFrame:
    """One row per model of the recommendation run for ``day``: status, the metrics of
    :data:`REPORT_METRICS` and the message (what ``tailor recommend`` prints)."""
    if not _exists(con, "ml.model_runs"):
        return pd.DataFrame(columns=["model", "status", *REPORT_METRICS, "message"])
    rows = con.execute(
        "select model, status, metrics, message from ml.model_runs where task = ? and run_date = ? order by started_at, model",
        [TASK, day],
    ).fetchall()
    import json

    out = []
    for model, status, metrics, message in rows:
        m = json.loads(metrics) if metrics else {}
        out.append(
            {
                "model": model,
                "status": status,
                **{k: m.get(k) for k in REPORT_METRICS},
                "message": message,
            }
        )
    return pd.DataFrame(out, columns=["model", "status", *REPORT_METRICS, "message"])


def run(ctx: Any, config: RecommendConfig | None = None) -> dict[str, Any]:
    """Pipeline stage: recommendations and similar items as of ``ctx.day``."""
    from ml.compute import limited_threads
    from tailor.warehouse import connect

    con = connect(ctx.settings.warehouse, settings=ctx.settings)
    try:
        with limited_threads():
            return recommend_day(con, ctx.day, config, dbt_project=ctx.settings.dbt_project)
    finally:
        con.close()
