"""Propensity horizons as settings: several side by side, one added by hand without
replacing the others, and a horizon that cannot be trained keeps its scores."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ml.propensity import PropensityConfig
from ml.propensity.job import score_day
from ml.runs import utcnow
from tests.unit.test_ml_propensity import RUN_DAY, START, build_marts

pytestmark = pytest.mark.unit

FAST = dict(min_positives=10, gbm_max_iter=30, calibration_folds=2)


@pytest.fixture
def con(tailor_env):
    from tailor.warehouse import connect

    c = connect(tailor_env.warehouse, settings=tailor_env)
    build_marts(c, n_customers=400, seed=3)
    yield c
    c.close()


def scored(con, day):
    return {
        (model, h): (n, primary)
        for model, h, n, primary in con.execute(
            "select model, horizon_days, count(*), bool_and(is_primary) "
            "from ml.propensity_scores where run_date = ? group by 1, 2",
            [day],
        ).fetchall()
    }


def test_two_horizons_side_by_side_and_one_added_by_hand(con):
    config = PropensityConfig(horizons=(7, 14), **FAST)
    summary = score_day(con, RUN_DAY, config, utcnow())
    assert {k: v["status"] for k, v in summary.items()} == {
        "churn_7d": "chosen",
        "purchase_7d": "chosen",
        "churn_14d": "chosen",
        "purchase_14d": "chosen",
        "value_7d": "chosen",
        "value_14d": "chosen",
    }
    first = scored(con, RUN_DAY)
    assert set(first) == {("churn", 7), ("purchase", 7), ("churn", 14), ("purchase", 14)}
    # the first configured horizon is the primary one (customer_360, legacy audience ids)
    assert {k: primary for k, (_, primary) in first.items()} == {
        ("churn", 7): True,
        ("purchase", 7): True,
        ("churn", 14): False,
        ("purchase", 14): False,
    }
    # `tailor score --horizon-days 10` adds a horizon; the nightly ones stay as they are
    score_day(con, RUN_DAY, dataclasses.replace(config, only=(10,)), utcnow())
    after = scored(con, RUN_DAY)
    assert {k: v for k, v in after.items() if k[1] != 10} == first
    assert after[("purchase", 10)][1] is False
    # one score per customer, model and horizon; a rerun replaces
    score_day(con, RUN_DAY, config, utcnow())
    (dupes,) = con.execute(
        "select count(*) from (select customer_id, model, horizon_days from ml.propensity_scores "
        "group by all having count(*) > 1)"
    ).fetchall()[0]
    assert dupes == 0
    runs = con.execute(
        "select distinct run_id from ml.model_runs where task = 'purchase' order by 1"
    ).fetchall()
    assert [r for (r,) in runs] == [
        f"purchase:{RUN_DAY}:10d",
        f"purchase:{RUN_DAY}:14d",
        f"purchase:{RUN_DAY}:7d",
    ]


def test_a_horizon_that_cannot_be_trained_keeps_its_scores(con):
    yesterday = RUN_DAY - dt.timedelta(days=1)
    config = PropensityConfig(horizons=(7,), **FAST)
    score_day(con, yesterday, config, utcnow())
    before = con.execute(
        "select customer_id, model, score from ml.propensity_scores where run_date = ? order by 1, 2",
        [yesterday],
    ).fetchall()
    assert before
    # today too few buyers to train (as a shop after a quiet week): reported, not deleted
    summary = score_day(con, RUN_DAY, dataclasses.replace(config, min_positives=10**6), utcnow())
    assert summary["purchase_7d"]["status"] == "skipped"
    assert summary["purchase_7d"]["kept_scores_of"] == f"purchase:{yesterday}:7d"
    today = con.execute(
        "select customer_id, model, score from ml.propensity_scores where run_date = ? order by 1, 2",
        [RUN_DAY],
    ).fetchall()
    assert today == before
    (message,) = con.execute(
        "select message from ml.model_runs where run_id = ?", [f"purchase:{RUN_DAY}:7d"]
    ).fetchall()[0]
    assert "too few" in message and "kept" in message


def test_a_young_shop_is_scored_at_the_short_horizon_and_the_long_ones_reported(con):
    day = (START + dt.timedelta(days=27)).date()  # 4 weeks of history: 30 and 90 days too long
    config = PropensityConfig(horizons=(30, 90), short_history_horizon=7, **FAST)
    summary = score_day(con, day, config, utcnow())
    assert summary["purchase_30d"]["status"] == "skipped"
    assert "not enough history" in summary["purchase_90d"]["message"]
    assert summary["purchase_7d"]["status"] == "chosen"
    assert {k: primary for k, (_, primary) in scored(con, day).items()} == {
        ("churn", 7): True,
        ("purchase", 7): True,
    }
    skipped = con.execute(
        "select distinct run_id from ml.model_runs where run_date = ? and status = 'skipped' "
        "order by 1",
        [day],
    ).fetchall()
    assert [r for (r,) in skipped] == [
        f"churn:{day}:30d",
        f"churn:{day}:90d",
        f"purchase:{day}:30d",
        f"purchase:{day}:90d",
        f"value:{day}:30d",
        f"value:{day}:90d",
    ]
