"""ML nights on a refit cadence: a refit night against a reuse night, side by side in one
run on the same data, and what a reused fit gives up in quality as it ages.

Recommendations (``ml.recommend``): synthetic interactions drawn as in
``recommend_scale.py`` (long-tailed popularity, a favourite category per customer, view /
cart / purchase, 90 days) are written as the marts the job reads. The job fits on night
F (a refit: nothing is stored yet), then, for each age ``a`` in ``--ages``, on night
``F + a``:

* quality: the stored fit of F and a model refitted on that night's training part are
  scored on the same holdout, the customers whose held-out products all came after F
  (what the drift monitor watches); NDCG@10 of both, and popularity's;
* time (age 1 only): the stage as the pipeline runs it, ``recommend_day``, once reusing
  the stored fit and once refitting (``refit_every_days: 1``), one after the other.

Propensity (``ml.propensity``): orders, sessions and customers drawn per customer (a
purchase rate, a third of the buyers stopping midway) over 150 days; the stage
(``score_day``: churn and purchase, the value model) on night F (refit), then on F + 1
reusing and refitting; the AUC and calibration error, on F + 1's validation cutoff, of
each learner trained on the cutoffs of F + 1 and on those of a night ``a`` days earlier
(out of sample for both).

Recorded on the shared 2-core machine, 2026-12-03, other jobs running (load average 15 at
the start, up to 28 during the run), ``/usr/bin/time -v python benchmarks/ml_night.py``:
recommend on 2M interactions, 200k customers, 5k products (default models: RP3beta
served); propensity on 50k customers, 193k orders, 578k sessions, horizon 30.

==================================  =========  =========  ===========================
stage, night F + 1                  refitting  reusing    what the reuse night skips
==================================  =========  =========  ===========================
recommend (``recommend_day``)       366.5 s    82.1 s     tuning, 4 candidates, fit
propensity (``score_day``)          251.2 s    50.5 s     backtest and refit, 2 tasks
==================================  =========  =========  ===========================

(the first night, a refit: recommend 388.8 s, propensity 170.9 s; the load rose between.)
Quality of the recommender reused vs refitted, NDCG@10 on the same holdout (customers
whose held-out products all came after the fit; popularity 0.021-0.024):

===========  ==================  =======  =======  =======
age (days)   holdout customers   reused   refit    ratio
===========  ==================  =======  =======  =======
1            2,361               0.1056   0.1058   0.998
3            6,879               0.1165   0.1151   1.012
7            15,219              0.1219   0.1212   1.006
14           28,128              0.1242   0.1241   1.001
===========  ==================  =======  =======  =======

The synthetic tastes do not move, so this bounds what the cadence costs when nothing
changes; a change of tastes is what the drift monitor is for (the unit test
``test_a_drift_beyond_the_threshold_forces_a_refit`` moves every customer to another
cluster: the stored model's NDCG@10 falls 63 % and the night refits). Propensity: each
learner trained on the cutoffs of a night ``a`` days earlier, AUC / calibration error on
F + 1's validation cutoff:

===========  ===============  ===============  ===============  ===============
age (days)   churn gbm        purchase gbm     churn logreg     purchase logreg
===========  ===============  ===============  ===============  ===============
0            0.8278 / 0.046   0.8537 / 0.041   0.8036 / 0.056   0.8368 / 0.047
7            0.8267 / 0.055   0.8526 / 0.048   0.8074 / 0.063   0.8359 / 0.062
14           0.8248 / 0.065   0.8507 / 0.061   0.8060 / 0.086   0.8344 / 0.084
===========  ===============  ===============  ===============  ===============

A week costs about 0.001 of AUC and 0.007-0.015 of calibration error, well inside
``max_auc_drop`` / ``max_calibration_drift`` (0.05); two weeks already cost logreg 0.03-0.04
of calibration: the default cadence is 7 days. Whole run 39 min wall clock (20 % of a
CPU: the machine was shared), peak RSS 1.8 GB; results in ``results/ml_night-2m.json``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/ml_night.py                 # 2M interactions
    python benchmarks/ml_night.py --customers 20000 --products 2000 \\
        --interactions 200000 --buyers 5000                              # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from recommend_scale import AS_OF, peak_rss_mb, synthetic, write_marts  # noqa: E402


def timed(results: dict, name: str, fn):
    started = time.perf_counter()
    out = fn()
    results[name] = {"seconds": round(time.perf_counter() - started, 1)}
    print(f"[{name}] {results[name]['seconds']} s  peak RSS {peak_rss_mb():.0f} MB", flush=True)
    return out


# --------------------------------------------------------------------------- recommend


def recommend_quality(con, day: dt.date, config) -> dict:
    """NDCG@10 of the stored fit and of a refit, on the customers new since the fit."""
    from ml.recommend import load_data, resolve, split_for
    from ml.recommend.bench import Bench, fit
    from ml.recommend.cadence import last_fit, restore
    from ml.recommend.data import Features
    from ml.recommend.models import build

    data = load_data(con, day, config)
    config = resolve(config, data)
    stored = last_fit(con, day)
    reused = restore(stored, data, config)
    split = split_for(data.events, data, config, end=data.as_of_days, max_users=None)
    users = split.users[split.cutoff[split.users] >= float(stored.spec["as_of_days"])]
    if config.max_eval_users and len(users) > config.max_eval_users:
        users = np.sort(np.random.default_rng(0).choice(users, config.max_eval_users, False))
    features = Features(**stored.spec["features"])
    bench = Bench.make(data, dataclasses.replace(split, users=users), features, config)
    params = stored.spec["params"]
    refit = build(stored.model, config, data.n_items, params.get(stored.model), params)
    started = time.perf_counter()
    fit(refit, bench.X, data, {})
    fit_seconds = time.perf_counter() - started
    out = {
        "model": stored.model,
        "holdout_customers": len(bench.users),
        "reused_ndcg@10": round(float(bench.ndcg(reused, bench.popularity).mean()), 4),
        "refit_ndcg@10": round(float(bench.ndcg(refit, bench.popularity).mean()), 4),
        "popularity_ndcg@10": round(
            float(bench.ndcg(bench.popularity, bench.popularity).mean()), 4
        ),
        "refit_fit_seconds": round(fit_seconds, 1),
    }
    out["reused_vs_refit"] = round(out["reused_ndcg@10"] / max(out["refit_ndcg@10"], 1e-9), 3)
    return out


def bench_recommend(args, work: Path, results: dict) -> None:
    from ml.compute import limited_threads
    from ml.recommend import RecommendConfig, recommend_day
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    data, cfg = timed(
        results,
        "recommend: synthetic data",
        lambda: synthetic(args.customers, args.products, args.interactions),
    )
    path = work / "recommend.duckdb"
    timed(results, "recommend: write marts", lambda: write_marts(data, cfg, path))
    settings = dataclasses.replace(get_settings(), warehouse=path)
    config = RecommendConfig(max_eval_users=args.eval_users)
    fit_day = AS_OF.date() - dt.timedelta(days=1 + max(args.ages))
    con = connect(path, settings=settings)
    dbt = ROOT / "dbt_project"
    try:
        with limited_threads(args.threads):
            first = timed(
                results,
                "recommend: night F (refit, first)",
                lambda: recommend_day(con, fit_day, config, dbt_project=dbt),
            )
            results["recommend: night F (refit, first)"] |= {
                "served": first["served"],
                "ndcg@10": first["ndcg@10"],
            }
            quality = {}
            for age in args.ages:
                day = fit_day + dt.timedelta(days=age)
                quality[age] = recommend_quality(con, day, config.with_dbt_vars(dbt))
                print(f"    age {age}: {quality[age]}", flush=True)
            results["recommend: quality by age of the fit"] = quality
            day = fit_day + dt.timedelta(days=1)
            reuse = timed(
                results,
                "recommend: night F+1, reusing",
                lambda: recommend_day(con, day, config, dbt_project=dbt),
            )
            results["recommend: night F+1, reusing"]["refit_reason"] = reuse["refit_reason"]
            nightly = dataclasses.replace(config, refit_every_days=1)
            timed(
                results,
                "recommend: night F+1, refitting",
                lambda: recommend_day(con, day, nightly, dbt_project=dbt),
            )
    finally:
        con.close()


# --------------------------------------------------------------------------- propensity


def propensity_marts(con, n: int, days: int, start: dt.datetime, seed: int = 0) -> None:
    """marts.orders / sessions / customers: per customer a daily purchase rate; a third
    of the buyers stop at a random day (they churn)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(1.0, 0.03, n)
    stop = np.where(rng.random(n) < 0.33, rng.integers(20, days, n), days)
    day = np.arange(days)
    alive = day[None, :] < stop[:, None]
    hours = rng.integers(8, 22, (n, days))
    ordered = alive & (rng.random((n, days)) < rate[:, None])
    visited = alive & (rng.random((n, days)) < np.minimum(0.9, rate * 3)[:, None])
    ids = np.array([f"C{i:07d}" for i in range(n)], dtype=object)

    def instants(mask: np.ndarray, minutes: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
        c, d = np.nonzero(mask)
        at = (
            pd.Timestamp(start)
            + pd.to_timedelta(d, unit="D")
            + pd.to_timedelta(hours[c, d], unit="h")
            + pd.Timedelta(minutes=minutes)
        )
        return c, at

    c, at = instants(ordered, 5)
    amount = rng.lognormal(4, 0.5, len(c))
    orders = pd.DataFrame(
        {
            "order_id": [f"O{i:08d}" for i in range(len(c))],
            "customer_id": ids[c],
            "ordered_at": at,
            "status": "completed",
            "updated_at": at,
            "merchandise_amount": amount,
            "has_discount": rng.random(len(c)) < 0.3,
            "total": amount,
            "merchandise_amount_reporting": amount,
            "is_purchase": True,
        }
    )
    c, at = instants(visited, 0)
    sessions = pd.DataFrame(
        {
            "customer_id": ids[c],
            "started_at": at,
            "page_views": rng.integers(1, 20, len(c)),
            "product_views": rng.integers(0, 10, len(c)),
            "cart_adds": rng.integers(0, 3, len(c)),
            "device_type": np.where(c % 2 == 1, "mobile", "desktop"),
            "start_day_part": np.where(c % 3 == 0, "evening", "afternoon"),
            "is_converted": False,
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "created_at": pd.Timestamp(start) - pd.to_timedelta(rng.integers(1, 400, n), unit="D"),
        }
    )
    con.execute("create schema if not exists marts")
    for name, frame in (("orders", orders), ("sessions", sessions), ("customers", customers)):
        con.register("_frame", frame)
        con.execute(f"create or replace table marts.{name} as select * from _frame")
        con.unregister("_frame")
    print(f"    {len(orders):,} orders, {len(sessions):,} sessions, {n:,} customers", flush=True)


def propensity_staleness(con, day: dt.date, task: str, config, ages: list[int]) -> dict:
    """AUC on ``day``'s validation cutoff of the learner trained on the cutoffs a night
    ``age`` days earlier would have used: what a fit ``age`` days old gives up, measured
    out of sample (a stored final model has seen labels that overlap the night's
    validation window, so it cannot be scored on it fairly)."""
    from ml.propensity import train
    from ml.propensity.evaluation import evaluate
    from ml.propensity.features import data_bounds, labelled_frame
    from ml.propensity.models import fit_calibrated, make_model

    first, _ = data_bounds(con, config)
    valid = labelled_frame(con, train.plan_split(day, first, config).validation, task, config)
    out = {}
    for algorithm in ("logreg", "gbm"):
        for age in ages:
            split = train.plan_split(day - dt.timedelta(days=age), first, config)
            frame = pd.concat([labelled_frame(con, c, task, config) for c in split.train])
            cols = train.informative_columns(frame)
            model = fit_calibrated(
                make_model(algorithm, config),
                frame[cols].to_numpy(dtype=float),
                frame["y"].to_numpy(dtype=int),
                frame["customer_id"].to_numpy(),
                folds=config.calibration_folds,
            )
            p = model.predict_proba(valid[cols].to_numpy(dtype=float))[:, 1]
            m = evaluate(valid["y"].to_numpy(dtype=int), p)
            out[f"{algorithm}, {age} days old"] = {
                "auc": round(m["auc"], 4),
                "ece": round(m["ece"], 4),
            }
    return out


def bench_propensity(args, work: Path, results: dict) -> None:
    from ml.compute import limited_threads
    from ml.propensity import PropensityConfig
    from ml.propensity.job import score_day
    from ml.runs import utcnow
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    days = 150
    start = dt.datetime(2026, 6, 1)
    path = work / "propensity.duckdb"
    settings = dataclasses.replace(get_settings(), warehouse=path)
    con = connect(path, settings=settings)
    config = PropensityConfig(horizons=(30,), horizon_days=30)
    fit_day = (start + dt.timedelta(days=days - 2)).date()
    try:
        timed(
            results,
            "propensity: synthetic marts",
            lambda: propensity_marts(con, args.buyers, days, start),
        )
        with limited_threads(args.threads):
            timed(
                results,
                "propensity: night F (refit, first)",
                lambda: score_day(con, fit_day, config, utcnow()),
            )
            day = fit_day + dt.timedelta(days=1)
            reuse = timed(
                results,
                "propensity: night F+1, reusing",
                lambda: score_day(con, day, config, utcnow()),
            )
            results["propensity: night F+1, reusing"]["reused"] = all(
                v.get("status") == "chosen" for v in reuse.values()
            )
            nightly = dataclasses.replace(config, refit_every_days=1)
            timed(
                results,
                "propensity: night F+1, refitting",
                lambda: score_day(con, day, nightly, utcnow()),
            )
            stale = {
                task: propensity_staleness(con, day, task, config.at(30), [0, *args.ages])
                for task in ("churn", "purchase")
            }
            results["propensity: AUC on the validation cutoff of F+1 by age of the fit"] = stale
            print(f"    {stale}", flush=True)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--products", type=int, default=5_000)
    ap.add_argument("--interactions", type=int, default=2_000_000)
    ap.add_argument("--eval-users", type=int, default=50_000)
    ap.add_argument("--ages", type=lambda s: [int(x) for x in s.split(",")], default=[1, 3, 7, 14])
    ap.add_argument("--buyers", type=int, default=50_000, help="propensity customers")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip", choices=("recommend", "propensity"), action="append", default=[])
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args(argv)
    results: dict = {"args": {k: v for k, v in vars(args).items() if k != "out"}}
    with tempfile.TemporaryDirectory(prefix="ml_night-") as tmp:
        os.environ.setdefault("TAILOR_DATA", str(Path(tmp) / "data"))
        if "recommend" not in args.skip:
            bench_recommend(args, Path(tmp), results)
        if "propensity" not in args.skip:
            bench_propensity(args, Path(tmp), results)
    results["peak_rss_mb"] = round(peak_rss_mb())
    text = json.dumps(results, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
