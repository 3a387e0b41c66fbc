"""Propensity models refit on a cadence: a night within it scores every current customer
with the stored fit (nothing is fitted), a drift of the stored model's AUC or calibration
on the newest matured labels forces a refit, the setting sets the cadence, and a stored
fit that this warehouse did not sign is never loaded."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ml.propensity import PropensityConfig, features_at, train_task, write_results
from ml.propensity.features import cutoff_of
from ml.runs import utcnow
from tailor.config import _parse_propensity

from .test_ml_propensity import RUN_DAY, build_marts

pytestmark = pytest.mark.unit

CONFIG = PropensityConfig(horizon_days=7, train_cutoffs=2, min_positives=10, gbm_max_iter=40)
FIT_DAY = RUN_DAY - dt.timedelta(days=1)


@pytest.fixture
def con(tailor_env):
    from tailor.warehouse import connect

    c = connect(tailor_env.warehouse, settings=tailor_env)
    build_marts(c, n_customers=500, seed=1)
    yield c
    c.close()


def no_fit(*args, **kwargs):
    raise AssertionError("a night within the cadence fitted a model")


def test_a_night_within_the_cadence_scores_with_the_stored_fit(con, monkeypatch):
    fit = train_task(con, FIT_DAY, "purchase", CONFIG)
    assert fit.status == "chosen" and fit.cadence["refit"], fit.message
    from ml.propensity import train

    monkeypatch.setattr(train, "fit_calibrated", no_fit)
    res = train_task(con, RUN_DAY, "purchase", CONFIG)
    assert res.status == "chosen" and not res.cadence["refit"], res.cadence
    assert res.cadence["fitted_on"] == FIT_DAY.isoformat()
    assert res.algorithm == fit.algorithm
    # every current customer scored, as a refit night scores them
    assert len(res.scores) == len(features_at(con, cutoff_of(RUN_DAY), CONFIG))
    assert res.scores["score"].between(0, 1).all()
    assert set(res.scores["decile"]) == set(range(1, 11))
    # the stored model, watched on the newest matured labels, beside the stored baseline
    assert res.candidates[res.algorithm]["auc"] > 0.6
    assert "auc" in res.candidates["recency_baseline"]
    # the validation scores the night reports are those the monitor judged
    from ml.propensity.evaluation import evaluate

    judged = evaluate(res.validation["y"].to_numpy(), res.validation["score"].to_numpy())
    assert judged["auc"] == pytest.approx(res.candidates[res.algorithm]["auc"], abs=1e-12)
    # ml.model_runs says the night reused, which fit and why
    write_results(con, RUN_DAY, [res], started_at=utcnow(), config=CONFIG)
    (window,) = con.execute(
        "select data_window from ml.model_runs where status = 'chosen' and run_date = ?",
        [RUN_DAY],
    ).fetchone()
    window = json.loads(window)
    assert window["refit"] is False and window["refit_reason"].startswith("reused the fit of")


@pytest.mark.parametrize("metric", ["auc", "ece"])
def test_a_drift_beyond_the_threshold_forces_a_refit(con, metric):
    train_task(con, FIT_DAY, "churn", CONFIG)
    within = train_task(con, RUN_DAY, "churn", CONFIG)
    assert not within.cadence["refit"], within.cadence
    # the fit-time value the stored model is held to: far better than it does tonight
    better = 0.999 if metric == "auc" else 0.0
    if metric == "ece":  # tonight's calibration error exceeds it by more than the limit
        assert within.cadence["monitored_ece"] > CONFIG.max_calibration_drift
    con.execute(
        "update private.fitted_models set spec = json_merge_patch(spec, ?) where fit_date = ?",
        [json.dumps({metric: better}), FIT_DAY],
    )
    res = train_task(con, RUN_DAY, "churn", CONFIG)
    assert res.cadence["refit"] and res.cadence["refit_reason"].startswith("drift:"), res.cadence
    label = "AUC" if metric == "auc" else "calibration error"
    assert label in res.cadence["refit_reason"]


def test_the_setting_sets_the_cadence(con):
    days = [FIT_DAY - dt.timedelta(days=1), FIT_DAY, RUN_DAY]
    every_other = PropensityConfig(**{**CONFIG.__dict__, "refit_every_days": 2})
    refits = [train_task(con, d, "purchase", every_other).cadence["refit"] for d in days]
    assert refits == [True, False, True]
    nightly = PropensityConfig(**{**CONFIG.__dict__, "refit_every_days": 1})
    assert all(train_task(con, d, "purchase", nightly).cadence["refit"] for d in days)
    # config/tailor.yml's propensity: section carries it to the job
    section = _parse_propensity({"refit_every_days": 3, "max_auc_drop": 0.02}, "propensity")
    run = PropensityConfig.from_settings(section)
    assert (run.refit_every_days, run.max_auc_drop) == (3, 0.02)


def test_a_stored_fit_this_warehouse_did_not_sign_is_refitted_not_loaded(con, monkeypatch):
    train_task(con, FIT_DAY, "purchase", CONFIG)
    (payload,) = con.execute("select payload from private.fitted_models").fetchone()
    forged = bytes(32) + bytes(payload)[32:]  # same pickle, another signature
    con.execute("update private.fitted_models set payload = ?", [forged])
    import pickle

    monkeypatch.setattr(pickle, "loads", no_fit)
    res = train_task(con, RUN_DAY, "purchase", CONFIG)
    assert res.cadence["refit"] and "signature" in res.cadence["refit_reason"], res.cadence
