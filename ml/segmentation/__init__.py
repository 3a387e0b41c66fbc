"""Customer segmentation: K-Means on behavioural features, with stable, named segments.

The nightly job (``run``) reads ``marts.customer_features``, preprocesses it (log of skewed
counts and money, imputation, scaling: ``features``), chooses k by silhouette
(Davies–Bouldin as the second check) and compares K-Means with a Gaussian mixture and
DBSCAN in ``ml.model_runs`` (``clustering``), names each segment from its centroid in
original units (``naming``), and keeps segment ids stable from one run to the next by
matching centroids to the previous run's (Hungarian matching on centroid distance:
``history``). It writes (``store``)

* ``ml.customer_segments``: one row per customer and run;
* ``ml.segment_profiles``: one row per segment and run (size, centroid, description);
* ``ml.segment_transitions``: how many customers moved from which segment to which;
* ``ml.model_runs``: the chosen model, the alternatives and the k selection.

Every run replaces its own day's rows in one transaction, so reruns are idempotent.
``config`` holds the settings and the result type, ``job`` the pure ``segment`` and the
stage ``run``.

The names below are importable from the package itself (``from ml.segmentation import
run``); each is loaded from its submodule on first use, so importing one submodule does
not load the others.
"""

from __future__ import annotations

from ml.lazy import lazy_names

_EXPORTS: dict[str, str] = {
    # features
    "ROLE_COLUMNS": "features",
    "DEFAULT_ROLES": "features",
    "ROLE_FILL": "features",
    "ID_COLUMN": "features",
    "resolve_roles": "features",
    "select_features": "features",
    "FeaturePreprocessor": "features",
    # clustering
    "score_k_range": "clustering",
    "choose_k": "clustering",
    "CustomerSegmenter": "clustering",
    "compare_alternatives": "clustering",
    # naming
    "ROLE_LABELS": "naming",
    "feature_label": "naming",
    "describe_segment": "naming",
    "unique_names": "naming",
    "Thresholds": "naming",
    "ShopFacts": "naming",
    "describe_segments": "naming",
    "name_fits": "naming",
    # history
    "PreviousRun": "history",
    "load_previous": "history",
    "match_to_previous": "history",
    "assign_segment_ids": "history",
    "segment_moves": "history",
    # store
    "TASK": "store",
    "ensure_tables": "store",
    "load_features": "store",
    "top_categories": "store",
    "write_result": "store",
    "record_skipped": "store",
    # job
    "SegmentationConfig": "config",
    "SegmentationResult": "config",
    "segment": "job",
    "run": "job",
    # shared helpers some callers reach through the package
    "limited_threads": "job",
}

# names loaded on first use (ml/lazy.py), as in every ML package
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)
