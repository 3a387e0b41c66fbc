"""Recommendations on real data: the whole pipeline (landing files -> ``tailor run``)
against the same models fitted outside it, so the cost of the pipeline's rules shows.

MovieLens 100k (943 customers, 1,682 products, 100,000 ratings; read in place from the
``recbole`` 1.2.1 wheel, which the benchmark downloads into ``<data>/cache``):

* every rating (>= 1) is a completed order of that movie on the rating's date (the shop
  backend's ``orders.csv`` / ``order_items.csv``, one ``dt=`` folder per date), with the
  customers (``customers.csv``), a personalization consent each (``consents.ndjson``)
  and the catalog (``products.parquet``: the titles; with ``--genres`` each movie's first
  genre as its category, so the diversity rule, at most 3 per category, binds and its
  cost shows);
* the split: each customer's ratings by date, ratings of one date in a fixed random
  order (seed 0; most customers rated everything on one day); the first 75 % are loaded,
  the last 25 % kept aside;
* ``tailor load`` then ``tailor run --date <last date>`` with the default configuration
  (``config/tailor.yml``); P@10 and NDCG@10 of what the run served
  (``ml.recommendations``) on the kept-aside ratings, over every customer;
* outside the pipeline, on the same loaded ratings (a 0/1 matrix, watched movies left
  out): popularity, EASE (lambda tuned on the kept-aside part: an upper bound),
  RP3beta and item-kNN.

``--split shuffled`` keeps aside a random 25 % of each customer's ratings instead
(the split a "tuned EASE reaches about 0.41 / 0.48" refers to).

Online Retail and REES46 (``../shared/datasets``) go through their adapters
(``tailor load --adapter ...`` then ``tailor run --date <last day>``); nothing is kept
aside there: the run's own evaluation (the per-customer split, with bootstrap intervals)
is what is recorded.

::

    python benchmarks/recommend_realdata.py --data /tmp/rec_real          # MovieLens, by date
    python benchmarks/recommend_realdata.py --data /tmp/rec_real --split shuffled
    python benchmarks/recommend_realdata.py --data /tmp/rec_real --dataset online-retail

The wheel: ``python -m pip download --no-deps recbole==1.2.1 -d <data>/cache`` with this
interpreter; the project's virtualenv has no pip, so the script then tries ``python3 -m
pip`` on the PATH, and last the file from PyPI's JSON API (``urllib``). Results are
appended to ``benchmarks/results/recommend_realdata.json`` (numbers, command, machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECBOLE = "recbole==1.2.1"
WHEEL = "recbole-1.2.1-py3-none-any.whl"
INTER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ITEMS = "recbole/dataset_example/ml-100k/ml-100k.item"
RESULTS = ROOT / "benchmarks" / "results" / "recommend_realdata.json"
ADAPTED = {"online-retail": "2011-12-09", "rees46": "2019-10-01"}


# --------------------------------------------------------------------------- data


def fetch_wheel(cache: Path) -> Path:
    """The recbole wheel in ``cache``, downloaded once (pip, else PyPI's JSON API)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    if wheel.exists():
        return wheel
    for python in (sys.executable, "python3"):
        cmd = [python, "-m", "pip", "download", "--no-deps", RECBOLE, "-d", str(cache)]
        if subprocess.run(cmd, capture_output=True).returncode == 0 and wheel.exists():
            return wheel
    with urllib.request.urlopen("https://pypi.org/pypi/recbole/1.2.1/json", timeout=60) as r:
        urls = json.load(r)["urls"]
    url = next(u["url"] for u in urls if u["filename"] == WHEEL)
    tmp = wheel.with_suffix(".part")
    urllib.request.urlretrieve(url, tmp)
    tmp.replace(wheel)
    return wheel


def movielens(wheel: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ratings: user, item, rating, date; movies: item, title, genres) from the wheel."""
    with zipfile.ZipFile(wheel) as z:
        with z.open(INTER) as f:
            ratings = pd.read_csv(f, sep="\t")
        with z.open(ITEMS) as f:
            movies = pd.read_csv(f, sep="\t")
    ratings.columns = ["user", "item", "rating", "ts"]
    ratings = ratings[ratings["rating"] >= 1]
    ratings["date"] = pd.to_datetime(ratings["ts"], unit="s").dt.normalize()
    movies = movies.iloc[:, [0, 1, 3]]
    movies.columns = ["item", "title", "genres"]
    return ratings, movies


def split(
    ratings: pd.DataFrame, how: str, share: float = 0.25
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loaded, kept aside): each customer's last ``share`` of ratings, by date with ties
    in a fixed random order (``date``), or a random ``share`` (``shuffled``)."""
    r = ratings.assign(tie=np.random.default_rng(0).random(len(ratings)))
    keys = ["user", "date", "tie"] if how == "date" else ["user", "tie"]
    r = r.sort_values(keys, kind="stable")
    pos = r.groupby("user").cumcount()
    n = r.groupby("user")["item"].transform("size")
    aside = pos >= np.ceil((1 - share) * n)
    return r[~aside].drop(columns="tie"), r[aside].drop(columns="tie")


def write_landing(
    landing: Path, loaded: pd.DataFrame, movies: pd.DataFrame, genres: bool = False
) -> str:
    """The shop backend's files, one ``dt=`` folder per date; returns the last date."""
    loaded = loaded.sort_values(["date", "user", "item"]).reset_index(drop=True)
    loaded["order_id"] = [f"R{i:06d}" for i in range(len(loaded))]
    loaded["customer_id"] = "U" + loaded["user"].astype(str).str.zfill(4)
    loaded["product_id"] = "M" + loaded["item"].astype(str).str.zfill(4)
    first_seen = loaded.groupby("customer_id")["date"].min()
    for date, day in loaded.groupby("date"):
        part = f"dt={date:%Y-%m-%d}"
        at = f"{date:%Y-%m-%d}T12:00:00Z"
        orders = pd.DataFrame(
            {
                "order_id": day["order_id"],
                "customer_id": day["customer_id"],
                "ordered_at": at,
                "status": "completed",
                "currency": "EUR",
                "subtotal": "1.00",
                "discount": "0.00",
                "shipping": "0.00",
                "total": "1.00",
                "coupon_code": "",
                "channel": "web",
                "country": "US",
                "updated_at": at,
            }
        )
        items = pd.DataFrame(
            {
                "order_id": day["order_id"],
                "line_number": 1,
                "product_id": day["product_id"],
                "title": "",
                "quantity": 1,
                "unit_price": "1.00",
                "discount": "0.00",
                "currency": "EUR",
            }
        )
        new = first_seen[first_seen == date].index
        customers = pd.DataFrame(
            {"customer_id": new, "email": [f"{c.lower()}@ml100k.example" for c in new]}
        ).assign(created_at=at, updated_at=at)
        for source, frame in (("orders", orders), ("order_items", items), ("customers", customers)):
            folder = landing / source / part
            folder.mkdir(parents=True, exist_ok=True)
            frame.to_csv(folder / f"{source}.csv", index=False)
        folder = landing / "consents" / part
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "consents.ndjson", "w") as f:
            for c in new:
                f.write(
                    json.dumps(
                        {
                            "consent_id": f"PC{c}",
                            "subject_id": c,
                            "purpose": "personalization",
                            "granted": True,
                            "consented_at": at,
                            "source": "signup_form",
                        }
                    )
                    + "\n"
                )
    first = f"dt={loaded['date'].min():%Y-%m-%d}"
    at = f"{loaded['date'].min():%Y-%m-%d}T00:00:00Z"
    catalog = pd.DataFrame(
        {
            "product_id": "M" + movies["item"].astype(str).str.zfill(4),
            "title": movies["title"].fillna("untitled").astype(str),
            "description": None,
            "category_path": "Movies > " + movies["genres"].fillna("").str.split(" ").str[0]
            if genres
            else None,
            "brand": None,
            "price": "1.00",
            "currency": "EUR",
            "is_active": True,
            "created_at": at,
            "updated_at": at,
        }
    )
    folder = landing / "products" / first
    folder.mkdir(parents=True, exist_ok=True)
    catalog.to_parquet(folder / "products.parquet", index=False)
    return f"{loaded['date'].max():%Y-%m-%d}"


# --------------------------------------------------------------------------- runs


def tailor(data: Path, *args: str) -> float:
    """``tailor <args>`` in a new process on the data folder; returns its seconds."""
    env = os.environ | {"TAILOR_DATA": str(data), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tailor.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"tailor {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def read_run(data: Path, day: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    import duckdb

    con = duckdb.connect(str(data / "warehouse" / "tailor.duckdb"), read_only=True)
    try:
        recs = con.execute(
            "select customer_id, product_id, rank, model from ml.recommendations where run_date = ?",
            [day],
        ).df()
        runs = con.execute(
            "select model, status, params::varchar, metrics::varchar, data_window::varchar, message "
            "from ml.model_runs where task = 'recommendation' and run_date = ?",
            [day],
        ).fetchall()
    finally:
        con.close()
    models = []
    for model, status, params, metrics, window, message in runs:
        m = json.loads(metrics or "{}")
        p = json.loads(params or "{}")
        models.append(
            {
                "model": model,
                "status": status,
                "message": message,
                "params": {k: v for k, v in p.items() if k not in ("config", "tuning")},
                **{
                    k: m.get(k)
                    for k in ("ndcg@10", "ndcg@10_ci", "precision@10", "precision@10_ci")
                },
                "fit_seconds": m.get("fit_seconds"),
                "data_window": json.loads(window or "{}"),
            }
        )
    return recs, models


def score(truth: sp.csr_matrix, ids: np.ndarray) -> dict[str, float]:
    from ml.metrics import ranking_metrics

    m = ranking_metrics(truth, ids, 10)
    return {
        "precision@10": round(float(m["precision"].mean()), 4),
        "ndcg@10": round(float(m["ndcg"].mean()), 4),
    }


def outside(loaded: pd.DataFrame, truth: sp.csr_matrix, uidx, iidx) -> dict[str, Any]:
    """The models fitted on the loaded ratings directly (0/1, watched movies left out)."""
    from ml.recommenders import (
        EASERecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        RP3betaRecommender,
    )

    X = sp.csr_matrix(
        (np.ones(len(loaded)), (loaded["user"].map(uidx), loaded["item"].map(iidx))),
        shape=truth.shape,
        dtype=np.float32,
    )
    X.data[:] = 1.0
    out: dict[str, Any] = {}
    candidates = {
        "popularity": PopularityRecommender(),
        **{
            f"ease(l2={l2:g})": EASERecommender(l2=l2, weighting="binary")
            for l2 in (50, 100, 200, 400, 800)
        },
        **{
            f"rp3beta(alpha={a:g},beta={b:g})": RP3betaRecommender(alpha=a, beta=b)
            for a in (0.5, 1.0)
            for b in (0.2, 0.5)
        },
        "itemknn(50,10)": ItemKNNRecommender(neighbours=50, shrink=10.0),
    }
    for name, model in candidates.items():
        t = time.perf_counter()
        ids, _ = model.fit(X).recommend(X, 10, filter_seen=True)
        out[name] = score(truth, ids) | {"seconds": round(time.perf_counter() - t, 2)}
    return out


def movielens_run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data) / f"ml100k-{args.split}{'-genres' if args.genres else ''}"
    wheel = fetch_wheel(Path(args.data) / "cache")
    ratings, movies = movielens(wheel)
    loaded, aside = split(ratings, args.split)
    users = np.sort(ratings["user"].unique())
    items = np.sort(ratings["item"].unique())
    uidx = {u: i for i, u in enumerate(users)}
    iidx = {x: i for i, x in enumerate(items)}
    truth = sp.csr_matrix(
        (np.ones(len(aside)), (aside["user"].map(uidx), aside["item"].map(iidx))),
        shape=(len(users), len(items)),
    )
    truth.data[:] = 1.0
    result: dict[str, Any] = {
        "dataset": "MovieLens 100k (recbole 1.2.1 wheel)",
        "split": args.split,
        "genres_as_categories": args.genres,
        "ratings": len(ratings),
        "loaded": len(loaded),
        "kept_aside": len(aside),
        "customers": len(users),
        "products": len(items),
        "outside_pipeline": outside(loaded, truth, uidx, iidx),
    }
    if not args.outside_only:
        if not (data / "warehouse" / "tailor.duckdb").exists():
            last = write_landing(data / "landing", loaded, movies, args.genres)
            result["load_seconds"] = round(tailor(data, "load"), 1)
        else:
            last = f"{loaded['date'].max():%Y-%m-%d}"
        result["run_seconds"] = round(tailor(data, "run", "--date", last), 1)
        recs, models = read_run(data, last)
        recs = recs[recs["rank"] <= 10]
        cust = recs["customer_id"].str[1:].astype(int).map(uidx)
        prod = recs["product_id"].str[1:].astype(int).map(iidx)
        ids = np.full(truth.shape[0:1] + (10,), -1)
        ok = cust.notna() & prod.notna()
        ids[cust[ok].astype(int), recs.loc[ok, "rank"] - 1] = prod[ok].astype(int)
        result["served"] = score(truth, ids) | {
            "model": sorted(set(recs["model"])),
            "personal_share": round(float((recs["model"] != "popularity").mean()), 4),
        }
        result["run_models"] = models
        best = max((v for k, v in result["outside_pipeline"].items()), key=lambda v: v["ndcg@10"])
        result["served_vs_best_outside"] = {
            k: round(result["served"][k] / best[k] - 1.0, 4) for k in ("precision@10", "ndcg@10")
        }
    return result


def adapted_run(args: argparse.Namespace) -> dict[str, Any]:
    """A real export through its adapter, then the night of its last day."""
    from tailor.adapters import ADAPTERS

    data = Path(args.data) / args.dataset
    datasets = Path(os.environ.get("TAILOR_DATASETS", ROOT.parent.parent / "shared" / "datasets"))
    export = datasets / ADAPTERS[args.dataset].default_file
    day = ADAPTED[args.dataset]
    result: dict[str, Any] = {"dataset": args.dataset, "file": str(export)}
    if not (data / "warehouse" / "tailor.duckdb").exists():
        result["load_seconds"] = round(
            tailor(data, "load", "--adapter", args.dataset, "--file", str(export)), 1
        )
    result["run_seconds"] = round(tailor(data, "run", "--date", day), 1)
    _, result["run_models"] = read_run(data, day)
    return result


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("TAILOR_DATA", "/tmp/recommend_realdata"))
    p.add_argument("--dataset", default="movielens", choices=["movielens", *ADAPTED])
    p.add_argument("--split", default="date", choices=["date", "shuffled"])
    p.add_argument("--genres", action="store_true", help="genres as product categories")
    p.add_argument(
        "--outside-only", action="store_true", help="only the models outside the pipeline"
    )
    p.add_argument("--no-record", action="store_true", help=f"do not append to {RESULTS.name}")
    args = p.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    result = movielens_run(args) if args.dataset == "movielens" else adapted_run(args)
    result |= {
        "command": "python benchmarks/recommend_realdata.py " + " ".join(argv or sys.argv[1:]),
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    print(json.dumps(result, indent=2, default=str))
    if not args.no_record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        history = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
        RESULTS.write_text(json.dumps([*history, result], indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
