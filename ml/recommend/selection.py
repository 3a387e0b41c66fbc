"""Choosing the served model from the evaluated ones, and the guards that fall back to
popularity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ml.recommend.config import TASK, RecommendConfig
from ml.recommend.data import table_exists


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


def previous_ndcg(con: Any, day: dt.date) -> dict[str, float]:
    """Each model's NDCG@10 in its latest earlier run."""
    if not table_exists(con, "ml.model_runs"):
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
