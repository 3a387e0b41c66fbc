"""The ML stages of the nightly run, and what ``tailor segment`` / ``tailor score`` show.

Stages are functions of a ``tailor.pipeline.RunContext`` (``ctx.day``, ``ctx.settings``)
that write to ``ctx.settings.warehouse`` and return a small summary for the run log::

    from ml.pipeline import stage_segment, stage_score
    STAGES = [..., ("dbt", stage_dbt), ("segment", stage_segment), ("score", stage_score), ...]

They read the marts as of ``ctx.day`` (so they run after the dbt build of the marts, and
before the dbt build of customer_360 and the audiences, which read ``ml.*``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd

from ml import propensity, segmentation


def stage_segment(
    ctx: Any, config: segmentation.SegmentationConfig | None = None
) -> dict[str, Any]:
    """Segment the customers as of ``ctx.day``: ml.customer_segments, ml.segment_profiles,
    ml.segment_transitions, ml.model_runs."""
    return segmentation.run(ctx, config)


def segmentation_config(
    settings: Any, k_min: int | None = None, k_max: int | None = None
) -> segmentation.SegmentationConfig:
    """The segments settings of ``config/tailor.yml``, with the k range overridden where
    given (``tailor segment --k-min/--k-max``)."""
    from tailor.config import ConfigError, load_config

    section = load_config(settings).segments
    lo, hi = k_min or section.k_min, k_max or section.k_max
    if hi < lo:
        raise ConfigError(f"the largest k ({hi}) is below the smallest ({lo})")
    return segmentation.SegmentationConfig.from_settings(section, k_range=(lo, hi))


def stage_score(ctx: Any, config: propensity.PropensityConfig | None = None) -> dict[str, Any]:
    """Churn and purchase propensity as of ``ctx.day``, at every configured horizon:
    ml.propensity_scores, ml.model_runs."""
    return propensity.run(ctx, config)


def propensity_config(
    settings: Any, horizon_days: int | None = None
) -> propensity.PropensityConfig:
    """The propensity settings of ``config/tailor.yml``; with ``horizon_days``, a run that
    scores that horizon only, added beside the configured ones (``tailor score
    --horizon-days``)."""
    from tailor.config import load_config

    return propensity.PropensityConfig.from_settings(
        load_config(settings).propensity, only=(horizon_days,) if horizon_days else None
    )


ML_STAGES = [("segment", stage_segment), ("score", stage_score)]


def latest_feature_day(con) -> dt.date | None:
    """The day ``marts.customer_features`` was built as of (the default day for the CLI)."""
    try:
        rows = con.execute("select max(as_of_date) from marts.customer_features").fetchall()
    except Exception:  # noqa: BLE001 - no marts yet
        return None
    return rows[0][0] if rows else None


def segment_report(con, day: dt.date) -> pd.DataFrame:
    """One row per segment of the run for ``day``: id, name, size, share, new, description."""
    return con.execute(
        """
        select segment_id, segment_name, size, share, is_new, description
        from ml.segment_profiles where run_date = ? order by segment_id
        """,
        [day],
    ).df()


def score_report(con, day: dt.date) -> pd.DataFrame:
    """One row per task, horizon and model of the propensity run for ``day``: status, AUC,
    PR-AUC, Brier, calibration error, top-decile lift (validation cutoff)."""
    runs = con.execute(
        """
        select task, model, status, metrics::varchar as metrics, message,
            try_cast(data_window->>'horizon_days' as integer) as horizon_days
        from ml.model_runs
        where run_date = ? and task in ('churn', 'purchase')
        order by task, horizon_days, status = 'chosen' desc, model
        """,
        [day],
    ).df()
    rows = []
    for r in runs.itertuples():
        m = json.loads(r.metrics or "{}")
        rows.append(
            {
                "task": r.task,
                "horizon_days": r.horizon_days,
                "model": r.model,
                "status": r.status,
                "auc": m.get("auc"),
                "pr_auc": m.get("pr_auc"),
                "brier": m.get("brier"),
                "ece": m.get("ece"),
                "top_decile_lift": m.get("top_decile_lift"),
                "message": r.message,
            }
        )
    return pd.DataFrame(rows)
