"""Evaluation of every candidate model on a temporal holdout, through the same rules
the served lists go through."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.metrics import summarize
from ml.recommend.config import KINDS, RecommendConfig
from ml.recommend.data import RecData, product_texts, purchase_matrix, sparse_matrix, train_matrix
from ml.recommend.models import candidate_models
from ml.recommend.rules import category_codes, exclusions, ranked_lists, repeat_purchase_mask
from ml.recommend.selection import Evaluation, ModelResult, choose
from ml.recommenders import (
    CatalogTooLarge,
    PopularityRecommender,
    Recommender,
)


def holdout_truth(
    data: RecData, cutoff: dt.datetime, excluded: sp.csr_matrix, config: RecommendConfig
) -> sp.csr_matrix:
    """Relevant holdout interactions per user: what the lists should contain.

    Products the rules would never show (bought before, inactive) are not counted: a
    model cannot be right about them.
    """
    codes = [KINDS[k] for k in config.relevant_kinds]
    ho = data.holdout[(data.holdout["at"] >= cutoff) & data.holdout["kind"].isin(codes)]
    truth = sparse_matrix(
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
    item_text = product_texts(data.products)
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


def _with_weights(config: RecommendConfig) -> RecommendConfig:
    if config.weights and config.half_life_days:
        return config
    return config.with_dbt_vars(None)
