"""When the served model is refitted, and the stored fit served on the nights between.

A *refit* night runs the whole evaluation (tuning, every candidate, the choice) and fits
the served model on all interactions, as every night did before; the learned item-item
weights of that model are then stored (:func:`save_fit`, :mod:`ml.fitted`) with
the ids of the products they index. A *reuse* night skips the evaluation and the fit: it
rebuilds the served model from the stored weights (:func:`restore`) and scores every
customer from their history of tonight. Popularity (by segment and global), the content
model (product text) and a hybrid's history part are fitted on the night's data every
night: they cost little and follow the catalog.

What a reused model does with what is new since its fit:

* a new customer, or a customer with new interactions, is scored from their history of
  tonight through the stored item-item weights (EASE, item-kNN, RP3beta and the hybrid
  all score ``history @ weights``), so nobody needs the refit to get personal lists;
* a product the fit did not know has no stored weights: it reaches lists only through
  the popularity fill (and, in a hybrid, through the content part), and its similar
  items come from content, until the next refit.

:func:`decide` refits when any of these holds, in this order, and says which:

1. ``refit_every_days`` is 1 (every night), or there is no stored fit before the night;
2. the stored fit is of a model with nothing to store (popularity, content, history, ALS);
3. the fit is ``refit_every_days`` old or older (the cadence);
4. the settings that shape a fit changed (models, tuning, weights, half-life, ...);
5. someone erased since the fit is due to be fully gone tonight (their interactions are in
   its weights; :func:`ml.fitted.erasures_since`: the night of the physical erasure pass);
6. the recommendable catalog changed by more than ``max_catalog_change`` (products
   added or gone, a share of the fit's), or the customers with interactions grew by
   more than ``max_customer_change``;
7. the drift monitor: on the night's holdout of customers whose held-out products all
   came after the fit (so the stored model never saw them), the stored model's NDCG@10
   fell by more than ``max_ndcg_drift`` (relative) from its reference (:func:`reference`,
   recorded at the fit: the model a day old on the customers new on its last day; the
   whole holdout's NDCG@10 when they are too few).

The rerun of a night decides from the fits of the nights before it, so it decides
alike. The decision and its reason go to ``ml.model_runs`` (``data_window.refit``,
``data_window.refit_reason``, the served model's message).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml import fitted
from ml.recommend.bench import Bench, base_features, resolve, split_for
from ml.recommend.bench import fit as fit_model
from ml.recommend.config import TASK, RecommendConfig
from ml.recommend.data import (
    Features,
    RecData,
    full_matrix,
    interaction_matrix,
    last_instants,
    product_texts,
)
from ml.recommend.models import ITEM_MODELS, build
from ml.recommend.selection import Evaluation, ModelResult
from ml.recommend.split import Split
from ml.recommenders import HybridRecommender, Recommender

_log = logging.getLogger(__name__)


@dataclass
class StoredFit(fitted.Fit):
    """A stored fit with its arrays read (product ids, item-item weights)."""

    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Decision:
    """What a night does: refit (``refit``) or serve ``model``, restored from ``fit``."""

    refit: bool
    reason: str
    fit: StoredFit | None = None
    model: Recommender | None = None
    monitor: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What ``ml.model_runs.data_window`` records of the decision."""
        out: dict[str, Any] = {"refit": self.refit, "refit_reason": self.reason}
        if self.fit is not None:  # the fit served, or the one a refit replaces
            key = "replaces_fit_of" if self.refit else "fitted_on"
            out[key] = self.fit.fit_date.isoformat()
        return out | self.monitor


def fit_settings(config: RecommendConfig) -> dict[str, Any]:
    """The options that shape a fit: a stored fit made under others is not reused."""
    return {
        "models": list(config.models),
        "tune": config.tune,
        "weights": dict(sorted((config.weights or {}).items())),
        "half_life_days": config.half_life_days,
        "ease_max_items": config.ease_max_items,
        "relevant_kinds": list(config.relevant_kinds or ()),
        "holdout_share": config.holdout_share,
        "holdout_count": config.holdout_count,
        "min_history": config.min_history,
    }


# --------------------------------------------------------------------------- the store


def _item_parts(model: Recommender) -> list[Recommender]:
    """The parts of a model whose learned state is stored: item-item weights."""
    parts = [m for m, _ in model.components] if isinstance(model, HybridRecommender) else [model]
    return [m for m in parts if type(m).name in ITEM_MODELS]


def storable(model: Recommender) -> bool:
    return type(model).name in ("hybrid", *ITEM_MODELS) and bool(_item_parts(model))


def save_fit(
    con: Any,
    day: dt.date,
    model: Recommender,
    data: RecData,
    config: RecommendConfig,
    *,
    features: Features,
    params: Mapping[str, Mapping[str, Any]],
    fit_ndcg: float | None,
    reference_ndcg: Mapping[str, Any] | None = None,
) -> None:
    """Store the night's served model (its item-item weights, the product ids they
    index and what rebuilds it) in :mod:`ml.fitted`.
    A model with nothing to store is recorded all the same, so the next night knows
    the latest fit cannot be reused."""
    arrays: dict[str, np.ndarray] = {}
    if storable(model):
        arrays["product_ids"] = data.products["product_id"].astype(str).to_numpy(dtype=str)
        arrays["recommendable"] = data.allowed
        for i, part in enumerate(_item_parts(model)):
            w = part.item_weights_
            if sp.issparse(w):
                w = sp.csr_matrix(w)
                arrays |= {
                    f"w{i}.data": w.data,
                    f"w{i}.indices": w.indices,
                    f"w{i}.indptr": w.indptr,
                    f"w{i}.shape": np.asarray(w.shape),
                }
            else:
                arrays[f"w{i}"] = np.asarray(w, dtype=np.float32)
    spec = {
        "repr": repr(model),
        "params": {k: dict(v) for k, v in params.items()},
        "features": features.describe(),
        "settings": fit_settings(config),
        "as_of_days": data.as_of_days,
        "fit_ndcg@10": fit_ndcg,
        **(reference_ndcg or {}),
        "customers": int(data.interactions["user"].nunique()) if len(data.interactions) else 0,
    }
    fitted.save(con, TASK, day, model.name, spec, fitted.pack_arrays(arrays))


def last_fit(con: Any, day: dt.date) -> StoredFit | None:
    """The newest stored fit of a night before ``day``."""
    fit = fitted.load(con, TASK, day)
    if fit is None:
        return None
    return StoredFit(**vars(fit), arrays=fitted.unpack_arrays(fit.payload))


def _weights(fit: StoredFit, i: int) -> np.ndarray | sp.csr_matrix:
    a = fit.arrays
    if f"w{i}" in a:
        return a[f"w{i}"]
    shape = tuple(int(x) for x in a[f"w{i}.shape"])
    return sp.csr_matrix((a[f"w{i}.data"], a[f"w{i}.indices"], a[f"w{i}.indptr"]), shape=shape)


def remap(
    weights: np.ndarray | sp.csr_matrix, old_of_new: np.ndarray
) -> np.ndarray | sp.csr_matrix:
    """Item-item weights indexed by the fit's products, re-indexed by tonight's
    (``old_of_new[j]``: the fit's index of tonight's product ``j``, -1 when new; a new
    product gets no weights)."""
    n_old, n_new = weights.shape[0], len(old_of_new)
    if n_old == n_new and np.array_equal(old_of_new, np.arange(n_new)):
        return weights
    known = np.flatnonzero(old_of_new >= 0)
    if sp.issparse(weights):
        select = sp.csr_matrix(
            (np.ones(len(known), np.float32), (known, old_of_new[known])), shape=(n_new, n_old)
        )
        return (select @ weights @ select.T).tocsr().astype(np.float32)
    out = np.zeros((n_new, n_new), dtype=np.float32)
    out[np.ix_(known, known)] = weights[np.ix_(old_of_new[known], old_of_new[known])]
    return out


def restore(fit: StoredFit, data: RecData, config: RecommendConfig) -> Recommender:
    """The stored model, ready to score tonight's customers: its item-item weights
    re-indexed to tonight's products; a hybrid's history and content parts fitted on the
    night's data. Raises ValueError when the stored fit does not match the model the
    settings build."""
    params = fit.spec.get("params", {})
    model = build(fit.model, config, data.n_items, params.get(fit.model), params)
    model.name = fit.model
    if repr(model) != fit.spec.get("repr"):
        raise ValueError(f"the settings now build {model!r}, the fit is {fit.spec.get('repr')}")
    old_of_new = (
        pd.Index(fit.arrays["product_ids"])
        .get_indexer(data.products["product_id"].astype(str))
        .astype(np.int64)
    )
    for i, part in enumerate(_item_parts(model)):
        part.item_weights_ = remap(_weights(fit, i), old_of_new)
        part.n_items_ = data.n_items
    if isinstance(model, HybridRecommender):
        # the hybrid takes its restored item parts as fitted and fits the others tonight
        done = {repr(m): m for m in _item_parts(model)}
        X = full_matrix(data, Features(**fit.spec["features"]))
        model.fit(X, user_groups=data.groups, item_text=product_texts(data.products), fitted=done)
    return model


# --------------------------------------------------------------------------- the decision


def reference(evaluation: Evaluation, data: RecData, config: RecommendConfig) -> dict[str, Any]:
    """What the drift monitor compares a stored fit with: the served model, fitted on the
    interactions before the night's last day, scored on the customers whose held-out
    products all came on that day (``reference_ndcg@10``, ``reference_users``): a model one
    day old on the customers new since it, as the monitor sees the stored fit the night
    after. The evaluation's NDCG@10 is no such reference: its models learn from the other
    customers' interactions of the very days held out, and in the 10M benchmark a model
    fitted without the last day scored 0.139 on that day's customers against 0.197 with
    it (the stored 1-day-old fit: 0.141). Empty when fewer than ``min_holdout_users``
    customers are new on the last day, or the served model cannot be rebuilt."""
    served = evaluation.served
    params = evaluation.params or {}
    features = evaluation.features or base_features(config)
    start = float(data.as_of_days) - 1.0
    bench, split = _bench(data, config, features, since=start)
    if len(bench.users) < config.min_holdout_users:
        return {}
    earlier = split.train[split.train["t"] < start]
    X = interaction_matrix(
        earlier, (data.n_users, data.n_items), features, last_instants(earlier, data.n_users, start)
    )
    try:
        model = build(served, config, data.n_items, params.get(served), params)
        model.name = served
        fit_model(model, X, data, {})
        values = bench.ndcg(model, bench.popularity)
    except Exception as exc:  # noqa: BLE001 - the monitor then compares with the evaluation's
        _log.warning("no drift reference for %s: %s: %s", served, type(exc).__name__, exc)
        return {}
    return {
        "reference_ndcg@10": round(float(values.mean()), 5) if len(values) else 0.0,
        "reference_users": len(bench.users),
    }


def _bench(
    data: RecData, config: RecommendConfig, features: Features, *, since: float
) -> tuple[Bench, Split]:
    """The per-customer split of the night restricted to the customers whose held-out
    products all came at or after ``since`` (float days), made ready to score on, and the
    split."""
    config = resolve(config, data)
    split = split_for(data.events, data, config, end=data.as_of_days, max_users=None)
    assert split.cutoff is not None
    users = split.users[split.cutoff[split.users] >= since]
    if config.max_eval_users and len(users) > config.max_eval_users:
        users = np.sort(np.random.default_rng(0).choice(users, config.max_eval_users, False))
    split = replace(split, users=users)
    return Bench.make(data, split, features, config), split


def monitor(
    model: Recommender, fit: StoredFit, data: RecData, config: RecommendConfig
) -> dict[str, Any]:
    """The stored model's NDCG@10 on the night's holdout of the customers whose held-out
    products all came after the fit (the per-customer split of the evaluation, restricted
    to what the model never saw), with the relative drop from its fit-time NDCG@10."""
    bench, _ = _bench(
        data, config, Features(**fit.spec["features"]), since=float(fit.spec["as_of_days"])
    )
    out: dict[str, Any] = {
        "monitored_users": len(bench.users),
        "fit_ndcg@10": fit.spec.get("fit_ndcg@10"),
    }
    if fit.spec.get("reference_ndcg@10") is not None:
        out["reference_ndcg@10"] = fit.spec["reference_ndcg@10"]
        out["reference_users"] = fit.spec.get("reference_users")
    if len(bench.users) < config.min_holdout_users:
        return out
    values = bench.ndcg(model, bench.popularity)
    now = float(values.mean()) if len(values) else 0.0
    out["monitored_ndcg@10"] = round(now, 5)
    before = out.get("reference_ndcg@10", out["fit_ndcg@10"])
    if before:
        out["ndcg@10_drift"] = round(1.0 - now / float(before), 5)
    return out


def _compared(watched: Mapping[str, Any]) -> str:
    """The fit-time value the drift was measured from, and on whom."""
    if watched.get("reference_ndcg@10") is not None:
        return (
            f"{watched['reference_ndcg@10']:.4f} on the {watched.get('reference_users')} "
            "customers new on its last day"
        )
    return f"{watched.get('fit_ndcg@10') or 0:.4f}"


def decide(con: Any, day: dt.date, data: RecData, config: RecommendConfig) -> Decision:
    """Refit tonight or serve the stored fit (see the module's docstring for the rules)."""
    every = config.refit_every_days
    if every <= 1:
        return Decision(True, "refit every night (refit_every_days: 1)")
    fit = last_fit(con, day)
    if fit is None:
        return Decision(True, "no stored fit of an earlier night")
    when = fitted.describe(fit, day)
    if "product_ids" not in fit.arrays:
        return Decision(True, f"{fit.model} (served by {when}) has no stored form", fit)
    reason = fitted.stale(
        con,
        fit,
        day,
        every=every,
        settings=fit_settings(resolve(config, data)),
        customers=(
            "customers with interactions",
            int(data.interactions["user"].nunique()) if len(data.interactions) else 0,
            config.max_customer_change,
        ),
    )
    if reason:
        return Decision(True, reason, fit)
    ids = fit.arrays["product_ids"]
    before_allowed = set(ids[fit.arrays["recommendable"]].tolist())
    allowed = set(data.products["product_id"].astype(str)[data.allowed].tolist())
    share = len(allowed ^ before_allowed) / max(len(before_allowed), 1)
    if share > config.max_catalog_change:
        return Decision(
            True,
            f"catalog changed by {share:.0%} since {when} (max_catalog_change "
            f"{config.max_catalog_change:.0%})",
            fit,
        )
    try:
        model = restore(fit, data, config)
    except (KeyError, ValueError) as exc:
        return Decision(True, f"{when} cannot be served: {exc}", fit)
    watched = monitor(model, fit, data, config)
    drift = watched.get("ndcg@10_drift")
    if drift is not None and drift > config.max_ndcg_drift:
        return Decision(
            True,
            f"drift: {fit.model}'s NDCG@10 {watched['monitored_ndcg@10']:.4f} on the customers "
            f"new since {when} is {drift:.0%} below its fit-time "
            f"{_compared(watched)} (max_ndcg_drift {config.max_ndcg_drift:.0%})",
            fit,
            monitor=watched,
        )
    verdict = (
        f"NDCG@10 {watched['monitored_ndcg@10']:.4f} on {watched['monitored_users']} new holdout "
        f"customers vs {_compared(watched)} at fit"
        if "monitored_ndcg@10" in watched
        else f"{watched['monitored_users']} new holdout customers, too few to judge drift"
    )
    return Decision(False, f"reused {when}: {verdict}", fit, model, watched)


def reused_evaluation(decision: Decision, data: RecData) -> Evaluation:
    """The night's record of a reuse night: the stored model chosen, with the drift
    monitor's numbers and the reason (no other model is fitted or evaluated)."""
    fit = decision.fit
    assert fit is not None and decision.model is not None
    params = fit.spec.get("params", {})
    result = ModelResult(
        fit.model,
        "chosen",
        dict(params.get(fit.model, {})) | {"fitted_on": fit.fit_date.isoformat()},
        dict(decision.monitor),
        message=decision.reason,
    )
    window = {"as_of": data.as_of, "catalog_items": int(data.allowed.sum())}
    return Evaluation(
        [result],
        None,
        fit.model,
        message=decision.reason,
        data_window=window,
        features=Features(**fit.spec["features"]),
        params=params,
    )
