"""Hyper-parameters chosen on validation at every run.

The validation split is the per-customer split applied again to the training part of the
evaluation split, so the evaluation's held-out products are never seen while tuning. In
order, each step keeping what the previous chose:

1. the features: the configured interaction weights and half-life, equal weights (when
   the store sends more than one kind) and no decay, scored with the first item model;
2. each candidate's grid (:data:`ml.recommend.models.GRIDS`): EASE's lambda, item-kNN's
   neighbours and shrinkage, RP3beta's alpha and beta;
3. the hybrid: the best item model of step 2, blended with the customer's own history
   and content similarity at the grid's weights.

Every try is scored by the NDCG@10 of the lists it would serve (exclusions, diversity,
popularity fill) on at most ``max_tune_users`` validation customers; ties keep the
earlier (default-first) value. The choice and every try are recorded with the model.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.metrics import bootstrap_mean
from ml.recommend.bench import Bench, base_features, fit, split_for
from ml.recommend.config import RecommendConfig
from ml.recommend.data import Features, RecData, product_texts
from ml.recommend.models import DEFAULTS, GRIDS, ITEM_MODELS, LADDERS, TUNE_EASE_ITEMS, build
from ml.recommend.split import Split
from ml.recommenders import CatalogTooLarge, Recommender

_log = logging.getLogger(__name__)


@dataclass
class Tuning:
    features: Features
    params: dict[str, dict[str, Any]]  # the chosen parameters per model
    trials: dict[str, list[dict[str, Any]]]  # per model: every try and its NDCG@10
    seconds: float


def feature_options(config: RecommendConfig, kinds: set[str]) -> list[Features]:
    """The features tried, the plainest first: no decay with the configured weights; then
    the configured half-life, and equal weights when the store sends several kinds."""
    base = base_features(config)
    weights = [dict(base.weights)]
    if len(kinds) > 1 and len(set(base.weights.get(k, 1.0) for k in kinds)) > 1:
        weights.append(dict.fromkeys(base.weights, 1.0))
    half_lives = [None] + ([base.half_life_days] if base.half_life_days else [])
    return [Features(w, h) for w in weights for h in half_lives]


def grid(name: str, n_items: int, skip: set[str] | None = None) -> list[dict[str, Any]]:
    """The parameter sets tried for ``name`` (a ladder's axis aside), its defaults first;
    ``skip``: axes left at their default."""
    axes = {k: v for k, v in GRIDS.get(name, {}).items() if k not in (skip or set())}
    axes.pop(LADDERS.get(name, ""), None)
    default = {k: v for k, v in DEFAULTS.get(name, {}).items() if k in axes}
    tries = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    return [default] + [t for t in tries if t != default] if axes else [{}]


def tune(
    data: RecData,
    split: Split,
    config: RecommendConfig,
    *,
    log: Callable[[str], None] | None = None,
) -> Tuning:
    started = time.perf_counter()
    inner = split_for(
        split.train, data, config, end=split.reference, max_users=config.max_tune_users
    )
    features = base_features(config)
    trials: dict[str, list[dict[str, Any]]] = {}
    params: dict[str, dict[str, Any]] = {}
    if len(inner.users) < config.min_holdout_users:
        return Tuning(features, params, trials, time.perf_counter() - started)
    item_models = [m for m in config.models if m in ITEM_MODELS]
    scout = item_models[0] if item_models else None
    if scout == "ease" and data.n_items > config.ease_max_items:
        scout = next((m for m in item_models if m != "ease"), None)

    def per_user(bench: Bench, name: str, p: Mapping[str, Any], fitted: dict) -> np.ndarray | None:
        try:
            model = build(name, config, data.n_items, p, params)
            fit(model, bench.X, data, fitted)
            return bench.ndcg(model, bench.popularity)
        except CatalogTooLarge:
            return None
        except Exception as exc:  # a trial that fails is skipped, as a failing candidate is
            (log or _log.warning)(f"tuning: {name} {dict(p)} failed: {exc}")
            return None

    def score(bench: Bench, name: str, p: Mapping[str, Any], fitted: dict) -> float | None:
        values = per_user(bench, name, p, fitted)
        return None if values is None else _round(float(values.mean()) if len(values) else 0.0)

    # 1. the features, scored with the first item model's defaults: the plainest unless
    # another is significantly better (a paired bootstrap over the validation customers);
    # a temporal holdout favours recency by a little, often within the noise
    options = feature_options(config, data.kinds_present())
    bench = Bench.make(data, inner, features, config)
    fitted: dict[str, Recommender] = {}
    if scout and len(options) > 1:
        tried, kept, values = [], [], []
        for f in options:
            b = bench if f == features else Bench.make(data, inner, f, config)
            cache: dict[str, Recommender] = {}
            v = per_user(b, scout, {}, cache)
            values.append(v)
            mean = None if v is None else _round(float(v.mean()) if len(v) else 0.0)
            tried.append({**f.describe(), "ndcg@10": mean})
            kept.append((b, cache))
        best = _best(tried)
        if best and values[0] is not None and values[best] is not None:
            d = bootstrap_mean(
                values[best] - values[0],
                resamples=config.bootstrap_resamples,
                level=config.confidence,
            )
            tried[best]["diff_vs_first_ci"] = [round(d["low"], 5), round(d["high"], 5)]
            if d["low"] <= 0:
                best = 0
        features = options[best]
        bench, fitted = kept[best]
        trials["features"] = tried
    # 2. each model's grid (a ladder axis walked from its default)
    val: dict[str, float] = {}
    for name in config.models:
        if name not in GRIDS or name == "hybrid":
            continue
        if name == "ease" and data.n_items > min(TUNE_EASE_ITEMS, config.ease_max_items):
            continue
        tried = []
        for p in grid(name, data.n_items):
            if name in LADDERS:
                tried += _ladder(name, p, lambda q, n=name: score(bench, n, q, fitted))
            else:
                tried.append({**p, "ndcg@10": score(bench, name, p, fitted)})
        best = _best(tried)
        if tried[best]["ndcg@10"] is None:
            continue
        params[name] = {k: v for k, v in tried[best].items() if k != "ndcg@10"}
        val[name] = tried[best]["ndcg@10"]
        trials[name] = tried
    # 3. the hybrid, on the best item model; an axis that cannot matter stays at 0
    if "hybrid" in config.models:
        tuned_items = [m for m in ITEM_MODELS if m in val]
        item = max(tuned_items, key=lambda m: val[m]) if tuned_items else None
        skip = set()
        if not any(isinstance(t, str) and t for t in product_texts(data.products)):
            skip.add("content")
        if data.kinds_present() <= {"purchase"} or config.exclude_viewed:
            skip.add("history")  # everything in a history is excluded from the lists
        tried = []
        for p in grid("hybrid", data.n_items, skip):
            p = p | dict.fromkeys(skip, 0.0) | {"item_model": item}
            tried.append({**p, "ndcg@10": score(bench, "hybrid", p, fitted)})
        best = _best(tried)
        params["hybrid"] = {k: v for k, v in tried[best].items() if k != "ndcg@10"}
        trials["hybrid"] = tried
    seconds = time.perf_counter() - started
    if log:
        log(f"tuning: {seconds:.1f}s on {len(bench.users)} validation customers: {params}")
    return Tuning(features, params, trials, seconds)


def _ladder(
    name: str, base: Mapping[str, Any], score: Callable[[dict[str, Any]], float | None]
) -> list[dict[str, Any]]:
    """Walk the ladder axis of ``name`` from its default towards the better neighbour, one
    rung at a time while NDCG@10 improves; every rung tried is returned."""
    axis = LADDERS[name]
    rungs = GRIDS[name][axis]
    at = rungs.index(DEFAULTS[name][axis])
    seen: dict[int, float | None] = {}

    def at_rung(i: int) -> float:
        if i not in seen:
            seen[i] = score(dict(base) | {axis: rungs[i]})
        return -1.0 if seen[i] is None else seen[i]

    here = at_rung(at)
    for step in (1, -1):
        i = at
        while 0 <= i + step < len(rungs) and at_rung(i + step) > here:
            i += step
            here = at_rung(i)
        if i != at:
            break
    return [dict(base) | {axis: rungs[i], "ndcg@10": seen[i]} for i in sorted(seen)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 5)


def _best(tried: list[dict[str, Any]]) -> int:
    """The best try; ties keep the earlier."""
    scores = [t["ndcg@10"] if t["ndcg@10"] is not None else -1.0 for t in tried]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))
