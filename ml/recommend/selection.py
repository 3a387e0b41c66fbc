"""Choosing the served model from the evaluated ones, and the guards that fall back to
popularity: every decision rests on a paired bootstrap over customers, so none is taken
on a difference inside the noise."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from ml.metrics import bootstrap_mean
from ml.recommend.config import TASK, RecommendConfig
from ml.recommend.data import table_exists

METRIC = "ndcg@10"


@dataclass
class ModelResult:
    name: str
    status: str  # chosen | candidate | baseline | fallback | skipped | failed
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    # per evaluated customer, for the paired tests (not recorded)
    per_user: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass
class Evaluation:
    results: list[ModelResult]
    best: str | None  # the candidate (not popularity) with the best NDCG@10
    served: str  # the model the run serves
    fallback: bool = False
    message: str | None = None
    data_window: dict[str, Any] = field(default_factory=dict)
    features: Any = None  # the chosen Features (ml.recommend.data), None: the mart's scores
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # chosen, per model

    def result(self, name: str) -> ModelResult | None:
        return next((r for r in self.results if r.name == name), None)


def difference(a: ModelResult, b: ModelResult, config: RecommendConfig) -> dict[str, float]:
    """The paired bootstrap of ``a``'s NDCG@10 minus ``b``'s over the same customers
    (``mean``, ``low``, ``high``, ``se``); without per-customer values, the point
    difference with no spread."""
    if METRIC in a.per_user and METRIC in b.per_user:
        return bootstrap_mean(
            a.per_user[METRIC] - b.per_user[METRIC],
            resamples=config.bootstrap_resamples,
            level=config.confidence,
        )
    d = a.metrics.get(METRIC, 0.0) - b.metrics.get(METRIC, 0.0)
    return {"mean": d, "low": d, "high": d, "se": 0.0}


def _ci(d: Mapping[str, float]) -> str:
    return f"{d['mean']:+.4f} ({d['low']:+.4f} to {d['high']:+.4f})"


def choose(
    results: list[ModelResult],
    config: RecommendConfig,
    previous: Mapping[str, Any],
    window: dict[str, Any] | None = None,
    *,
    incumbent: str | None = None,
) -> Evaluation:
    """Decide the served model (statuses and messages are set).

    * The model to beat is the one the previous run served (``incumbent``) when it was
      evaluated again, else the best candidate by NDCG@10. The best model replaces it only
      when the paired difference is significant (its interval above 0); otherwise the
      incumbent stays and the message gives the difference with its interval.
    * A served candidate gives way to popularity only when popularity is significantly
      better (by ``min_lift`` of popularity's NDCG@10); popularity gives way to a
      candidate only when the candidate is significantly better by that margin.
    * The drop guard: when the served candidate's NDCG@10 fell by more than
      ``max_ndcg_drop`` against its previous run, and the fall is significant (a z-test on
      both runs' bootstrap standard errors), popularity is served, flagged. The next run
      compares against this run, so a lasting drop is flagged for one night.
    """
    window = window or {}
    scored = [r for r in results if r.status in ("baseline", "candidate")]
    base = next((r for r in scored if r.name == "popularity"), None)
    if base is None:
        for r in results:
            if r.name == "popularity":
                r.status = "fallback"
        return Evaluation(results, None, "popularity", True, "popularity was not evaluated", window)
    base_ndcg = base.metrics.get(METRIC, 0.0)
    margin = config.min_lift * base_ndcg
    for r in scored:
        r.metrics[f"{METRIC}_lift_vs_popularity"] = (
            r.metrics.get(METRIC, 0.0) / base_ndcg - 1.0 if base_ndcg > 0 else None
        )
        if r is not base:
            d = difference(r, base, config)
            r.metrics[f"{METRIC}_diff_vs_popularity_ci"] = [round(d["low"], 5), round(d["high"], 5)]
        prev = _previous(previous, r.name)
        if prev:
            r.metrics[f"previous_{METRIC}"] = prev[0]
    candidates = [r for r in scored if r is not base]
    if not candidates:
        message = "no candidate model could be evaluated"
        base.status, base.message = "fallback", f"served: {message}"
        return Evaluation(results, None, "popularity", True, message, window)
    # ties go to the earlier candidate in the configured order
    best = max(candidates, key=lambda r: r.metrics.get(METRIC, 0.0))
    by_name = {r.name: r for r in scored}
    served = by_name.get(incumbent or "", best)
    notes: list[str] = []
    top = max(scored, key=lambda r: r.metrics.get(METRIC, 0.0))
    if top is not served:
        d = difference(top, served, config)
        need = margin if served is base else 0.0
        if d["low"] > need:
            notes.append(f"{top.name} replaces {served.name}: NDCG@10 {_ci(d)}")
            served = top
        else:
            notes.append(f"kept {served.name}: {top.name}'s NDCG@10 {_ci(d)} is within the noise")
    if served is not base:
        d = difference(served, base, config)
        if d["high"] < margin:
            notes.append(f"popularity replaces {served.name}: {served.name}'s NDCG@10 {_ci(d)}")
            served = base
    if served is not base:
        drop = _significant_drop(served, previous, config)
        if drop:
            notes.append(drop)
            base.status = "fallback"
            base.message = f"served instead of {served.name}: {drop}"
            served.message = f"not served: {drop}"
            return Evaluation(results, best.name, "popularity", True, "; ".join(notes), window)
    message = "; ".join(notes) or None
    if served is base:
        base.status = "fallback"
        base.message = f"served: {message}" if message else "served: the best model"
        if best.message is None:
            best.message = "best candidate by NDCG@10 but not served"
        return Evaluation(results, best.name, "popularity", True, message, window)
    served.status = "chosen"
    served.message = message
    base.status = "baseline"
    return Evaluation(results, best.name, served.name, False, message, window)


def _previous(previous: Mapping[str, Any], name: str) -> tuple[float, float] | None:
    """(NDCG@10, its standard error) of a model's previous run; a bare number has none."""
    prev = previous.get(name)
    if prev is None:
        return None
    if isinstance(prev, Mapping):
        value = prev.get(METRIC)
        return None if value is None else (float(value), float(prev.get(f"{METRIC}_se") or 0.0))
    return float(prev), 0.0


def _significant_drop(
    served: ModelResult, previous: Mapping[str, Any], config: RecommendConfig
) -> str | None:
    prev = _previous(previous, served.name)
    if not prev or prev[0] <= 0:
        return None
    now = served.metrics.get(METRIC, 0.0)
    se = math.hypot(prev[1], float(served.metrics.get(f"{METRIC}_se") or 0.0))
    drop = 1.0 - now / prev[0]
    if drop <= config.max_ndcg_drop:
        return None
    z = NormalDist().inv_cdf(0.5 + config.confidence / 2.0)
    if se > 0 and prev[0] - now <= z * se:
        return None
    return (
        f"{served.name} NDCG@10 {now:.4f} dropped {drop:.0%} from {prev[0]:.4f} in its "
        f"previous run (limit {config.max_ndcg_drop:.0%}; difference "
        f"{prev[0] - now:.4f} > {z:.2f} x its standard error {se:.4f})"
    )


def previous_runs(con: Any, day: dt.date) -> tuple[dict[str, dict[str, float]], str | None]:
    """Each model's NDCG@10 and its standard error in its latest earlier run, and the
    model the latest earlier run served (None before the first)."""
    if not table_exists(con, "ml.model_runs"):
        return {}, None
    rows = con.execute(
        """
        select model,
            try_cast(json_extract_string(metrics, '$."ndcg@10"') as double),
            try_cast(json_extract_string(metrics, '$."ndcg@10_se"') as double)
        from ml.model_runs
        where task = ? and run_date < ?
            and json_extract_string(metrics, '$."ndcg@10"') is not null
            -- runs scored on the per-customer split only (they carry a standard error): a
            -- score from the earlier, global-window evaluation is on another scale
            and json_extract_string(metrics, '$."ndcg@10_se"') is not null
        qualify row_number() over (partition by model order by run_date desc) = 1
        """,
        [TASK, day],
    ).fetchall()
    served = con.execute(
        """
        select case when status = 'chosen' then model else 'popularity' end
        from ml.model_runs
        where task = ? and run_date < ? and status in ('chosen', 'fallback')
        order by run_date desc, status limit 1
        """,
        [TASK, day],
    ).fetchone()
    previous = {
        m: {METRIC: float(v), f"{METRIC}_se": float(se or 0.0)}
        for m, v, se in rows
        if v is not None
    }
    return previous, served[0] if served else None
