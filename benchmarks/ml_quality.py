"""Measure segmentation and propensity quality against the generator's ground truth.

    .venv/bin/python benchmarks/ml_quality.py                     # defaults: 5000 customers, 800 products, 30 days, seed 42
    .venv/bin/python benchmarks/ml_quality.py --seed 7 --seed 42  # several data sets
    .venv/bin/python benchmarks/ml_quality.py --reuse             # skip generate/load/dbt when the warehouse exists
    .venv/bin/python benchmarks/ml_quality.py --daily             # load, build and segment/score day by day
    .venv/bin/python benchmarks/ml_quality.py --nightly           # `tailor run`: every pipeline stage, every day

Per seed it generates the data set into its own work folder (``--workdir``, default
``$TMPDIR/tailor-ml-quality/seed-<seed>``), loads every day, builds the dbt project as of
the last day, runs the segmentation and propensity stages for that day exactly as the
nightly pipeline does (``ml.segmentation.run``, ``ml.propensity.run``), then reads what
they wrote and compares it with ``personas.csv``. ``--daily`` does the same one day at a
time (load day D, dbt build as of D, segments and scores for D), so the last day's
segments carry their ids and k from the nights before, as in production:

* adjusted Rand index of ``ml.customer_segments`` against the personas (target >= 0.6),
  and, as diagnostics, the ARI K-Means would get at every k of the range and the ARI of
  the Gaussian mixture and DBSCAN alternatives;
* which personas share segments (the persona x segment table);
* churn and purchase AUC, PR-AUC and Brier of the chosen model on the temporal
  validation cutoff, against the recency-only baseline (target: churn AUC beats it).

Prints a report and writes it as JSON (``--output``, default ``<workdir>/ml_quality.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ARI_TARGET = 0.6
# The dbt layers the ML stages read (customer_360 and the audiences are built after them).
MARTS = "resource_type:seed staging intermediate marts.core marts.segmentation marts.ml"


def _settings_for(workdir: Path):
    os.environ["TAILOR_DATA"] = str(workdir / "data")
    for var in (
        "TAILOR_WAREHOUSE",
        "TAILOR_SNAPSHOT",
        "TAILOR_LANDING",
        "TAILOR_GROUND_TRUTH",
        "TAILOR_EXPORTS",
        "TAILOR_REPORTS",
        "TAILOR_DUCKDB_TEMP",
    ):
        os.environ.pop(var, None)
    from tailor.settings import get_settings

    return get_settings()


def _has_marts(s) -> bool:
    from tailor.warehouse import connect

    if not s.warehouse.exists():
        return False
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return (
            con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'marts' and table_name = 'customer_features'"
            ).fetchall()[0][0]
            > 0
        )
    finally:
        con.close()


def prepare(
    args: argparse.Namespace, seed: int, workdir: Path
) -> tuple[Any, dt.date, dict[str, float]]:
    """Generate, load and build the marts (or reuse them). Returns settings, last day, timings."""
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    s = _settings_for(workdir)
    start = dt.date.fromisoformat(args.start)
    last = start + dt.timedelta(days=args.days - 1)
    timings: dict[str, float] = {}
    config = GeneratorConfig(
        customers=args.customers, products=args.products, days=args.days, start=start, seed=seed
    )
    manifest = s.ground_truth / "manifest.json"
    generated = (
        manifest.exists() and json.loads(manifest.read_text()).get("config") == config.as_dict()
    )
    if args.reuse and generated and _has_marts(s):
        return s, last, timings
    if not (args.reuse and generated):
        t = time.perf_counter()
        generate(config, s.landing, s.ground_truth)
        timings["generate_s"] = time.perf_counter() - t
    if args.nightly:
        from tailor import pipeline

        s.warehouse.unlink(missing_ok=True)
        t = time.perf_counter()
        pipeline.run_range(start, last, s)
        timings["nightly_s"] = time.perf_counter() - t
        return s, last, timings

    from tailor import ingest, transform
    from tailor.warehouse import connect

    s.warehouse.unlink(missing_ok=True)
    if args.daily:
        t = time.perf_counter()
        for day in ingest.available_days(s.landing):
            con = connect(s.warehouse, settings=s)
            try:
                ingest.load_day(con, s.landing, day)
            finally:
                con.close()
            transform.build(run_date=day, select=MARTS, settings=s, tests=False)
            summary = run_ml(s, day)
            # the first churn horizon scored (keys: churn_<days>d)
            churn = next(
                (
                    v
                    for k, v in summary["propensity"].items()
                    if k.startswith("churn_") and v.get("auc")
                ),
                {},
            )
            print(
                f"{day}: k={summary['segmentation'].get('k')} moved={summary['segmentation'].get('moved')} "
                f"k chosen on {summary['segmentation'].get('k_selected_on')} "
                f"churn={churn.get('auc', 'skipped')}",
                flush=True,
            )
        timings["daily_s"] = time.perf_counter() - t
        return s, last, timings
    t = time.perf_counter()
    con = connect(s.warehouse, settings=s)
    try:
        # load every landing day, as the integration tests load theirs
        for day in ingest.available_days(s.landing):
            ingest.load_day(con, s.landing, day)
    finally:
        con.close()
    timings["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    transform.build(run_date=last, select=MARTS, settings=s, tests=False)
    timings["dbt_s"] = time.perf_counter() - t
    return s, last, timings


def run_ml(s, day: dt.date) -> dict[str, Any]:
    """The two ML stages for ``day``, as the pipeline calls them."""
    from ml import propensity, segmentation
    from tailor.pipeline import RunContext

    ctx = RunContext(day=day, settings=s)
    out: dict[str, Any] = {}
    t = time.perf_counter()
    out["segmentation"] = segmentation.run(ctx)
    out["segmentation_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out["propensity"] = propensity.run(ctx)
    out["propensity_s"] = time.perf_counter() - t
    return out


def measure(s, day: dt.date) -> dict[str, Any]:
    """Read what the stages wrote and compare it with the ground truth."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from ml import segmentation
    from tailor.warehouse import connect

    personas = pd.read_csv(s.ground_truth / "personas.csv", dtype={"customer_id": str})
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        seg = con.execute(
            "select customer_id, segment_id, segment_name from ml.customer_segments where run_date = ?",
            [day],
        ).df()
        profiles = con.execute(
            "select segment_id, segment_name, size, description from ml.segment_profiles "
            "where run_date = ? order by segment_id",
            [day],
        ).df()
        runs = con.execute(
            "select task, model, status, metrics::varchar as metrics, message from ml.model_runs "
            "where run_date = ? order by task, model",
            [day],
        ).df()
        features = con.execute("select * from marts.customer_features").df()
    finally:
        con.close()

    joined = seg.merge(personas[["customer_id", "persona"]], on="customer_id", how="inner")
    report: dict[str, Any] = {
        "customers_segmented": int(len(seg)),
        "customers_with_persona": int(len(joined)),
        "ari": float(adjusted_rand_score(joined["persona"], joined["segment_id"])),
    }
    crosstab = pd.crosstab(joined["segment_name"], joined["persona"])
    report["persona_by_segment"] = crosstab.to_dict()
    purity = crosstab.div(crosstab.sum(axis=0), axis=1)
    report["persona_majority_segment"] = {
        p: {"segment": purity[p].idxmax(), "share": float(purity[p].max())} for p in purity.columns
    }
    shared: dict[str, list[str]] = {}
    for p, v in report["persona_majority_segment"].items():
        shared.setdefault(v["segment"], []).append(p)
    report["segments_holding_several_personas"] = {k: v for k, v in shared.items() if len(v) > 1}
    report["profiles"] = profiles.to_dict(orient="records")

    metrics = {
        (r.task, r.model): (json.loads(r.metrics), r.status, r.message) for r in runs.itertuples()
    }
    km = metrics.get(("segmentation", "kmeans"), ({}, None, None))[0]
    report["k"] = km.get("k")
    report["k_reason"] = km.get("k_reason")
    report["k_selection"] = km.get("k_selection")
    report["alternatives"] = {
        m: metrics[("segmentation", m)][0]
        for m in ("gmm", "dbscan")
        if ("segmentation", m) in metrics
    }

    # diagnostics: ARI at every k of the range, and of the GMM, with the same preprocessing
    cols, roles = segmentation.select_features(features, segmentation.DEFAULT_ROLES)
    X = features[cols].astype(float)
    if "frequency" in roles and roles.get("recency") in cols:
        X.loc[features[roles["frequency"]].to_numpy() <= 0, roles["recency"]] = np.nan
    fill = {
        roles[r]: v for r, v in segmentation.ROLE_FILL.items() if r in roles and roles[r] in cols
    }
    pre = segmentation.FeaturePreprocessor(fill_values=fill).fit(X)
    Z = pre.transform(X)
    truth = features[["customer_id"]].merge(personas, on="customer_id", how="left")["persona"]
    known = truth.notna().to_numpy()
    by_k = {}
    with segmentation.limited_threads():
        for k in range(2, 11):
            labels = KMeans(k, n_init=5, random_state=0).fit_predict(Z)
            by_k[k] = round(float(adjusted_rand_score(truth[known], labels[known])), 4)
        alts = segmentation.compare_alternatives(
            Z, KMeans(report["k"] or 5, n_init=5, random_state=0).fit_predict(Z), report["k"] or 5
        )
    report["ari_by_k"] = by_k
    report["ari_gmm"] = float(adjusted_rand_score(truth[known], alts[1]["labels"][known]))
    d = alts[2]
    idx = d["sample_index"]
    report["ari_dbscan"] = float(
        adjusted_rand_score(truth.to_numpy()[idx][known[idx]], d["sample_labels"][known[idx]])
    )

    for task in ("churn", "purchase"):
        chosen = [m for (t, m), (_, st, _) in metrics.items() if t == task and st == "chosen"]
        if not chosen:
            skipped = [msg for (t, _), (_, st, msg) in metrics.items() if t == task]
            report[task] = {"status": "skipped", "message": skipped[0] if skipped else "not run"}
            continue
        best = metrics[(task, chosen[0])][0]
        base = metrics[(task, "recency_baseline")][0]
        other = [m for (t, m), (_, st, _) in metrics.items() if t == task and st == "candidate"]
        report[task] = {
            "model": chosen[0],
            "auc": best["auc"],
            "pr_auc": best["pr_auc"],
            "brier": best["brier"],
            "ece": best["ece"],
            "base_rate": best["base_rate"],
            "top_decile_lift": best["top_decile_lift"],
            "recency_baseline": {k: base[k] for k in ("auc", "pr_auc", "brier")},
            "other_candidates": {
                m: {k: metrics[(task, m)][0][k] for k in ("auc", "pr_auc", "brier")} for m in other
            },
            "beats_recency_baseline": best["auc"] > base["auc"],
        }
    return report


def print_report(seed: int, report: dict[str, Any]) -> None:
    print(f"\n=== seed {seed} ===")
    ok = "PASS" if report["ari"] >= ARI_TARGET else "FAIL"
    print(f"segments: k={report['k']} ({report['k_reason']})")
    print(f"ARI vs personas: {report['ari']:.3f}  [{ok}, target >= {ARI_TARGET}]")
    print(
        "ARI if K-Means used k = "
        + ", ".join(f"{k}: {v:.3f}" for k, v in report["ari_by_k"].items())
    )
    print(
        f"ARI of the alternatives: GMM {report['ari_gmm']:.3f}, DBSCAN {report['ari_dbscan']:.3f}"
    )
    ct = pd.DataFrame(report["persona_by_segment"]).fillna(0).astype(int)
    print("persona x segment:")
    print(ct.to_string())
    if report["segments_holding_several_personas"]:
        for seg, ps in report["segments_holding_several_personas"].items():
            print(f"  blurred: {', '.join(ps)} -> {seg!r}")
    for task in ("churn", "purchase"):
        r = report[task]
        if r.get("status") == "skipped":
            print(f"{task}: skipped ({r['message']})")
            continue
        b = r["recency_baseline"]
        verdict = "beats" if r["beats_recency_baseline"] else "DOES NOT beat"
        print(
            f"{task}: {r['model']} AUC {r['auc']:.3f}, PR-AUC {r['pr_auc']:.3f}, Brier {r['brier']:.3f}, "
            f"ECE {r['ece']:.3f}, top-decile lift {r['top_decile_lift']:.2f} (base rate {r['base_rate']:.2f}); "
            f"recency-only AUC {b['auc']:.3f}, PR-AUC {b['pr_auc']:.3f}, Brier {b['brier']:.3f} -> {verdict} it"
        )
        for m, v in r["other_candidates"].items():
            print(
                f"    candidate {m}: AUC {v['auc']:.3f}, PR-AUC {v['pr_auc']:.3f}, Brier {v['brier']:.3f}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--products", type=int, default=800)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--start", default="2026-10-01")
    p.add_argument("--seed", type=int, action="append", help="repeatable; default 42")
    p.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tailor-ml-quality"
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the generated data (same config) and the built warehouse in the work folder",
    )
    p.add_argument(
        "--daily",
        action="store_true",
        help="load, build and run the ML stages day by day (the last day is measured)",
    )
    p.add_argument(
        "--nightly",
        action="store_true",
        help="run every pipeline stage for every day (tailor run) instead of load + dbt + ML",
    )
    p.add_argument("--output", type=Path, help="JSON report (default <workdir>/ml_quality.json)")
    args = p.parse_args(argv)
    seeds = args.seed or [42]
    results = {}
    failed = False
    for seed in seeds:
        workdir = args.workdir / f"seed-{seed}"
        workdir.mkdir(parents=True, exist_ok=True)
        s, day, timings = prepare(args, seed, workdir)
        stages = {} if (args.nightly or args.daily) else run_ml(s, day)
        report = measure(s, day)
        report["timings_s"] = timings | {k: v for k, v in stages.items() if k.endswith("_s")}
        report["config"] = {
            "customers": args.customers,
            "products": args.products,
            "days": args.days,
            "start": args.start,
            "seed": seed,
            "run_date": day.isoformat(),
        }
        print_report(seed, report)
        results[str(seed)] = report
        churn = report.get("churn", {})
        failed |= report["ari"] < ARI_TARGET or not churn.get("beats_recency_baseline", False)
    out = args.output or args.workdir / "ml_quality.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nreport written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
