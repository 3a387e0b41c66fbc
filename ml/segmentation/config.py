"""A segmentation run's settings (:class:`SegmentationConfig`) and what it produces
(:class:`SegmentationResult`): the types the job and the tables share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.segmentation.clustering import CustomerSegmenter
from ml.segmentation.features import DEFAULT_ROLES
from ml.segmentation.naming import Thresholds


@dataclass
class SegmentationConfig:
    # Fewer than four segments only restates the buyer / browser split that RFM already
    # gives (silhouette favours that top-level split); more than ten is not actionable.
    k_range: tuple[int, int] = (4, 10)
    # k is chosen again (every k fitted, the alternatives compared) when the last choice
    # is this many days old, or sooner when the kept k's inertia per customer has grown
    # by this factor since; the nights between keep k and warm-start from last night
    refit_every_days: int = 7
    max_inertia_growth: float = 1.25
    n_init: int = 10
    silhouette_sample: int = 5000
    tolerance: float = 0.02
    max_match_distance: float = 1.5
    memory_days: int = 28  # segments seen this recently can get their id back
    stickiness: float = 0.01  # keep last night's partition if within 1% of the best inertia
    fit_sample: int | None = 100_000  # choose k on a sample of this many customers
    min_customers: int = 50
    roles: tuple[str, ...] = DEFAULT_ROLES
    compare_alternatives: bool = True
    random_state: int = 0
    # ml.customer_segments keeps this many days of history (None: all); profiles and
    # transitions are small and kept.
    retention_days: int | None = 35
    feature_table: str = "marts.customer_features"
    # the absolute thresholds of the segment names (ml.segmentation.naming)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def from_settings(cls, section: Any, **overrides: Any) -> SegmentationConfig:
        """From ``tailor.config.SegmentSettings`` (``load_config(settings).segments``)."""
        values: dict[str, Any] = {
            "k_range": (section.k_min, section.k_max),
            "refit_every_days": section.refit_every_days,
            "max_inertia_growth": section.max_inertia_growth,
            "min_customers": section.min_customers,
            "retention_days": section.retention_days,
            "thresholds": Thresholds(
                new_days=section.new_days,
                recent_days=section.recent_days,
                lapsing_days=section.lapsing_days,
                frequent_orders=section.frequent_orders,
                high_value_ratio=section.high_value_ratio,
            ),
        }
        return cls(**(values | overrides))


@dataclass
class SegmentationResult:
    run_id: str
    run_date: dt.date
    assignments: pd.DataFrame  # customer_id, segment_id, segment_name, distance
    profiles: pd.DataFrame
    transitions: pd.DataFrame
    moves: dict[str, Any]
    model: CustomerSegmenter
    alternatives: list[dict[str, Any]]
    status: str = "chosen"
    # when k was last chosen (this run, or the one whose k it kept) and the inertia per
    # customer then: the next runs' cadence and drift check
    selected_on: dt.date | None = None
    selected_inertia: float | None = None
    # segments named this run (new, or renamed because the old name no longer fits):
    # segment_id, segment_name, previous_name, reason
    naming: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["segment_id", "segment_name", "previous_name", "reason"]
        )
    )
