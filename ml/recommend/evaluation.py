"""Evaluation of every candidate model on the per-customer temporal split
(:mod:`ml.recommend.split`), through the same rules the served lists go through, with
bootstrap intervals over customers; the hyper-parameters come from the tuning first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from ml.metrics import bootstrap_mean, ranking_metrics, summarize
from ml.recommend.bench import Bench, base_features, fit, resolve, split_for
from ml.recommend.config import RecommendConfig
from ml.recommend.data import (
    RecData,
)
from ml.recommend.models import build, known_models
from ml.recommend.selection import Evaluation, ModelResult, choose
from ml.recommenders import CatalogTooLarge, PopularityRecommender, Recommender

_log = logging.getLogger(__name__)

# metrics that get a bootstrap interval (and per-customer values for the tests)
INTERVAL_METRICS = ("ndcg@10", "precision@10", "recall@10")


def evaluate(
    data: RecData,
    config: RecommendConfig,
    *,
    previous: Mapping[str, Any] | None = None,
    incumbent: str | None = None,
    factories: Mapping[str, Callable[[], Recommender]] | None = None,
    log: Callable[[str], None] | None = None,
) -> Evaluation:
    """Tune, then fit every candidate on the training part of the split and score it on
    the held-out part; :func:`~ml.recommend.selection.choose` decides what is served.

    ``factories``: models to use as given (no tuning), by name.
    """
    from ml.recommend.tuning import Tuning, tune

    config = resolve(config, data)
    split = split_for(
        data.events, data, config, end=data.as_of_days, max_users=config.max_eval_users
    )
    features = base_features(config)
    window: dict[str, Any] = {
        "as_of": data.as_of,
        "split": "per customer: latest "
        + (f"{config.holdout_count}" if config.holdout_count else f"{config.holdout_share:.0%}")
        + f" of the relevant products of each customer with at least {config.min_history}",
        "relevant_kinds": list(config.relevant_kinds or ()),
        "exclude_viewed": config.exclude_viewed,
        "split_users": split.split_users,
        "catalog_items": int(data.allowed.sum()),
    }
    if len(split.users) < config.min_holdout_users:
        msg = f"{len(split.users)} customers to evaluate on; need {config.min_holdout_users}"
        results = [ModelResult("popularity", "fallback", message=f"no evaluation: {msg}")]
        results += [ModelResult(name, "skipped", message=msg) for name in config.models]
        window["holdout_users"] = window["evaluated_users"] = len(split.users)
        return Evaluation(results, None, "popularity", True, f"no evaluation: {msg}", window)
    known = known_models()
    tuning = Tuning(features, {}, {}, 0.0)
    if config.tune:
        try:
            tuning = tune(data, split, config, log=log)
        except Exception as exc:  # the defaults then: tuning must not stop the night
            window["tuning_error"] = str(exc)
            (log or _log.warning)(f"tuning failed, the models keep their defaults: {exc}")
    bench = Bench.make(data, split, tuning.features, config)
    window |= {
        "features": tuning.features.describe(),
        "feature_tuning": tuning.trials.get("features"),
        "tuning_seconds": round(tuning.seconds, 3),
        "train_pairs": int(bench.X.nnz),
        "holdout_users": len(split.users),
        "evaluated_users": len(bench.users),
        "holdout_pairs": int(bench.truth.nnz),
    }
    warm = np.diff(bench.history.indptr) > 0
    results: list[ModelResult] = []
    popularity: PopularityRecommender | None = None
    fitted: dict[str, Recommender] = {}  # a hybrid reuses the candidates fitted on X
    baseline_ndcg: np.ndarray | None = None
    n_list = max(max(config.eval_ks), config.k)
    for name in ("popularity", *[m for m in config.models if m != "popularity"]):
        if factories and name in factories:
            model = factories[name]()
        elif name in known:
            model = build(name, config, data.n_items, tuning.params.get(name), tuning.params)
        else:
            results.append(ModelResult(name, "failed", message=f"unknown model {name!r}"))
            continue
        model.name = name
        started = time.perf_counter()
        try:
            fit(model, bench.X, data, fitted)
        except CatalogTooLarge as exc:
            results.append(ModelResult(name, "skipped", _params(model), message=str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one failing candidate must not stop the run
            results.append(
                ModelResult(name, "failed", _params(model), message=f"{type(exc).__name__}: {exc}")
            )
            continue
        fit_s = time.perf_counter() - started
        if name == "popularity":
            popularity = model  # type: ignore[assignment]
        if popularity is None:
            raise RuntimeError("popularity must be evaluated first: it fills every list")
        started = time.perf_counter()
        ids, sources = bench.lists(model, popularity, n_list)
        rec_s = time.perf_counter() - started
        metrics = summarize(
            bench.truth,
            ids,
            config.eval_ks,
            catalog_size=int(data.allowed.sum()),
            slices={"warm": warm, "cold": ~warm},
        )
        per_user = per_user_metrics(bench.truth, ids)
        metrics |= intervals(per_user, config)
        if baseline_ndcg is None:
            baseline_ndcg = per_user["ndcg@10"]
        metrics["fill_share"] = float((sources[ids >= 0] == 1).mean()) if (ids >= 0).any() else 1.0
        metrics["fit_seconds"] = round(fit_s, 3)
        metrics["recommend_seconds"] = round(rec_s, 3)
        status = "baseline" if name == "popularity" else "candidate"
        params = _params(model) | ({"tuning": tuning.trials[name]} if name in tuning.trials else {})
        results.append(ModelResult(name, status, params, metrics, per_user=per_user))
        if log:
            log(
                f"{name:<12} ndcg@10={metrics.get('ndcg@10', 0):.4f} "
                f"[{metrics['ndcg@10_ci'][0]:.4f}, {metrics['ndcg@10_ci'][1]:.4f}] "
                f"fit={fit_s:.1f}s rec={rec_s:.1f}s"
            )
    evaluation = choose(results, config, previous or {}, window, incumbent=incumbent)
    evaluation.features = tuning.features
    evaluation.params = {r.name: tuning.params.get(r.name, {}) for r in results}
    return evaluation


def per_user_metrics(truth: sp.csr_matrix, ids: np.ndarray) -> dict[str, np.ndarray]:
    values = ranking_metrics(truth, ids, 10)
    return {f"{m.split('@')[0]}@10": values[m.split("@")[0]] for m in INTERVAL_METRICS}


def intervals(per_user: Mapping[str, np.ndarray], config: RecommendConfig) -> dict[str, Any]:
    """``<metric>_ci`` ([low, high]) and ``<metric>_se`` of every interval metric."""
    out: dict[str, Any] = {}
    for name, values in per_user.items():
        b = bootstrap_mean(values, resamples=config.bootstrap_resamples, level=config.confidence)
        out[f"{name}_ci"] = [round(b["low"], 5), round(b["high"], 5)]
        out[f"{name}_se"] = round(b["se"], 6)
    return out


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
