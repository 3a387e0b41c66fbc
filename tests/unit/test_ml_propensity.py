"""Propensity: point-in-time features that cannot see the future, time splits, calibrated
scores, deciles and lift, on small warehouses whose answers are known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.propensity import (
    FEATURE_COLUMNS,
    PropensityConfig,
    calibration_error,
    cutoff_of,
    deciles,
    features_at,
    fit_calibrated,
    labelled_frame,
    labels_at,
    lift_table,
    make_logreg,
    plan_split,
    train_task,
    write_results,
)
from ml.runs import utcnow

pytestmark = pytest.mark.unit

START = dt.datetime(2026, 9, 1)
DAYS = 42
RUN_DAY = (START + dt.timedelta(days=DAYS - 1)).date()


SESSION_COLUMNS = [
    "customer_id",
    "started_at",
    "page_views",
    "product_views",
    "cart_adds",
    "device_type",
    "start_day_part",
]


def write_marts(con, **frames: pd.DataFrame) -> None:
    con.execute("create schema if not exists marts")
    for name, frame in frames.items():
        con.register("_frame", frame)
        con.execute(f"create or replace table marts.{name} as select * from _frame")
        con.unregister("_frame")


def build_marts(con, n_customers: int = 600, seed: int = 0) -> pd.DataFrame:
    """marts.orders / sessions / customers with the columns the propensity SQL reads.

    Each customer has a latent weekly purchase rate; a third of the buyers stop buying
    halfway through (they churn), so recent activity predicts the future.
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 0.08, n_customers)  # orders per day
    stop = np.where(rng.random(n_customers) < 0.33, rng.integers(10, DAYS, n_customers), DAYS)
    orders, sessions = [], []
    for i in range(n_customers):
        cid = f"C{i:05d}"
        for d in range(DAYS):
            if d >= stop[i]:
                break
            t = START + dt.timedelta(days=d, hours=int(rng.integers(8, 22)))
            if rng.random() < min(0.9, rate[i] * 3):
                sessions.append(
                    (
                        cid,
                        t,
                        int(rng.integers(1, 20)),
                        int(rng.integers(0, 10)),
                        int(rng.integers(0, 3)),
                        "mobile" if i % 2 else "desktop",
                        "evening" if i % 3 == 0 else "afternoon",
                    )
                )
            if rng.random() < rate[i]:
                amount = float(rng.lognormal(4, 0.5))
                orders.append(
                    (
                        f"O{len(orders):06d}",
                        cid,
                        t + dt.timedelta(minutes=5),
                        "completed",
                        t + dt.timedelta(minutes=5),
                        amount,
                        bool(rng.random() < 0.3),
                    )
                )
    con.execute("create schema if not exists marts")
    o = pd.DataFrame(
        orders,
        columns=[
            "order_id",
            "customer_id",
            "ordered_at",
            "status",
            "updated_at",
            "merchandise_amount",
            "has_discount",
        ],
    )
    o["total"] = o["merchandise_amount"]
    o["merchandise_amount_reporting"] = o["merchandise_amount"]
    o["is_purchase"] = o["status"] == "completed"
    s = pd.DataFrame(sessions, columns=SESSION_COLUMNS)
    s["is_converted"] = False
    c = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n_customers)],
            "created_at": [
                START - dt.timedelta(days=int(d)) for d in rng.integers(1, 400, n_customers)
            ],
        }
    )
    write_marts(con, orders=o, sessions=s, customers=c)
    return o


@pytest.fixture
def con(tailor_env):
    from tailor.warehouse import connect

    c = connect(tailor_env.warehouse, settings=tailor_env)
    yield c
    c.close()


def test_features_at_a_cutoff_do_not_change_when_the_future_is_deleted(con):
    build_marts(con)
    cutoff = cutoff_of(dt.date(2026, 9, 20))
    before = features_at(con, cutoff)
    # what happens after the cutoff: later orders and sessions, and a return recorded
    # after the cutoff for an order placed before it
    con.execute(
        """
        update marts.orders set status = 'returned', is_purchase = false,
            updated_at = $c + interval 2 day
        where order_id in (select order_id from marts.orders where ordered_at < $c limit 25)
    """,
        {"c": cutoff},
    )
    after_return = features_at(con, cutoff)
    con.execute("delete from marts.orders where ordered_at >= $c", {"c": cutoff})
    con.execute("delete from marts.sessions where started_at >= $c", {"c": cutoff})
    after_delete = features_at(con, cutoff)
    pd.testing.assert_frame_equal(before, after_return)
    pd.testing.assert_frame_equal(before, after_delete)
    # a return recorded before the cutoff is known at the cutoff, and does count
    con.execute(
        "update marts.orders set status = 'returned', is_purchase = false, "
        "updated_at = $c - interval 1 hour where order_id = (select min(order_id) from marts.orders)",
        {"c": cutoff},
    )
    assert features_at(con, cutoff)["orders_total"].sum() == before["orders_total"].sum() - 1
    assert len(before) == 600
    assert set(FEATURE_COLUMNS) <= set(before.columns)


def test_labels_come_only_from_the_window_after_the_cutoff(con):
    orders = build_marts(con)
    cutoff = cutoff_of(dt.date(2026, 9, 20))
    expected = set(
        orders.loc[
            (orders["ordered_at"] >= cutoff)
            & (orders["ordered_at"] < cutoff + dt.timedelta(days=7)),
            "customer_id",
        ]
    )
    assert labels_at(con, cutoff, 7) == expected
    # deleting everything before the cutoff does not change the labels
    con.execute("delete from marts.orders where ordered_at < $c", {"c": cutoff})
    assert labels_at(con, cutoff, 7) == expected


def test_churn_population_is_past_buyers_and_churn_is_no_order_in_the_window(con):
    build_marts(con)
    cutoff = cutoff_of(dt.date(2026, 9, 25))
    churn = labelled_frame(con, cutoff, "churn", PropensityConfig())
    purchase = labelled_frame(con, cutoff, "purchase", PropensityConfig())
    assert (churn["orders_total"] > 0).all()
    assert len(purchase) > len(churn)
    merged = churn.merge(purchase[["customer_id", "y"]], on="customer_id", suffixes=("", "_p"))
    assert ((merged["y"] + merged["y_p"]) == 1).all()


def test_time_split_puts_every_training_label_before_validation():
    config = PropensityConfig(horizon_days=7, train_cutoffs=3, stride_days=7, min_history_days=7)
    split = plan_split(RUN_DAY, START, config)
    horizon = dt.timedelta(days=7)
    assert split.score == cutoff_of(RUN_DAY)
    assert split.validation + horizon == split.score  # validation labels end with the run day
    for c in split.train:
        assert c + horizon <= split.validation  # training labels end before validation features
        assert c >= START + dt.timedelta(days=7)
    assert list(split.train) == sorted(split.train, reverse=True)
    assert [c + horizon for c in split.train] == list(split.refit)
    assert max(split.refit) + horizon <= split.score
    # too little history: no split at all
    assert plan_split(START.date() + dt.timedelta(days=10), START, config) is None


def test_calibrated_scores_match_known_probabilities():
    rng = np.random.default_rng(0)
    n = 6000
    X = rng.normal(size=(n, 3))
    true_p = 1 / (1 + np.exp(-(1.5 * X[:, 0] - 1.0 * X[:, 1] - 1.0)))
    y = (rng.random(n) < true_p).astype(int)
    X = np.abs(X)  # the log1p step of the pipeline expects non-negative counts
    true_p_model = true_p  # the labels were drawn from these
    train, test = slice(0, 4000), slice(4000, None)
    model = fit_calibrated(make_logreg(), X[train], y[train], np.arange(4000), folds=3)
    p = model.predict_proba(X[test])[:, 1]
    assert ((p >= 0) & (p <= 1)).all()
    assert calibration_error(y[test], p) < 0.05
    # the reliability of the known probabilities themselves is the floor
    assert calibration_error(y[test], true_p_model[test]) < 0.05
    assert abs(p.mean() - y[test].mean()) < 0.03


def test_deciles_and_lift_on_a_hand_worked_example():
    scores = np.arange(20, 0, -1) / 20.0  # 1.0, 0.95, ..., 0.05
    assert deciles(scores).tolist() == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
        6,
        6,
        7,
        7,
        8,
        8,
        9,
        9,
        10,
        10,
    ]
    y = np.array([1, 1, 1, 0] + [0] * 16)  # the top four scores hold all three positives
    table = lift_table(y, scores)
    assert table[0]["positives"] == 2 and table[0]["rate"] == 1.0
    assert table[0]["lift"] == pytest.approx(1.0 / 0.15)
    assert table[1]["cumulative_capture"] == pytest.approx(1.0)
    assert calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_train_task_scores_every_customer_and_beats_recency(con):
    build_marts(con, n_customers=500, seed=1)
    config = PropensityConfig(horizon_days=7, train_cutoffs=2, min_positives=10, gbm_max_iter=40)
    for task in ("churn", "purchase"):
        res = train_task(con, RUN_DAY, task, config)
        assert res.status == "chosen", res.message
        assert res.algorithm in ("logreg", "gbm")
        scores = res.scores
        assert scores["score"].between(0, 1).all()
        assert scores["customer_id"].is_unique
        assert set(scores["decile"]) == set(range(1, 11))
        m = res.candidates[res.algorithm]
        assert {"auc", "pr_auc", "brier", "lift"} <= set(m)
        assert m["auc"] > 0.6
    current = features_at(con, cutoff_of(RUN_DAY))
    assert len(res.scores) == len(current)  # purchase: every current customer

    write_results(con, RUN_DAY, [res], started_at=utcnow(), config=config)
    write_results(con, RUN_DAY, [res], started_at=utcnow(), config=config)  # a rerun replaces
    (n,) = con.execute("select count(*) from ml.propensity_scores").fetchall()[0]
    assert n == len(res.scores)
    runs = con.execute("select model, status from ml.model_runs order by model").fetchall()
    assert sorted(s for _, s in runs) == ["baseline", "candidate", "chosen"]


def test_too_little_history_is_skipped_not_failed(con):
    build_marts(con, n_customers=50)
    res = train_task(con, (START + dt.timedelta(days=5)).date(), "churn", PropensityConfig())
    assert res.status == "skipped"
    assert "history" in res.message


def test_zero_value_orders_are_purchases_and_same_day_orders_one_purchase_day(con):
    """A completed $0 order (a free sample, a fully discounted basket) is a purchase that
    adds no spend; three orders on one day are one purchase day; a credit note is no
    purchase."""
    day = dt.datetime(2026, 9, 10, 10)
    rows = [  # order, customer, placed, status, amount
        ("Z1", "zero", day, "completed", 0.0),
        ("S1", "same_day", day, "completed", 20.0),
        ("S2", "same_day", day + dt.timedelta(hours=2), "completed", 30.0),
        ("S3", "same_day", day + dt.timedelta(hours=5), "completed", 10.0),
        ("C1", "credit", day, "completed", -15.0),
    ]
    o = pd.DataFrame(
        rows, columns=["order_id", "customer_id", "ordered_at", "status", "merchandise_amount"]
    )
    o = o.assign(
        updated_at=o["ordered_at"],
        total=o["merchandise_amount"],
        merchandise_amount_reporting=o["merchandise_amount"],
        has_discount=False,
        # as the marts define it: completed with merchandise, or free
        is_purchase=(o["status"] == "completed") & (o["merchandise_amount"] >= 0),
    )
    c = pd.DataFrame({"customer_id": ["zero", "same_day", "credit"], "created_at": [day] * 3})
    s = pd.DataFrame(columns=[*SESSION_COLUMNS, "is_converted"])
    write_marts(con, orders=o, sessions=s, customers=c)
    con.execute("alter table marts.sessions alter started_at type timestamp")
    feats = features_at(con, dt.datetime(2026, 9, 20)).set_index("customer_id")
    assert feats.loc["zero", "orders_total"] == 1  # bought, for nothing
    assert feats.loc["zero", "revenue_total"] == 0
    assert feats.loc["same_day", ["orders_total", "purchase_days_total"]].tolist() == [3, 1]
    assert feats.loc["credit", "orders_total"] == 0
    # the label window counts a $0 order as a purchase, a credit note not
    assert labels_at(con, dt.datetime(2026, 9, 10), 7) == {"zero", "same_day"}
