"""Offline quality of every recommender on a built warehouse (per-customer temporal split).

Reads ``marts.user_item_interactions``, ``marts.products`` and the interaction events
from a warehouse that dbt has built, holds out each customer's latest products, fits every
candidate (hyper-parameters tuned on validation) on the rest and prints precision,
recall, NDCG, MAP, hit rate and coverage (all customers, warm and cold), exactly as the
nightly job computes them. Nothing is written.

The ``make demo`` data (2,000 customers, 28 days, seed 42; each customer's latest 20 %
held out), built once as of its last day (the nightly run builds the same marts day by day)::

    export TAILOR_DATA=/tmp/rec_demo/data OPENBLAS_NUM_THREADS=1
    tailor generate --customers 2000 --days 28
    tailor load
    tailor dbt build --exclude-resource-type test --exclude-resource-type unit_test \
        --vars "{tailor__run_date: 2026-10-28}"
    tailor segment --date 2026-10-28          # popularity per segment reads the segments
    python benchmarks/recommend_quality.py --date 2026-10-28

Online Retail (orders only; the last month, 2011-11-10 .. 2011-12-09, held out), built
the way ``tests/integration/test_dbt_online_retail.py`` builds it::

    python - <<'PY'
    import dataclasses
    from pathlib import Path
    from tailor import transform
    from tailor.adapters import ADAPTERS, load_adapter
    from tailor.settings import get_settings
    from tailor.warehouse import connect
    data = Path("/tmp/rec_or/data")
    s = dataclasses.replace(get_settings(), data=data, warehouse=data / "warehouse" / "tailor.duckdb",
                            duckdb_temp=data / "tmp" / "duckdb")
    con = connect(settings=s)
    load_adapter(con, "online-retail", s.datasets / ADAPTERS["online-retail"].default_file)
    con.close()
    transform.build(select="resource_type:seed staging intermediate marts.core marts.segmentation marts.ml",
                    settings=s, vars={"tailor__reporting_currency": "GBP"}, tests=False)
    PY
    python benchmarks/recommend_quality.py --warehouse /tmp/rec_or/data/warehouse/tailor.duckdb \
        [--allow-repeat]

``--allow-repeat`` scores reorders too (bought products stay recommendable and count as
hits), which suits a wholesaler like Online Retail.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = [
    ("ndcg@10", "NDCG@10"),
    ("precision@10", "P@10"),
    ("recall@10", "R@10"),
    ("map@10", "MAP@10"),
    ("hit_rate@10", "HR@10"),
    ("coverage@10", "cov@10"),
    ("warm.ndcg@10", "warm NDCG"),
    ("cold.ndcg@10", "cold NDCG"),
    ("fit_seconds", "fit s"),
    ("recommend_seconds", "rec s"),
]


def main(argv: list[str] | None = None) -> int:
    from ml.compute import limited_threads
    from ml.recommend import RecommendConfig, candidate_models, evaluate_day, latest_interaction_day
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warehouse", type=Path, help="DuckDB file (default: the configured warehouse)")
    p.add_argument("--date", help="logical day (default: the day of the latest interaction)")
    p.add_argument("--holdout-share", type=float, default=RecommendConfig.holdout_share)
    p.add_argument(
        "--models", help="comma-separated candidates (default: the job's, plus als if installed)"
    )
    p.add_argument("--allow-repeat", action="store_true", help="do not exclude bought products")
    p.add_argument("--max-per-category", type=int, default=RecommendConfig.max_per_category)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = p.parse_args(argv)

    settings = get_settings()
    if args.warehouse:
        settings = dataclasses.replace(settings, warehouse=args.warehouse.resolve())
    config = RecommendConfig(
        holdout_share=args.holdout_share,
        exclude_purchased=not args.allow_repeat,
        max_per_category=args.max_per_category,
    )
    models = (
        args.models.split(",")
        if args.models
        else [*config.models, *(["als"] if "als" in candidate_models(config) else [])]
    )
    con = connect(settings.warehouse, settings=settings, read_only=True)
    try:
        day = dt.date.fromisoformat(args.date) if args.date else latest_interaction_day(con)
        started = time.perf_counter()
        with limited_threads(int(os.environ.get("TAILOR_ML_THREADS", "2"))):
            ev, _ = evaluate_day(con, day, config, dbt_project=settings.dbt_project, models=models)
        seconds = time.perf_counter() - started
    finally:
        con.close()

    if args.json:
        print(
            json.dumps(
                {r.name: {"status": r.status, **r.metrics} for r in ev.results},
                default=str,
                indent=1,
            )
        )
        return 0
    w = ev.data_window
    print(f"warehouse {settings.warehouse}  day {day}  evaluated in {seconds:.1f}s")
    print(
        f"train: {w.get('train_pairs', 0):,} customer-product pairs; {w['split']}: "
        f"{w['holdout_users']:,} customers, {w.get('holdout_pairs', 0):,} relevant pairs "
        f"({'+'.join(w['relevant_kinds'])}); catalog {w['catalog_items']:,}"
    )
    base = ev.result("popularity")
    warm = base.metrics.get("warm.users", 0) if base else 0
    cold = base.metrics.get("cold.users", 0) if base else 0
    print(
        f"customers evaluated: {warm:,} warm, {cold:,} cold; purchases excluded: {not args.allow_repeat}"
    )
    header = (
        f"{'model':<12}{'status':<11}" + "".join(f"{h:>11}" for _, h in COLUMNS) + f"{'vs pop':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in ev.results:
        if not r.metrics:
            print(f"{r.name:<12}{r.status:<11}{r.message or ''}")
            continue
        cells = "".join(
            f"{r.metrics.get(k, float('nan')):>11.4f}"
            if "seconds" not in k
            else f"{r.metrics.get(k, 0):>11.1f}"
            for k, _ in COLUMNS
        )
        lift = r.metrics.get("ndcg@10_lift_vs_popularity")
        print(f"{r.name:<12}{r.status:<11}{cells}{(f'{lift:+.0%}' if lift is not None else ''):>9}")
    print(f"served: {ev.served}" + (f" (fallback: {ev.message})" if ev.fallback else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
