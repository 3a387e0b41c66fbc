"""Expected purchases and value: BG/NBD and Gamma-Gamma against the published CDNOW
figures, and ml.customer_value calibrated on the backtest."""

from __future__ import annotations

import numpy as np
import pytest

from ml.propensity import PropensityConfig
from ml.propensity.btyd import BGNBD, GammaGamma, summary_from_purchase_days
from ml.propensity.job import score_day
from ml.runs import utcnow
from tests.unit.test_ml_propensity import RUN_DAY, build_marts

pytestmark = pytest.mark.unit

# Fader, Hardie & Lee (2005), CDNOW, 39 weeks: r, alpha (weeks), a, b
PAPER = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_bgnbd_gives_the_papers_conditional_expectation():
    # a customer with 2 repeat purchases, the last in week 30.43, observed for 38.86 weeks,
    # expects 1.226 purchases in the next 39 weeks (the paper's worked example)
    e = PAPER.expected(39 * 7, np.array([2.0]), np.array([30.43 * 7]), np.array([38.86 * 7]))
    assert e[0] == pytest.approx(1.226, abs=0.002)
    # without a repeat purchase nobody has dropped out yet
    assert PAPER.p_alive(np.array([0.0]), np.array([0.0]), np.array([200.0]))[0] == 1.0
    p = PAPER.p_buy(39 * 7, np.array([2.0]), np.array([30.43 * 7]), np.array([38.86 * 7]))
    assert 0 < p[0] < 1 and p[0] <= e[0]


def simulate(n: int, r: float, alpha: float, a: float, b: float, weeks: float, seed: int = 0):
    """Purchase histories from the BG/NBD story: days of purchases per customer."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n) / 7  # per day
    drop = rng.beta(a, b, n)
    days = weeks * 7
    out_c, out_d = [], []
    for i in range(n):
        t = 0.0
        out_c.append(i)
        out_d.append(0.0)
        while True:
            t += rng.exponential(1 / lam[i]) if lam[i] > 0 else np.inf
            if t >= days:
                break
            out_c.append(i)
            out_d.append(np.floor(t))
            if rng.random() < drop[i]:
                break
    return np.array(out_c), np.array(out_d)


def test_bgnbd_recovers_its_parameters_and_predicts_the_holdout_count():
    c, d = simulate(4000, r=0.5, alpha=6.0, a=0.8, b=2.5, weeks=78, seed=1)
    cal = d < 39 * 7
    s = summary_from_purchase_days(c[cal], d[cal], np.ones(cal.sum()), 39 * 7.0)
    fitted = BGNBD.fit(s["x"], s["t_x"], s["T"])
    assert fitted.r == pytest.approx(0.5, rel=0.25)
    assert fitted.a == pytest.approx(0.8, rel=0.35)
    hold = ~cal
    predicted = fitted.expected(39 * 7, s["x"], s["t_x"], s["T"]).sum()
    assert predicted == pytest.approx(hold.sum(), rel=0.1)


def test_bgnbd_fitted_on_distinct_summaries_is_the_customers_maximum_likelihood():
    """The fit evaluates each distinct (x, t_x, T) once, weighted by its customers; the
    result must maximize the mean log-likelihood over the customers themselves."""
    from scipy.optimize import minimize

    from ml.propensity.btyd import WEEK, _bgnbd_ll

    c, d = simulate(3000, r=0.5, alpha=6.0, a=0.8, b=2.5, weeks=26, seed=3)
    s = summary_from_purchase_days(c, d, np.ones(len(c)), 26 * 7.0)
    x, t_x, T = (np.asarray(s[k], dtype=float) for k in ("x", "t_x", "T"))
    distinct = len(np.unique(np.column_stack([x, t_x, T]), axis=0))
    assert distinct < len(x) / 3  # whole days: many customers share a summary
    fitted = BGNBD.fit(x, t_x, T)

    def per_customer(logp):
        return -_bgnbd_ll(*np.exp(logp), x, t_x / WEEK, T / WEEK).mean()

    at_fit = np.log([fitted.r, fitted.alpha, fitted.a, fitted.b])
    polished = minimize(per_customer, at_fit, method="L-BFGS-B", bounds=[(-10, 10)] * 4)
    # nothing better within reach of the per-customer objective
    assert per_customer(at_fit) - polished.fun < 1e-6


def test_gamma_gamma_shrinks_a_customers_mean_towards_the_population():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 8, 3000).astype(float)
    m = rng.gamma(6.0, 1.0, 3000) * 10
    gg = GammaGamma.fit(n, m)
    few, many = gg.expected_value(np.array([1.0, 10.0]), np.array([200.0, 200.0]))
    population = gg.expected_value(np.array([0.0]), np.array([np.nan]))[0]
    assert population < few < many < 200.0


def test_customer_value_adds_up_to_the_backtest(tailor_env):
    from tailor.warehouse import connect

    con = connect(tailor_env.warehouse, settings=tailor_env)
    try:
        build_marts(con, n_customers=500, seed=4)
        config = PropensityConfig(horizons=(7,), min_positives=10, gbm_max_iter=30)
        summary = score_day(con, RUN_DAY, config, utcnow())
        assert summary["value_7d"]["status"] == "chosen"
        rows = con.execute(
            "select count(*), sum(purchase_probability), sum(expected_purchases), "
            "bool_and(expected_purchases >= purchase_probability - 1e-9), bool_and(is_primary), "
            "bool_and(expected_value >= 0) from ml.customer_value where run_date = ?",
            [RUN_DAY],
        ).fetchall()[0]
        (scored,) = con.execute(
            "select count(*) from ml.propensity_scores where model = 'purchase' and run_date = ?",
            [RUN_DAY],
        ).fetchall()[0]
        assert rows[0] == scored  # every customer the purchase model scores
        assert rows[3] and rows[4] and rows[5]
        import json

        (metrics,) = con.execute(
            "select metrics::varchar from ml.model_runs where run_id = ?",
            [f"value:{RUN_DAY}:7d"],
        ).fetchall()[0]
        m = json.loads(metrics)["validation"]
        # summed probabilities and expected counts match the backtest within a few per cent
        assert m["predicted_buyers"] == pytest.approx(m["buyers"], rel=0.05)
        assert m["predicted_purchases"] == pytest.approx(m["purchases"], rel=0.05)
    finally:
        con.close()
