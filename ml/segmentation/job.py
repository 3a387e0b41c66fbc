"""One segmentation run: its settings, the pure ``segment`` and the pipeline stage ``run``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from ml.compute import limited_threads
from ml.runs import run_id, to_json, utcnow
from ml.segmentation.clustering import CustomerSegmenter, compare_alternatives
from ml.segmentation.config import SegmentationConfig, SegmentationResult
from ml.segmentation.features import (
    ID_COLUMN,
    ROLE_FILL,
    FeaturePreprocessor,
    resolve_roles,
    select_features,
)
from ml.segmentation.history import (
    PreviousRun,
    assign_segment_ids,
    load_previous,
    match_to_previous,
    segment_moves,
)
from ml.segmentation.naming import describe_segments, name_fits, unique_names
from ml.segmentation.store import (
    TABLES,
    TASK,
    ensure_tables,
    load_features,
    record_skipped,
    top_categories,
    write_result,
)


def segment(
    features: pd.DataFrame,
    day: dt.date,
    *,
    config: SegmentationConfig | None = None,
    previous: PreviousRun | None = None,
    currency: str = "",
) -> SegmentationResult:
    """Segment one run's customers; pure (no database), so that tests and the benchmark
    can call it directly. ``features`` has a ``customer_id`` column and numeric features;
    ``previous`` is the run to keep ids stable against."""
    with limited_threads():
        return _segment(features, day, config=config, previous=previous, currency=currency)


# the signature of segment(), which runs this under limited_threads
def _segment(
    features: pd.DataFrame,
    day: dt.date,
    *,
    config: SegmentationConfig | None = None,
    previous: PreviousRun | None = None,
    currency: str = "",
) -> SegmentationResult:
    config = config or SegmentationConfig()
    cols, roles = select_features(features, config.roles)
    X = features[cols].astype(float)
    if "frequency" in roles and roles.get("recency") in cols:
        # recency is the days since the last purchase; for someone who never bought it is
        # undefined (the feature table puts the days since first seen there), so it is
        # filled like a missing value: longer ago than anyone's.
        X.loc[features[roles["frequency"]].to_numpy() <= 0, roles["recency"]] = np.nan
    fill = {roles[r]: v for r, v in ROLE_FILL.items() if r in roles and roles[r] in cols}
    previous = previous or PreviousRun()
    prev_c = previous.centroids
    preferred_k = previous.k
    init = prev_c.loc[sorted(previous.latest_ids)] if previous.latest_ids else None

    def fit(keep_k: bool) -> CustomerSegmenter:
        return CustomerSegmenter(
            k_range=config.k_range,
            n_init=config.n_init,
            silhouette_sample=config.silhouette_sample,
            tolerance=config.tolerance,
            preferred_k=preferred_k,
            preprocessor=FeaturePreprocessor(fill_values=fill),
            init_centroids=init,
            stickiness=config.stickiness,
            fit_sample=config.fit_sample,
            random_state=config.random_state,
            keep_k=keep_k,
        ).fit(X)

    # a night between selections keeps k, unless the kept k has come to fit much worse
    model, selected_on, selected_inertia = None, previous.selected_on, previous.selected_inertia
    why = ""
    keep = _keeps_k(previous, init, cols, day, config)
    if keep is not None:
        model = fit(keep_k=True)
        growth = float(model.kmeans_.inertia_) / len(X) / (selected_inertia or 1.0)
        if growth > config.max_inertia_growth:
            why = (
                f"; k chosen again: the kept k's inertia per customer grew {growth:.2f}x "
                f"since {selected_on} (limit {config.max_inertia_growth})"
            )
            model = None
        else:
            model.k_reason_ = f"{model.k_reason_}: {keep}"
    if model is None:
        model = fit(keep_k=False)
        model.k_reason_ += why
        selected_on = day
        selected_inertia = float(model.kmeans_.inertia_) / len(X)
    k = model.k_
    centroids = model.centroids_
    centroids.index = range(k)
    matches = match_to_previous(
        prev_c, centroids, model.preprocessor_, max_distance=config.max_match_distance
    )
    ids = assign_segment_ids(matches, list(range(k)), previous.next_id)
    sizes = np.bincount(model.labels_, minlength=k)
    z = pd.DataFrame(model.cluster_centers_, columns=cols)
    prev_names = previous.names
    fresh = describe_segments(
        features,
        model.labels_,
        k,
        resolve_roles(list(features.columns)),
        config.thresholds,
        currency,
    )
    fresh_names = unique_names([f[0] for f in fresh], z, roles)
    # a matched segment keeps its name while the name still says what its members show;
    # when it no longer does, the segment keeps its id and gets today's name
    kept = {
        c: prev_names[ids[c]]
        for c in range(k)
        if ids[c] in prev_names and name_fits(prev_names[ids[c]], fresh_names[c])
    }
    names: dict[int, str] = dict(kept)
    taken = set(kept.values())
    naming = []
    for c in range(k):
        if c in kept:
            continue
        n = fresh_names[c]
        while n in taken:
            n = f"{n} (new)"
        taken.add(n)
        names[c] = n
        old = prev_names.get(ids[c])
        naming.append(
            {
                "segment_id": ids[c],
                "segment_name": n,
                "previous_name": old,
                "reason": "new segment"
                if old is None
                else f"the profile no longer fits {old!r}: {fresh[c][1]}",
            }
        )
    dist = model.kmeans_.transform(model.preprocessor_.transform(X))[
        np.arange(len(X)), model.labels_
    ]
    assignments = pd.DataFrame(
        {
            "customer_id": features[ID_COLUMN].astype(str).to_numpy(),
            "segment_id": [ids[c] for c in model.labels_],
            "segment_name": [names[c] for c in model.labels_],
            "distance": dist,
        }
    )
    profiles = pd.DataFrame(
        {
            "segment_id": [ids[c] for c in range(k)],
            "segment_name": [names[c] for c in range(k)],
            "size": sizes.astype(int),
            "share": sizes / len(X),
            "centroid": [
                to_json({col: round(float(v), 6) for col, v in centroids.loc[c].items()})
                for c in range(k)
            ],
            "description": [fresh[c][1] for c in range(k)],
            "derived_name": fresh_names,
            "is_new": [c not in matches for c in range(k)],
        }
    ).sort_values("segment_id", ignore_index=True)
    rid = run_id(TASK, day)
    if len(previous.assignments):
        moves, transitions = segment_moves(
            previous.assignments,
            assignments.set_index("customer_id")["segment_id"].astype("Int64"),
        )
    else:
        moves = {
            "customers_in_both_runs": 0,
            "moved": 0,
            "moved_share": 0.0,
            "new_customers": len(assignments),
            "gone_customers": 0,
        }
        transitions = pd.DataFrame(columns=["from_segment_id", "to_segment_id", "customers"])
    moves["previous_run_id"] = previous.run_id
    matched = set(matches.values())
    moves["matched_segments"] = len(matches)
    moves["new_segments"] = int(k - len(matches))
    moves["returning_segments"] = len(matched - previous.latest_ids)
    moves["retired_segments"] = len(previous.latest_ids - matched)
    alternatives = []
    if config.compare_alternatives and len(X) >= 20 and selected_on == day:
        alternatives = compare_alternatives(
            model.preprocessor_.transform(X),
            model.labels_,
            k,
            sample=config.silhouette_sample,
            random_state=config.random_state,
        )
    return SegmentationResult(
        run_id=rid,
        run_date=day,
        assignments=assignments,
        profiles=profiles,
        transitions=transitions,
        moves=moves,
        model=model,
        alternatives=alternatives,
        naming=pd.DataFrame(
            naming, columns=["segment_id", "segment_name", "previous_name", "reason"]
        ),
        selected_on=selected_on,
        selected_inertia=selected_inertia,
    )


def _keeps_k(
    previous: PreviousRun,
    init: pd.DataFrame | None,
    columns: list[str],
    day: dt.date,
    config: SegmentationConfig,
) -> str | None:
    """Why this run keeps the previous run's k (a night between selections), or None
    when k is chosen again: no earlier choice to keep, one ``refit_every_days`` old or
    more, a k outside the configured range, or features the kept centroids lack."""
    chosen = previous.selected_on
    if chosen is None or previous.k is None or init is None or previous.selected_inertia is None:
        return None
    age = (day - chosen).days
    lo, hi = config.k_range
    if not 0 < age < config.refit_every_days or not lo <= previous.k <= hi:
        return None
    if len(init) != previous.k or not set(columns) <= set(init.columns):
        return None
    return f"chosen on {chosen} ({age} days ago), chosen again every {config.refit_every_days} days"


def run(ctx: Any, config: SegmentationConfig | None = None) -> dict[str, Any]:
    """Pipeline stage: segment the customers as of ``ctx.day`` and write the ml tables.

    Returns a summary for the run log (k, segment sizes, moved customers, renamed
    segments). Without ``config``, the ``segments`` section of ``config/tailor.yml``.
    """
    from tailor.config import load_config
    from tailor.warehouse_io import open_warehouse

    if config is None:
        config = SegmentationConfig.from_settings(load_config(ctx.settings).segments)
    started = utcnow()
    day: dt.date = ctx.day
    reads = (config.feature_table, "marts.customers")
    with (
        open_warehouse(ctx.settings) as wh,
        wh.workspace(reads, TABLES, prepare=ensure_tables) as con,
    ):
        features = load_features(con, config, day)
        if len(features) < config.min_customers:
            msg = (
                f"{len(features)} customers in {config.feature_table}; need {config.min_customers}"
            )
            record_skipped(con, day, msg, started)
            return {"status": "skipped", "message": msg}
        result = segment(
            features,
            day,
            config=config,
            previous=load_previous(con, day, config.memory_days),
            currency=_currency(con),
        )
        cats = top_categories(con, result.assignments)
        write_result(con, result, started_at=started, config=config, top_cats=cats)
    return {
        "status": result.status,
        "run_id": result.run_id,
        "k": result.model.k_,
        "k_selected_on": result.selected_on,
        "segments": dict(
            zip(result.profiles["segment_name"], result.profiles["size"].astype(int), strict=True)
        ),
        "moved": result.moves["moved"],
        "moved_share": round(result.moves["moved_share"], 4),
        "renamed": {
            str(r.previous_name): r.segment_name
            for r in result.naming.itertuples()
            if pd.notna(r.previous_name)
        },
    }


def _currency(con) -> str:
    try:
        row = con.execute("select any_value(reporting_currency) from marts.customers").fetchall()[0]
    except Exception:  # noqa: BLE001 - the column or table may not exist
        return ""
    return row[0] or "" if row else ""
