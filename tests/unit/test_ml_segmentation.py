"""Segmentation on data whose right answers are known: k, stable ids, names, moves."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from ml.segmentation import (
    CustomerSegmenter,
    FeaturePreprocessor,
    PreviousRun,
    SegmentationConfig,
    ShopFacts,
    Thresholds,
    assign_segment_ids,
    choose_k,
    compare_alternatives,
    describe_segment,
    match_to_previous,
    segment,
    segment_moves,
)

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 30)

# Four customer types with distinct behaviour (orders, spend per order, sessions, discount
# use, mobile share). Frequency and money are skewed, as in real data.
TYPES = {
    "loyal": dict(orders=6.0, aov=180.0, sessions=12.0, discount=0.05, mobile=0.1),
    "bargain": dict(orders=3.0, aov=35.0, sessions=9.0, discount=0.9, mobile=0.9),
    "browser": dict(orders=0.0, aov=0.0, sessions=12.0, discount=0.0, mobile=0.7),
    "one_time": dict(orders=1.0, aov=60.0, sessions=1.5, discount=0.2, mobile=0.3),
}


def customers(n_per_type: int = 150, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for t, (name, p) in enumerate(TYPES.items()):
        n = n_per_type
        orders = rng.poisson(p["orders"], n) if p["orders"] != 1 else np.ones(n, dtype=int)
        aov = np.where(orders > 0, p["aov"] * rng.lognormal(0, 0.25, n), 0.0)
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{name}-{i}" for i in range(n)],
                    "frequency": orders,
                    "monetary": orders * aov,
                    "average_order_value": aov,
                    "recency_days": np.where(orders > 0, rng.uniform(0, 10, n), 40.0),
                    "sessions": np.maximum(1, rng.poisson(p["sessions"], n)),
                    "discount_share": np.where(
                        orders > 0, np.clip(p["discount"] + rng.normal(0, 0.08, n), 0, 1), 0.0
                    ),
                    "mobile_share": np.clip(p["mobile"] + rng.normal(0, 0.08, n), 0, 1),
                }
            )
        )
        truth += [t] * n
    return pd.concat(rows, ignore_index=True), np.array(truth)


def previous_of(result) -> PreviousRun:
    prof = result.profiles
    return PreviousRun(
        run_id=result.run_id,
        k=len(prof),
        centroids=pd.DataFrame([json.loads(c) for c in prof["centroid"]], index=prof["segment_id"]),
        names=dict(zip(prof["segment_id"], prof["segment_name"], strict=True)),
        latest_ids=set(prof["segment_id"]),
        assignments=result.assignments.set_index("customer_id")["segment_id"].astype("Int64"),
        next_id=int(prof["segment_id"].max()) + 1,
    )


CONFIG = SegmentationConfig(k_range=(2, 7), n_init=3, compare_alternatives=False)


@pytest.mark.parametrize("k", [3, 5])
def test_well_separated_blobs_give_the_right_k(k):
    X, _ = make_blobs(n_samples=120 * k, centers=k, n_features=4, cluster_std=0.6, random_state=k)
    model = CustomerSegmenter(k_range=(2, 8), n_init=3).fit(pd.DataFrame(X))
    assert model.k_ == k
    assert set(model.selection_["k"]) == set(range(2, 9))
    assert model.fit(pd.DataFrame(X)) is model  # fit returns self


def test_silhouette_is_computed_on_a_sample_when_n_is_large():
    from sklearn.metrics import silhouette_score

    centers = [[0, 0, 0], [8, 0, 0], [0, 8, 0]]
    X, _ = make_blobs(n_samples=900, centers=centers, cluster_std=1.0, random_state=0)
    model = CustomerSegmenter(k_range=(2, 4), n_init=2, silhouette_sample=200).fit(pd.DataFrame(X))
    assert model.k_ == 3
    sampled = model.selection_.set_index("k").loc[3, "silhouette"]
    full = silhouette_score(model.preprocessor_.transform(pd.DataFrame(X)), model.labels_)
    assert sampled != full and abs(sampled - full) < 0.05
    # k chosen on a sample of rows, the solution refined on all of them
    big = CustomerSegmenter(k_range=(2, 4), n_init=2, fit_sample=300).fit(pd.DataFrame(X))
    assert big.k_ == 3 and len(big.labels_) == 900


def test_davies_bouldin_vetoes_a_silhouette_winner_with_a_poor_index():
    scores = pd.DataFrame(
        {
            "k": [2, 3, 4, 5],
            "silhouette": [0.40, 0.35, 0.34, 0.20],
            "davies_bouldin": [2.0, 1.0, 1.1, 1.9],
        }
    )
    k, reason = choose_k(scores)
    assert k == 3
    assert "Davies-Bouldin" in reason
    # the previous run's k survives when it is almost as good
    assert choose_k(scores, preferred_k=4)[0] == 4
    assert choose_k(scores, preferred_k=5)[0] == 3  # fails the check


def test_preprocessor_logs_skewed_columns_and_inverts_to_original_units():
    df, _ = customers()
    pre = FeaturePreprocessor(fill_values={"recency_days": "max"}).fit(
        df.drop(columns="customer_id")
    )
    assert "monetary" in pre.log_columns_
    assert "discount_share" not in pre.log_columns_  # a share, not a count
    X = df.drop(columns="customer_id")
    back = pre.inverse_transform(pre.transform(X))
    pd.testing.assert_frame_equal(back, X.astype(float).reset_index(drop=True), atol=1e-6)


def test_preprocessor_fills_missing_values_as_told():
    df = pd.DataFrame({"recency_days": [1.0, 5.0, np.nan], "aov": [10.0, np.nan, 30.0]})
    pre = FeaturePreprocessor(fill_values={"recency_days": "max", "aov": 0.0}, log_columns=[]).fit(
        df
    )
    assert pre.fill_values_ == {"recency_days": 5.0, "aov": 0.0}
    assert np.isfinite(pre.transform(df)).all()


def test_personas_are_recovered_and_named():
    from sklearn.metrics import adjusted_rand_score

    df, truth = customers()
    res = segment(df, DAY, config=CONFIG)
    assert res.model.k_ == 4
    assert adjusted_rand_score(truth, res.assignments["segment_id"]) > 0.9
    names = set(res.profiles["segment_name"])
    assert len(names) == 4
    by_type = pd.Series(res.assignments["segment_name"].to_numpy(), index=truth)
    assert by_type.loc[2].mode()[0].startswith("Window shoppers")  # never bought, many sessions
    assert by_type.loc[0].mode()[0].startswith("High-value loyal")
    assert by_type.loc[1].mode()[0].startswith("Discount-driven")
    assert by_type.loc[3].mode()[0].startswith("Recent one-time buyers")  # 0-10 days ago
    assert (res.assignments["distance"] >= 0).all()
    assert res.profiles["size"].sum() == len(df)
    centroid = json.loads(res.profiles["centroid"].iloc[0])
    assert set(centroid) >= {"frequency", "monetary", "average_order_value"}


def test_segment_ids_and_names_survive_a_small_perturbation():
    df, _ = customers(seed=1)
    first = segment(df, DAY, config=CONFIG)
    rng = np.random.default_rng(5)
    changed = df.copy()
    changed["sessions"] = changed["sessions"] + rng.integers(0, 2, len(df))  # a day of visits
    changed["recency_days"] = changed["recency_days"] + 1
    changed = changed.sample(frac=0.97, random_state=3)  # a few customers gone (erased)
    second = segment(
        changed, DAY + dt.timedelta(days=1), config=CONFIG, previous=previous_of(first)
    )
    before = first.profiles.set_index("segment_id")["segment_name"]
    after = second.profiles.set_index("segment_id")["segment_name"]
    assert after.to_dict() == before.to_dict()
    assert second.model.warm_started_  # last night's partition kept: it is as good
    assert not second.profiles["is_new"].any()
    assert second.moves["moved_share"] < 0.05
    assert second.moves["gone_customers"] == len(df) - len(changed)
    assert second.moves["retired_segments"] == 0


def test_a_new_kind_of_customer_gets_a_new_id_and_the_others_keep_theirs():
    df, _ = customers(n_per_type=150, seed=2)
    three = SegmentationConfig(k_range=(3, 3), n_init=3, compare_alternatives=False)
    four = SegmentationConfig(k_range=(4, 4), n_init=3, compare_alternatives=False)
    first = segment(df.loc[~df["customer_id"].str.startswith("one_time")], DAY, config=three)
    second = segment(df, DAY + dt.timedelta(days=1), config=four, previous=previous_of(first))
    old = set(first.profiles["segment_id"])
    new_rows = second.profiles[second.profiles["is_new"]]
    assert len(new_rows) == 1
    assert int(new_rows["segment_id"].iloc[0]) == max(old) + 1
    assert set(second.profiles["segment_id"]) - {max(old) + 1} == old
    kept = second.profiles.set_index("segment_id").loc[sorted(old), "segment_name"]
    assert kept.to_dict() == first.profiles.set_index("segment_id")["segment_name"].to_dict()


def test_hungarian_matching_recovers_a_permutation_and_rejects_far_centroids():
    df, _ = customers()
    pre = FeaturePreprocessor().fit(df.drop(columns="customer_id"))
    X = df.drop(columns="customer_id")
    current = X.groupby(np.arange(len(X)) // 150).mean()  # the four type means
    previous = current.iloc[[2, 0, 3, 1]].copy()
    previous.index = [11, 12, 13, 14]
    assert match_to_previous(previous, current, pre) == {2: 11, 0: 12, 3: 13, 1: 14}
    far = previous.copy()
    far.loc[13, "frequency"] = 500.0
    assert 3 not in match_to_previous(far, current, pre, max_distance=1.5)


def test_assign_segment_ids_gives_fresh_ids_to_unmatched_clusters():
    assert assign_segment_ids({0: 7, 2: 3}, [0, 1, 2, 3], next_id=9) == {0: 7, 1: 9, 2: 3, 3: 10}


def test_segment_moves_counts_movers_newcomers_and_leavers():
    prev = pd.Series({"a": 1, "b": 1, "c": 2, "d": 2}, dtype="Int64")
    cur = pd.Series({"a": 1, "b": 2, "c": 2, "e": 1}, dtype="Int64")
    summary, trans = segment_moves(prev, cur)
    assert summary["customers_in_both_runs"] == 3
    assert summary["moved"] == 1
    assert summary["new_customers"] == 1
    assert summary["gone_customers"] == 1
    t = {
        (
            r.from_segment_id if pd.notna(r.from_segment_id) else None,
            r.to_segment_id if pd.notna(r.to_segment_id) else None,
        ): r.customers
        for r in trans.itertuples()
    }
    assert t == {(1, 1): 1, (1, 2): 1, (2, 2): 1, (2, None): 1, (None, 1): 1}


def test_describe_segment_uses_absolute_thresholds():
    shop = ShopFacts(has_orders=True, has_events=False, median_buyer_spend=100.0)
    t = Thresholds(lapsing_days=120)
    profile = {"buyer_share": 1.0, "orders": 2.0, "spend": 150.0, "days_since_order": 25.0}
    # 25 days since the last order is not lapsing, however far above the others' it is
    name, text = describe_segment(profile, shop, t, size=250, total=1000, currency="EUR")
    assert name == "Regular buyers"
    assert "250 customers (25%)" in text
    assert "last order 25.0 days ago" in text
    assert "150 EUR spent" in text
    name, text = describe_segment(
        profile | {"days_since_order": 150.0}, shop, t, size=250, total=1000
    )
    assert name == "Lapsing buyers"
    assert "over 120 days old" in text


def test_nightly_runs_write_stable_ids_and_reruns_replace_their_rows(tailor_env):
    from ml.segmentation import run
    from tailor.pipeline import RunContext
    from tailor.warehouse import connect

    df, _ = customers(n_per_type=100, seed=4)
    con = connect(tailor_env.warehouse, settings=tailor_env)
    try:
        con.execute("create schema marts")
        con.register("_f", df)
        con.execute("create table marts.customer_features as select * from _f")
    finally:
        con.close()
    config = SegmentationConfig(k_range=(3, 5), n_init=3, compare_alternatives=False)
    first = run(RunContext(day=DAY, settings=tailor_env), config)
    again = run(RunContext(day=DAY, settings=tailor_env), config)
    nxt = run(RunContext(day=DAY + dt.timedelta(days=1), settings=tailor_env), config)
    assert first["segments"] == again["segments"] == nxt["segments"]
    assert nxt["moved"] == 0
    con = connect(tailor_env.warehouse, read_only=True, settings=tailor_env)
    try:
        ids = con.execute(
            "select run_date, list(segment_id order by segment_id) from ml.segment_profiles group by 1 order by 1"
        ).fetchall()
        per_day = con.execute(
            "select run_date, count(*) from ml.customer_segments group by 1 order by 1"
        ).fetchall()
        runs = con.execute("select run_id, model, status from ml.model_runs order by 1").fetchall()
        selected = con.execute(
            "select run_date, metrics->>'k_selected_on', json_array_length(metrics->'k_selection') "
            "from ml.model_runs order by 1"
        ).fetchall()
    finally:
        con.close()
    assert ids[0][1] == ids[1][1] == list(range(1, first["k"] + 1))  # the rerun reused its ids
    assert [n for _, n in per_day] == [len(df), len(df)]
    assert runs == [
        (f"segmentation:{DAY}", "kmeans", "chosen"),
        (f"segmentation:{DAY + dt.timedelta(days=1)}", "kmeans", "chosen"),
    ]
    # the next night kept the k chosen on DAY (read back from ml.model_runs)
    assert selected == [(DAY, str(DAY), 3), (DAY + dt.timedelta(days=1), str(DAY), 0)]
    assert nxt["k_selected_on"] == DAY


def test_model_runs_log_is_idempotent_and_json_safe(tailor_env):
    from ml.runs import record_model_run, run_id, to_json
    from tailor.warehouse import connect

    assert run_id("segmentation", DAY) == "segmentation:2026-10-30"
    assert json.loads(to_json({"a": np.float64(float("nan")), "b": np.arange(2), "d": DAY})) == {
        "a": None,
        "b": [0, 1],
        "d": "2026-10-30",
    }
    con = connect(tailor_env.warehouse, settings=tailor_env)
    try:
        for auc in (0.7, 0.8):  # a rerun replaces the row
            record_model_run(
                con,
                run_id="recommendation:2026-10-30",
                model="ease",
                task="recommendation",
                run_date=DAY,
                status="chosen",
                params={"lambda": 500.0},
                metrics={"ndcg@10": auc},
                data_end=DAY,
            )
        rows = con.execute(
            "select model, status, metrics->>'ndcg@10', data_end from ml.model_runs"
        ).fetchall()
        with pytest.raises(ValueError):
            record_model_run(con, run_id="x", model="m", task="t", run_date=DAY, status="great")
    finally:
        con.close()
    assert rows == [("ease", "chosen", "0.8", dt.datetime(2026, 10, 30))]


def test_a_segment_that_skips_a_night_gets_its_id_back(tailor_env):
    from ml.segmentation import run
    from tailor.pipeline import RunContext
    from tailor.warehouse import connect

    df, _ = customers(n_per_type=100, seed=6)

    def features(frame):
        con = connect(tailor_env.warehouse, settings=tailor_env)
        try:
            con.execute("create schema if not exists marts")
            con.register("_f", frame)
            con.execute("create or replace table marts.customer_features as select * from _f")
        finally:
            con.close()

    def config(k):
        return SegmentationConfig(k_range=(k, k), n_init=3, compare_alternatives=False)

    features(df)
    run(RunContext(day=DAY, settings=tailor_env), config(4))
    features(df.loc[~df["customer_id"].str.startswith("bargain")])  # a night without them
    gone = run(RunContext(day=DAY + dt.timedelta(days=1), settings=tailor_env), config(3))
    features(df)
    back = run(RunContext(day=DAY + dt.timedelta(days=2), settings=tailor_env), config(4))
    assert len(gone["segments"]) == 3
    assert back["segments"] == run(RunContext(day=DAY, settings=tailor_env), config(4))["segments"]
    con = connect(tailor_env.warehouse, read_only=True, settings=tailor_env)
    try:
        ids = con.execute(
            "select run_date, list(segment_id order by segment_id) from ml.segment_profiles "
            "group by 1 order by 1"
        ).fetchall()
        moves = json.loads(
            con.execute(
                "select metrics->>'moves' from ml.model_runs where run_date = ?",
                [DAY + dt.timedelta(days=2)],
            ).fetchall()[0][0]
        )
    finally:
        con.close()
    assert ids[0][1] == ids[2][1] == [1, 2, 3, 4]
    assert len(ids[1][1]) == 3 and set(ids[1][1]) < {1, 2, 3, 4}
    assert moves["returning_segments"] == 1 and moves["new_segments"] == 0


def test_alternatives_survive_customers_who_all_look_alike():
    """A store with a day of history (the REES46 sample): most customers have the same
    features, so the distance to the min_samples-th neighbour is 0 for 90% of them;
    DBSCAN still gets a positive eps instead of stopping the night."""
    Z = np.zeros((200, 4))
    Z[:15] = np.random.default_rng(0).normal(size=(15, 4))
    labels = np.zeros(200, dtype=int)
    labels[:15] = 1
    out = compare_alternatives(Z, labels, 2)
    dbscan = next(m for m in out if m["model"] == "dbscan")
    assert dbscan["params"]["eps"] > 0


def _chosen_then(result) -> PreviousRun:
    """previous_of, with when its k was chosen (what ml.model_runs stores)."""
    prev = previous_of(result)
    prev.selected_on, prev.selected_inertia = result.selected_on, result.selected_inertia
    return prev


def test_nights_between_selections_keep_k_and_choose_again_when_due():
    df, _ = customers(seed=1)
    config = SegmentationConfig(k_range=(2, 7), n_init=3, refit_every_days=7)
    first = segment(df, DAY, config=config)
    assert first.selected_on == DAY and len(first.model.selection_) and first.alternatives
    changed = df.copy()
    changed["sessions"] = changed["sessions"] + 1
    second = segment(
        changed, DAY + dt.timedelta(days=1), config=config, previous=_chosen_then(first)
    )
    assert second.model.selection_.empty and not second.alternatives  # no k range fitted
    assert second.model.k_ == first.model.k_ and second.selected_on == DAY
    assert f"chosen on {DAY}" in second.model.k_reason_
    assert second.moves["moved_share"] < 0.05
    week = segment(
        changed, DAY + dt.timedelta(days=7), config=config, previous=_chosen_then(second)
    )
    assert len(week.model.selection_) and week.selected_on == DAY + dt.timedelta(days=7)


def test_a_kept_k_that_no_longer_fits_is_chosen_again():
    df, _ = customers(n_per_type=150, seed=2)
    config = SegmentationConfig(k_range=(2, 6), n_init=3, compare_alternatives=False)
    buyers = df.loc[df["frequency"] > 0]
    first = segment(
        buyers.loc[~buyers["customer_id"].str.startswith("one_time")], DAY, config=config
    )
    # the next night brings many customers unlike any segment: the kept k fits far worse
    second = segment(df, DAY + dt.timedelta(days=1), config=config, previous=_chosen_then(first))
    assert len(second.model.selection_) and second.selected_on == DAY + dt.timedelta(days=1)
    assert "chosen again" in second.model.k_reason_
