"""Stable segment ids: what the previous runs were, matching today's clusters to their
segments, and how many customers moved."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ml.segmentation.features import FeaturePreprocessor

# --------------------------------------------------------------------------- stable ids


def match_to_previous(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    preprocessor: FeaturePreprocessor,
    *,
    max_distance: float = 1.5,
) -> dict[int, int]:
    """Match this run's clusters to the previous run's segments.

    ``previous``: centroids in original units, indexed by segment id; ``current``:
    centroids in original units, indexed by cluster number. Both are mapped into this
    run's scaled space (so the comparison uses today's scaling), and the assignment that
    minimises the total centroid distance is found with the Hungarian algorithm. A pair
    further apart than ``max_distance`` (standard units) is not a match.

    Returns {cluster number: previous segment id} for the matched clusters.
    """
    if previous.empty or current.empty:
        return {}
    cols = [c for c in preprocessor.feature_names_in_ if c in previous.columns]
    if len(cols) < len(preprocessor.feature_names_in_):
        # a feature came or went: compare on the shared ones, filled with today's fill
        missing = [c for c in preprocessor.feature_names_in_ if c not in previous.columns]
        previous = previous.assign(**{c: np.nan for c in missing})
    if not cols:
        return {}
    names = list(preprocessor.feature_names_in_)
    P = preprocessor.transform(previous[names].astype(float))
    C = preprocessor.transform(current[names].astype(float))
    keep = [names.index(c) for c in cols]
    P, C = P[:, keep], C[:, keep]
    cost = np.sqrt(((C[:, None, :] - P[None, :, :]) ** 2).sum(axis=2))
    rows, cols_ = linear_sum_assignment(cost)
    return {
        int(current.index[r]): int(previous.index[c])
        for r, c in zip(rows, cols_, strict=True)
        if cost[r, c] <= max_distance
    }


def assign_segment_ids(
    matches: Mapping[int, int], clusters: Sequence[int], next_id: int
) -> dict[int, int]:
    """Segment id per cluster: the matched previous id, or a fresh one (``next_id``,
    ``next_id + 1``, ... in cluster order) for clusters that matched nothing."""
    out = {}
    for c in sorted(clusters):
        if c in matches:
            out[c] = matches[c]
        else:
            out[c] = next_id
            next_id += 1
    return out


def segment_moves(previous: pd.Series, current: pd.Series) -> tuple[dict[str, Any], pd.DataFrame]:
    """Compare two runs' assignments (customer_id -> segment_id).

    Returns a summary (customers in both runs, how many moved, the share, newcomers and
    leavers) and the transition counts (from_segment_id, to_segment_id, customers), where
    a newcomer comes from null and a leaver goes to null.
    """
    prev = previous.rename("from_segment_id")
    cur = current.rename("to_segment_id")
    both = pd.concat([prev, cur], axis=1, join="outer")
    stayed_in = both.dropna()
    moved = int((stayed_in["from_segment_id"] != stayed_in["to_segment_id"]).sum())
    summary = {
        "customers_in_both_runs": int(len(stayed_in)),
        "moved": moved,
        "moved_share": float(moved / len(stayed_in)) if len(stayed_in) else 0.0,
        "new_customers": int(both["from_segment_id"].isna().sum()),
        "gone_customers": int(both["to_segment_id"].isna().sum()),
    }
    trans = (
        both.assign(customers=1)
        .groupby(["from_segment_id", "to_segment_id"], dropna=False)["customers"]
        .sum()
        .reset_index()
    )
    for c in ("from_segment_id", "to_segment_id"):
        trans[c] = trans[c].astype("Int64")
    return summary, trans


@dataclass
class PreviousRun:
    """What a run needs to know about the runs before it."""

    run_id: str | None = None  # the latest run before this one
    k: int | None = None  # its number of segments
    # every segment seen in the memory window, by id: its latest centroid (original units)
    centroids: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict[int, str] = field(default_factory=dict)  # segment id -> name
    latest_ids: set[int] = field(default_factory=set)  # the segments of the latest run
    assignments: pd.Series = field(default_factory=lambda: pd.Series(dtype="Int64"))
    next_id: int = 1  # the next unused segment id (ids are never reused)
    # when the latest run's k was chosen, and the inertia per customer then (None: unknown,
    # a run from before the cadence: k is chosen again)
    selected_on: dt.date | None = None
    selected_inertia: float | None = None


def load_previous(con, day: dt.date, memory_days: int = 28) -> PreviousRun:
    """The runs before ``day``: the latest one (its k and assignments, for the moves) and
    every segment seen in the ``memory_days`` before ``day`` (to match against, so that a
    segment that disappears for a night or two gets its id back when it returns)."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ml' and table_name = 'segment_profiles'"
    ).fetchall()[0][0]
    if not exists:
        return PreviousRun()
    # ids born on this day or later are not counted: a rerun of the day gives its new
    # segments the same ids again
    (max_id,) = con.execute(
        "select max(segment_id) from ml.segment_profiles where run_date < ?", [day]
    ).fetchall()[0]
    next_id = int(max_id or 0) + 1
    rows = con.execute(
        "select run_id, run_date from ml.segment_profiles where run_date < ? "
        "order by run_date desc limit 1",
        [day],
    ).fetchall()
    if not rows:
        return PreviousRun(next_id=next_id)
    prev_run, prev_day = rows[0]
    prof = con.execute(
        """
        select segment_id, segment_name, centroid, run_id = ? as is_latest
        from ml.segment_profiles
        where run_date < ? and run_date >= ?
        qualify row_number() over (partition by segment_id order by run_date desc) = 1
        order by segment_id
        """,
        [prev_run, day, min(prev_day, day - dt.timedelta(days=memory_days))],
    ).df()
    ids = prof["segment_id"].astype(int)
    cent = pd.DataFrame([json.loads(c) for c in prof["centroid"]], index=ids)
    assign = con.execute(
        "select customer_id, segment_id from ml.customer_segments where run_id = ?", [prev_run]
    ).df()
    latest = {int(i) for i, flag in zip(ids, prof["is_latest"], strict=True) if flag}
    selected_on, selected_inertia = _selection(con, prev_run)
    return PreviousRun(
        run_id=prev_run,
        k=len(latest),
        centroids=cent,
        names=dict(zip(ids, prof["segment_name"], strict=True)),
        latest_ids=latest,
        assignments=assign.set_index("customer_id")["segment_id"].astype("Int64"),
        next_id=next_id,
        selected_on=selected_on,
        selected_inertia=selected_inertia,
    )


def _selection(con, run: str) -> tuple[dt.date | None, float | None]:
    """When the run's k was chosen and the inertia per customer then, from its kmeans row
    of ``ml.model_runs``."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ml' and table_name = 'model_runs'"
    ).fetchall()[0][0]
    if not exists:
        return None, None
    rows = con.execute(
        "select metrics->>'k_selected_on', metrics->>'k_selected_inertia_per_customer' "
        "from ml.model_runs where run_id = ? and model = 'kmeans'",
        [run],
    ).fetchall()
    if not rows or rows[0][0] is None or rows[0][1] is None:
        return None, None
    try:
        return dt.date.fromisoformat(rows[0][0]), float(rows[0][1])
    except ValueError:
        return None, None
