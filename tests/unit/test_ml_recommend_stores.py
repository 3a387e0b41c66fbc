"""Every kind of store gets personal recommendations: one that sends only product views,
one that sends only orders. The marts are written by hand into a DuckDB file (the shape
dbt builds), the job runs as the nightly stage does, and what it served is scored on
each customer's latest interactions, kept out of the warehouse."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.metrics import ranking_metrics
from ml.recommend import RecommendConfig, recommend_day

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 31)
N_CUSTOMERS, N_PRODUCTS, CLUSTERS = 300, 60, 6
KIND = {"view": "Product Viewed", "purchase": "Order Completed"}


def store(kind: str, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loaded events, kept-aside events): each customer keeps to one cluster of
    products (plus some noise) over 60 days; their latest 20 % is kept aside."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(N_CUSTOMERS):
        cluster = c % CLUSTERS
        own = rng.choice(N_PRODUCTS // CLUSTERS, 8, replace=False) * CLUSTERS + cluster
        noise = rng.choice(N_PRODUCTS, 2, replace=False)
        for p in [*own, *noise]:
            at = dt.datetime(2026, 9, 1) + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 60)))
            rows.append((f"c{c:03d}", f"p{p:02d}", kind, at))
    events = pd.DataFrame(rows, columns=["customer_id", "product_id", "interaction_type", "at_"])
    events = events.drop_duplicates(["customer_id", "product_id"])
    events = events.sort_values(["customer_id", "at_"]).reset_index(drop=True)
    pos = events.groupby("customer_id").cumcount()
    n = events.groupby("customer_id")["product_id"].transform("size")
    aside = pos >= np.ceil(0.8 * n)
    return events[~aside], events[aside]


def warehouse(path, events: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """marts.user_item_events / user_item_interactions / products / customers."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.register("ev", events)
    con.execute(
        """
        create table marts.user_item_events as
        select customer_id, product_id, interaction_type, at_ as interacted_at from ev
        """
    )
    con.execute(
        """
        create table marts.user_item_interactions as
        select customer_id, product_id,
            sum(case interaction_type when 'purchase' then 5 else 1 end)::double as interaction_score,
            count(*) filter (where interaction_type = 'purchase') as purchase_count,
            0 as cart_count,
            min(at_) as first_interaction_at, max(at_) as last_interaction_at
        from ev group by 1, 2
        """
    )
    con.execute(
        """
        create table marts.products as
        select 'p' || lpad(i::varchar, 2, '0') as product_id, 'Product ' || i as title,
            'Cat ' || (i % 6) as category_path, true as is_active, true as is_product
        from range(?) as t(i)
        """,
        [N_PRODUCTS],
    )
    con.execute(
        """
        create table marts.customers as
        select 'c' || lpad(i::varchar, 3, '0') as customer_id,
            true as has_personalization_consent
        from range(?) as t(i)
        """,
        [N_CUSTOMERS],
    )
    return con


def served(con) -> pd.DataFrame:
    return con.execute(
        "select customer_id, product_id, rank, model from ml.recommendations order by 1, 3"
    ).df()


def precision(recs: pd.DataFrame, aside: pd.DataFrame) -> float:
    customers = sorted(aside["customer_id"].unique())
    cidx = {c: i for i, c in enumerate(customers)}
    pidx = {f"p{p:02d}": p for p in range(N_PRODUCTS)}
    import scipy.sparse as sp

    truth = sp.csr_matrix(
        (np.ones(len(aside)), (aside["customer_id"].map(cidx), aside["product_id"].map(pidx))),
        shape=(len(customers), N_PRODUCTS),
    )
    ids = np.full((len(customers), 10), -1)
    r = recs[recs["customer_id"].isin(cidx)]
    ids[r["customer_id"].map(cidx), r["rank"] - 1] = r["product_id"].map(pidx)
    return float(ranking_metrics(truth, ids, 10)["precision"].mean())


@pytest.mark.parametrize("kind", ["view", "purchase"])
def test_a_single_signal_store_gets_personal_lists_that_beat_popularity(tmp_path, kind):
    loaded, aside = store(kind)
    con = warehouse(tmp_path / "w.duckdb", loaded)
    try:
        out = recommend_day(con, DAY, RecommendConfig(min_holdout_users=10))
        assert out["status"] == "chosen", out["message"]
        recs = served(con)
        personal = precision(recs, aside)
        recommend_day(con, DAY, RecommendConfig(models=(), min_holdout_users=10))
        popular = precision(served(con), aside)
    finally:
        con.close()
    assert out["served"] != "popularity"
    assert (recs["model"] != "popularity").mean() > 0.9
    assert personal > 2 * popular, (personal, popular)
    # nothing already consumed: a viewed product in a views-only store, a bought one here
    consumed = loaded.merge(recs, on=["customer_id", "product_id"])
    assert consumed.empty, consumed.head()
    assert (recs.groupby("customer_id").size() == 10).all()
