"""The reference point most teams would write instead of the warehouse: plain pandas.

It does the pipeline's core work on the same landing files, in memory, in one process:

1. ``load``: every ``events`` NDJSON.gz partition (line by line with ``json.loads``, bad
   lines skipped, only the fields used below kept), every ``orders`` and ``order_items``
   CSV partition (``on_bad_lines="skip"``);
2. ``dedupe``: events by ``messageId``, orders by ``order_id`` (latest ``updated_at``);
3. ``sessions``: one person per event (``userId``, else the ``userId`` its
   ``anonymousId`` was last identified as, else the ``anonymousId``), sessions split after
   30 minutes of inactivity, with per-session counts and duration;
4. ``rfm``: recency, frequency and monetary value per customer from completed orders,
   each scored 1-5 by quintile;
5. ``recommend``: item-item co-occurrence (people x products matrix of views, cart adds
   and purchases in ``scipy.sparse``; ``X.T @ X``), the top 10 unseen products per person.

It has no quarantine, no validation, no history and no erasure: it is the floor of what
the core work costs when written the quick way, not a replacement for the pipeline.

    .venv/bin/python benchmarks/pandas_baseline.py data/bench/1m/landing

prints one JSON object: seconds per phase, row counts and the peak resident memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import time
from pathlib import Path

SESSION_GAP_MINUTES = 30
TOP_K = 10


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _events_frame(path: Path):
    import pandas as pd

    cols: dict[str, list] = {
        k: []
        for k in ("message_id", "type", "event", "user_id", "anonymous_id", "ts", "product_id")
    }
    bad = 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(rec, dict):
                bad += 1
                continue
            props = rec.get("properties")
            cols["message_id"].append(rec.get("messageId"))
            cols["type"].append(rec.get("type"))
            cols["event"].append(rec.get("event"))
            cols["user_id"].append(rec.get("userId"))
            cols["anonymous_id"].append(rec.get("anonymousId"))
            cols["ts"].append(rec.get("timestamp"))
            cols["product_id"].append(props.get("product_id") if isinstance(props, dict) else None)
    return pd.DataFrame(cols), bad


def load(landing: Path):
    import pandas as pd

    frames, bad = [], 0
    for f in sorted((landing / "events").glob("dt=*/*.ndjson*")):
        df, b = _events_frame(f)
        frames.append(df)
        bad += b
    events = pd.concat(frames, ignore_index=True)

    def csvs(source: str):
        parts = [
            pd.read_csv(f, dtype=str, on_bad_lines="skip", encoding_errors="replace")
            for f in sorted((landing / source).glob("dt=*/*.csv"))
        ]
        return pd.concat(parts, ignore_index=True)

    return events, csvs("orders"), csvs("order_items"), bad


def dedupe(events, orders):
    import pandas as pd

    events = events.dropna(subset=["message_id", "ts"])
    events = events.drop_duplicates("message_id")
    events = events.assign(
        ts=pd.to_datetime(events["ts"], utc=True, format="ISO8601", errors="coerce")
    )
    events = events.dropna(subset=["ts"])
    orders = orders.dropna(subset=["order_id", "customer_id"])
    orders = orders.sort_values("updated_at").drop_duplicates("order_id", keep="last")
    orders = orders.assign(
        total=pd.to_numeric(orders["total"], errors="coerce"),
        ordered_at=pd.to_datetime(
            orders["ordered_at"], utc=True, format="ISO8601", errors="coerce"
        ),
    ).dropna(subset=["total", "ordered_at"])
    return events, orders


def sessions(events):
    import pandas as pd

    known = events.dropna(subset=["user_id", "anonymous_id"]).sort_values("ts")
    anon_to_user = known.drop_duplicates("anonymous_id", keep="last").set_index("anonymous_id")[
        "user_id"
    ]
    person = (
        events["user_id"]
        .fillna(events["anonymous_id"].map(anon_to_user))
        .fillna(events["anonymous_id"])
    )
    ev = events.assign(person=person).dropna(subset=["person"]).sort_values(["person", "ts"])
    gap = ev["ts"].diff() > pd.Timedelta(minutes=SESSION_GAP_MINUTES)
    new_person = ev["person"].ne(ev["person"].shift())
    ev = ev.assign(session=(gap | new_person).cumsum())
    sess = ev.groupby("session").agg(
        person=("person", "first"),
        started_at=("ts", "min"),
        ended_at=("ts", "max"),
        events=("message_id", "size"),
    )
    sess["duration_s"] = (sess["ended_at"] - sess["started_at"]).dt.total_seconds()
    return ev, sess


def rfm(orders):
    import pandas as pd

    done = orders[orders["status"] == "completed"]
    as_of = done["ordered_at"].max()
    r = done.groupby("customer_id").agg(
        last=("ordered_at", "max"), frequency=("order_id", "size"), monetary=("total", "sum")
    )
    r["recency_days"] = (as_of - r["last"]).dt.days

    def quintile(s, ascending=True):
        ranks = s.rank(method="first", ascending=ascending)
        return pd.qcut(ranks, 5, labels=[1, 2, 3, 4, 5]).astype(int)

    r["r_score"] = quintile(r["recency_days"], ascending=False)
    r["f_score"] = quintile(r["frequency"])
    r["m_score"] = quintile(r["monetary"])
    return r


def recommend(ev, items, orders):
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    inter = ev.loc[
        ev["event"].isin(["Product Viewed", "Product Added"]) & ev["product_id"].notna(),
        ["person", "product_id"],
    ]
    bought = items.merge(orders[["order_id", "customer_id"]], on="order_id")[
        ["customer_id", "product_id"]
    ]
    inter = pd.concat([inter, bought.rename(columns={"customer_id": "person"})], ignore_index=True)
    inter = inter.dropna().drop_duplicates()
    people = inter["person"].astype("category")
    products = inter["product_id"].astype("category")
    x = sp.csr_matrix(
        (
            np.ones(len(inter), dtype=np.float32),
            (people.cat.codes.to_numpy(), products.cat.codes.to_numpy()),
        ),
        shape=(len(people.cat.categories), len(products.cat.categories)),
    )
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    n_people = x.shape[0]
    top = np.zeros((n_people, TOP_K), dtype=np.int32)
    batch = 2000
    for start in range(0, n_people, batch):
        xb = x[start : start + batch]
        scores = (xb @ co).toarray()
        scores[xb.nonzero()] = -1  # nothing the person already touched
        k = min(TOP_K, scores.shape[1] - 1)
        idx = np.argpartition(-scores, k, axis=1)[:, :TOP_K]
        order = np.take_along_axis(scores, idx, axis=1).argsort(axis=1)[:, ::-1]
        top[start : start + batch] = np.take_along_axis(idx, order, axis=1)
    return {
        "people": n_people,
        "products": x.shape[1],
        "interactions": int(x.nnz),
        "co_nnz": int(co.nnz),
    }


def run(landing: Path) -> dict:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import scipy.sparse  # noqa: F401

    timings["import"] = time.perf_counter() - t

    t = time.perf_counter()
    events, orders, items, bad = load(landing)
    timings["load"] = time.perf_counter() - t
    raw_events = len(events)

    t = time.perf_counter()
    events, orders = dedupe(events, orders)
    timings["dedupe"] = time.perf_counter() - t

    t = time.perf_counter()
    ev, sess = sessions(events)
    timings["sessions"] = time.perf_counter() - t

    t = time.perf_counter()
    scores = rfm(orders)
    timings["rfm"] = time.perf_counter() - t

    t = time.perf_counter()
    recs = recommend(ev, items, orders)
    timings["recommend"] = time.perf_counter() - t

    return {
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "total_seconds": round(sum(timings.values()), 2),
        "events_read": raw_events,
        "events_bad_lines": bad,
        "events_deduped": len(events),
        "sessions": len(sess),
        "customers_scored": len(scores),
        "recommend": recs,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("landing", type=Path, help="the landing zone (<source>/dt=YYYY-MM-DD/...)")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args(argv)
    result = run(args.landing)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
