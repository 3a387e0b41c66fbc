"""Purchase propensity and customer value on real transactions, against BG/NBD.

    .venv/bin/python benchmarks/predict_realdata.py                      # CDNOW and Online Retail
    .venv/bin/python benchmarks/predict_realdata.py --dataset cdnow --boot 500
    .venv/bin/python benchmarks/predict_realdata.py --rolling     # every monthly cutoff

Data sets (read in place, never copied into the repository):

* CDNOW (Fader & Hardie): 23,570 customers of an online CD shop, 1997-01 .. 1998-06. It
  ships inside the ``Lifetimes`` wheel (``lifetimes/datasets/CDNOW_master.txt``). The
  benchmark downloads that wheel once into ``<data folder>/cache/wheels`` from the
  package index the project's lock file names (https://pypi.org/simple, the index ``uv``
  uses; a plain HTTPS download with the standard library, checked against the index's
  sha256, since the project's environment has no pip), and reads the file from the zip.
* Online Retail (UCI, CC BY 4.0) from ``../shared/datasets`` (``TAILOR_DATASETS``).

For each, the first months are loaded as orders (``marts.orders`` / ``marts.customers``
in a DuckDB database, the way the marts give them to the ML jobs; no web events) and the
following months are kept aside. For each horizon (30, 90 days), as of the last loaded
day, in one run:

* Tailor: the nightly purchase job (``ml.propensity.train_task``, its own time split on
  the loaded months only) and ``ml.propensity.value.customer_value`` (classifier, BG/NBD or
  their blend, chosen on the validation cutoff, calibrated on the backtest);
* BG/NBD (with Gamma-Gamma) fitted on the same loaded months (``ml.propensity.btyd``);
* naive rules: recency (days since the last purchase), frequency (purchase days) and
  the purchase days in the last ``horizon`` days.

Scored against what the kept-aside months hold (a purchase = a purchase day): AUC of
"buys in the next N days", top-decile lift, summed probabilities against real buyers,
expected purchases against real ones; 95 % intervals from a paired bootstrap over
customers (``--boot`` resamples), for each AUC and for Tailor's AUC minus BG/NBD's.
Prints a markdown table and writes JSON (``--output``, default
``<data folder>/benchmarks/predict_realdata.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import re
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import rankdata

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml.compute import limited_threads  # noqa: E402
from ml.propensity import PropensityConfig  # noqa: E402
from ml.propensity.train import train_task  # noqa: E402
from ml.propensity.value import btyd_at, customer_value  # noqa: E402
from tailor.config import PropensitySettings  # noqa: E402

INDEX = "https://pypi.org/simple"  # the registry of uv.lock
LIFETIMES = ("lifetimes", "Lifetimes-0.11.3-py3-none-any.whl")
DATASETS = Path(os.environ.get("TAILOR_DATASETS", REPO.parent / "shared" / "datasets"))

# name -> (loaded until, exclusive; data ends)
SPLITS = {
    "cdnow": (dt.date(1997, 10, 1), dt.date(1998, 7, 1)),  # 39 weeks loaded, 39 aside
    "online-retail": (dt.date(2011, 9, 1), dt.date(2011, 12, 10)),  # 9 months, 100 days
}


def data_folder() -> Path:
    from tailor.settings import get_settings

    return get_settings().data


def fetch_wheel(project: str, filename: str, cache: Path) -> Path:
    """The wheel from the package index, downloaded once and checked against the index's
    sha256."""
    path = cache / filename
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    page = urllib.request.urlopen(f"{INDEX}/{project}/", timeout=60).read().decode()
    match = re.search(rf'href="([^"]*/{re.escape(filename)})#sha256=([0-9a-f]+)"', page)
    if not match:
        raise SystemExit(f"{filename} not found on {INDEX}/{project}/")
    url, sha = match.groups()
    body = urllib.request.urlopen(url, timeout=120).read()
    if hashlib.sha256(body).hexdigest() != sha:
        raise SystemExit(f"{filename}: sha256 does not match the index")
    tmp = path.with_suffix(".part")
    tmp.write_bytes(body)
    tmp.replace(path)
    return path


def load_cdnow(cache: Path) -> pd.DataFrame:
    wheel = fetch_wheel(*LIFETIMES, cache)
    with zipfile.ZipFile(wheel) as z:
        text = z.read("lifetimes/datasets/CDNOW_master.txt").decode()
    df = pd.read_csv(
        io.StringIO(text), sep=r"\s+", header=0, names=["customer_id", "date", "cds", "value"]
    )
    return pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(len(df))],
            "customer_id": df["customer_id"].astype(str),
            "ordered_at": pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
            + pd.Timedelta(hours=12),
            "value": df["value"].astype(float),
        }
    )


def load_online_retail() -> pd.DataFrame:
    path = DATASETS / "online-retail" / "online_retail.csv.gz"
    if not path.exists():
        raise SystemExit(f"{path} not found (TAILOR_DATASETS points at ../shared/datasets)")
    df = pd.read_csv(path, dtype={"InvoiceNo": str, "CustomerID": str, "StockCode": str})
    df = df[
        df["CustomerID"].notna()
        & ~df["InvoiceNo"].str.startswith("C")
        & (df["Quantity"] > 0)
        & (df["UnitPrice"] > 0)
    ]
    df = df.assign(value=df["Quantity"] * df["UnitPrice"])
    orders = (
        df.groupby("InvoiceNo")
        .agg(
            customer_id=("CustomerID", "first"),
            ordered_at=("InvoiceDate", "min"),
            value=("value", "sum"),
        )
        .reset_index()
    )
    return pd.DataFrame(
        {
            "order_id": orders["InvoiceNo"],
            "customer_id": orders["customer_id"].str.replace(".0", "", regex=False),
            "ordered_at": pd.to_datetime(orders["ordered_at"]),
            "value": orders["value"],
        }
    )


def warehouse(orders: pd.DataFrame, loaded_until: dt.date) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the marts the propensity job reads, as of the last loaded
    day: orders before ``loaded_until``, customers known by then, no sessions."""
    con = duckdb.connect()
    con.execute("create schema marts")
    seen = orders[orders["ordered_at"] < pd.Timestamp(loaded_until)]
    con.register("_o", seen)
    con.execute(
        """
        create table marts.orders as select order_id, customer_id, ordered_at,
            'completed' as status, ordered_at as updated_at, value as merchandise_amount,
            value as merchandise_amount_reporting, value as total, false as has_discount,
            true as is_purchase
        from _o
        """
    )
    con.execute(
        "create table marts.customers as select customer_id, min(ordered_at) as created_at "
        "from _o group by 1"
    )
    con.execute(
        """
        create table marts.sessions (customer_id varchar, started_at timestamp, page_views int,
            product_views int, cart_adds int, is_converted boolean, device_type varchar,
            start_day_part varchar)
        """
    )
    con.unregister("_o")
    return con


def auc(y: np.ndarray, s: np.ndarray) -> float:
    pos = y.sum()
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def top_decile_lift(y: np.ndarray, s: np.ndarray) -> float:
    k = max(1, len(y) // 10)
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean()) if y.mean() else float("nan")


def evaluate(
    dataset: str,
    orders: pd.DataFrame,
    horizon: int,
    boot: int,
    seed: int = 0,
    loaded_until: dt.date | None = None,
) -> dict:
    loaded_until = loaded_until or SPLITS[dataset][0]
    day = loaded_until - dt.timedelta(days=1)
    con = warehouse(orders, loaded_until)
    config = PropensityConfig.from_settings(PropensitySettings(), gbm_max_iter=200).at(horizon)
    t0 = time.perf_counter()
    with limited_threads():
        res = train_task(con, day, "purchase", config)
        if res.status != "chosen":
            raise SystemExit(f"{dataset} {horizon}d: {res.message}")
        value = customer_value(con, res, config)
        cutoff = dt.datetime.combine(loaded_until, dt.time())
        bg = btyd_at(con, cutoff, horizon, config)
    seconds = time.perf_counter() - t0
    frame = value.frame.merge(res.scores[["customer_id", "score"]], on="customer_id").merge(
        bg.frame, on="customer_id", how="left"
    )
    # the kept-aside months: purchase days in [loaded_until, loaded_until + horizon)
    end = pd.Timestamp(loaded_until + dt.timedelta(days=horizon))
    future = orders[
        (orders["ordered_at"] >= pd.Timestamp(loaded_until)) & (orders["ordered_at"] < end)
    ]
    future_days = future.assign(day=future["ordered_at"].dt.date).drop_duplicates(
        ["customer_id", "day"]
    )
    counts = future_days.groupby("customer_id").size()
    frame["count"] = frame["customer_id"].map(counts).fillna(0).to_numpy()
    y = (frame["count"] > 0).to_numpy(dtype=int)
    past = orders[orders["ordered_at"] < pd.Timestamp(loaded_until)]
    past_days = past.assign(day=past["ordered_at"].dt.normalize()).drop_duplicates(
        ["customer_id", "day"]
    )
    last = past_days.groupby("customer_id")["day"].max()
    freq = past_days.groupby("customer_id").size()
    recent = past_days[past_days["day"] >= pd.Timestamp(loaded_until - dt.timedelta(days=horizon))]
    recent_n = recent.groupby("customer_id").size()
    ids = frame["customer_id"]
    scores = {
        "tailor": frame["purchase_probability"].to_numpy(),
        "tailor_classifier": frame["score"].to_numpy(),
        "bgnbd": frame["bg_p"].fillna(0).to_numpy(),
        "recency": -(pd.Timestamp(loaded_until) - ids.map(last)).dt.days.to_numpy(dtype=float),
        "frequency": ids.map(freq).fillna(0).to_numpy(dtype=float),
        f"purchases_last_{horizon}d": ids.map(recent_n).fillna(0).to_numpy(dtype=float),
    }
    rng = np.random.default_rng(seed)
    n = len(y)
    draws = {k: [] for k in scores} | {"tailor_minus_bgnbd": []}
    for _ in range(boot):
        idx = rng.integers(0, n, n)
        a = {k: auc(y[idx], s[idx]) for k, s in scores.items()}
        for k, v in a.items():
            draws[k].append(v)
        draws["tailor_minus_bgnbd"].append(a["tailor"] - a["bgnbd"])

    def ci(v: list[float]) -> list[float]:
        return [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]

    models = {}
    for k, s in scores.items():
        models[k] = {
            "auc": auc(y, s),
            "auc_95": ci(draws[k]),
            "top_decile_lift": top_decile_lift(y, s),
        }
    real_buyers, real_purchases = int(y.sum()), float(frame["count"].sum())
    # persistence: as many buyers as the last `horizon` days had
    last_window = float((ids.map(recent_n).fillna(0) > 0).sum())
    for k, p, e in (
        ("tailor", frame["purchase_probability"], frame["expected_purchases"]),
        ("bgnbd", frame["bg_p"].fillna(0), frame["bg_expected"].fillna(0)),
    ):
        models[k] |= {
            "expected_buyers": float(p.sum()),
            "buyers_error": float(p.sum() / real_buyers - 1),
            "expected_purchases": float(e.sum()),
            "purchases_error": float(e.sum() / real_purchases - 1),
        }
    return {
        "dataset": dataset,
        "horizon_days": horizon,
        "loaded_until": str(loaded_until),
        "customers": n,
        "buyers": real_buyers,
        "purchases": real_purchases,
        "tailor_model": value.model,
        "classifier": res.algorithm,
        "classifier_features": res.features,
        "value_candidates": value.metrics["candidates"],
        "auc_difference_95": {
            "tailor_minus_bgnbd": float(np.nanmean(draws["tailor_minus_bgnbd"])),
            "interval": ci(draws["tailor_minus_bgnbd"]),
        },
        "models": models,
        "last_window_buyers": {
            "expected_buyers": last_window,
            "buyers_error": last_window / real_buyers - 1,
        },
        "seconds": round(seconds, 1),
    }


def rolling(dataset: str, orders: pd.DataFrame, horizons: list[int]) -> str:
    """Expected buyers against real ones at monthly cutoffs (rolling origin): each
    cutoff loads the months before it, as the split does, and keeps the next `horizon`
    days aside. Shows how far a month's buyer count moves away from any model fitted on
    the months before it."""
    first, end = orders["ordered_at"].min().date(), SPLITS[dataset][1]
    lines = [
        "| data set | horizon | loaded until | real buyers | Tailor | BG/NBD | last window's buyers |",
        "|---|---|---|---|---|---|---|",
    ]
    errors: dict[tuple[int, str], list[float]] = {}
    for h in horizons:
        cut = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        while cut + dt.timedelta(days=h) <= end:
            try:
                r = evaluate(dataset, orders, h, 0, loaded_until=cut)
            except SystemExit:  # too little history for this horizon yet
                r = None
            if r is not None:
                m = r["models"] | {"last_window_buyers": r["last_window_buyers"]}
                cells = []
                for k in ("tailor", "bgnbd", "last_window_buyers"):
                    errors.setdefault((h, k), []).append(abs(m[k]["buyers_error"]))
                    cells.append(f"{m[k]['expected_buyers']:,.0f} ({m[k]['buyers_error']:+.1%})")
                lines.append(
                    f"| {dataset} | {h} d | {cut} | {r['buyers']:,} | " + " | ".join(cells) + " |"
                )
                print(f"{dataset} {h}d at {cut}: done", file=sys.stderr)
            cut = dt.date(cut.year + (cut.month == 12), cut.month % 12 + 1, 1)
    for h in horizons:
        if (h, "tailor") in errors:
            n = len(errors[(h, "tailor")])
            mae = [
                f"{np.mean(errors[(h, k)]):.1%}" for k in ("tailor", "bgnbd", "last_window_buyers")
            ]
            lines.append(
                f"| {dataset} | {h} d | mean absolute error over {n} cutoffs | | "
                + " | ".join(mae)
                + " |"
            )
    return "\n".join(lines)


def report(results: list[dict]) -> str:
    lines = [
        "| data set | horizon | customers | buyers | model | AUC (95 %) | top-decile lift | buyers: expected vs real | purchases: expected vs real |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, m in r["models"].items():
            lo, hi = m["auc_95"]
            exp_b = (
                f"{m['expected_buyers']:,.0f} ({m['buyers_error']:+.1%})"
                if "expected_buyers" in m
                else ""
            )
            exp_p = (
                f"{m['expected_purchases']:,.0f} ({m['purchases_error']:+.1%})"
                if "expected_purchases" in m
                else ""
            )
            lines.append(
                f"| {r['dataset']} | {r['horizon_days']} d | {r['customers']:,} | {r['buyers']:,} | "
                f"{name} | {m['auc']:.3f} ({lo:.3f}-{hi:.3f}) | {m['top_decile_lift']:.2f} | {exp_b} | {exp_p} |"
            )
        d = r["auc_difference_95"]
        lines.append(
            f"| {r['dataset']} | {r['horizon_days']} d | | | Tailor - BG/NBD ({r['tailor_model']}) | "
            f"{d['tailor_minus_bgnbd']:+.4f} ({d['interval'][0]:+.4f} to {d['interval'][1]:+.4f}) | | | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["cdnow", "online-retail", "all"], default="all")
    ap.add_argument("--horizons", type=int, nargs="+", default=[30, 90])
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples")
    ap.add_argument("--output", type=Path)
    ap.add_argument(
        "--rolling",
        action="store_true",
        help="expected vs real buyers at every monthly cutoff instead of the one split",
    )
    args = ap.parse_args(argv)
    data = data_folder()
    names = ["cdnow", "online-retail"] if args.dataset == "all" else [args.dataset]
    results = []
    for name in names:
        orders = load_cdnow(data / "cache" / "wheels") if name == "cdnow" else load_online_retail()
        if args.rolling:
            print(rolling(name, orders, args.horizons))
            continue
        for h in args.horizons:
            r = evaluate(name, orders, h, args.boot)
            results.append(r)
            print(f"{name} {h}d: done in {r['seconds']} s", file=sys.stderr)
    if args.rolling:
        return 0
    print(report(results))
    out = args.output or data / "benchmarks" / "predict_realdata.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
