"""The recommendation job on a small generated warehouse, built for real (load + dbt).

Checks what a user of ``ml.recommendations`` and ``ml.similar_items`` relies on: every
customer gets K products, never one they bought nor an inactive one, at most N per
category, each with a reason that names something they actually did; the run's metrics
are in ``ml.model_runs``; a rerun of the day gives the same rows; a large NDCG drop
against the previous run makes the run fall back to popularity, flagged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from types import SimpleNamespace

import numpy as np
import pytest

from ml import recommend
from ml.recommend import RecommendConfig
from tailor import ingest, transform
from tailor.settings import get_settings
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.warehouse import connect

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
DAYS = 10
DAY = START + dt.timedelta(days=DAYS - 1)
SELECT = "resource_type:seed staging intermediate marts.core marts.segmentation marts.ml"
# K as configured by default: the ML quality gate checks the default K
CONFIG = RecommendConfig(
    max_per_category=2,
    min_holdout_users=10,
    models=("itemknn", "ease", "rp3beta", "content", "hybrid"),
)


def _shop(data, config: GeneratorConfig, day: dt.date, **settings):
    """Settings of a data folder holding a generated shop, loaded and built up to ``day``'s
    ML inputs (no dbt tests)."""
    s = dataclasses.replace(
        get_settings(),
        data=data,
        warehouse=data / "warehouse" / "tailor.duckdb",
        landing=data / "landing",
        ground_truth=data / "ground_truth",
        duckdb_temp=data / "tmp" / "duckdb",
        **settings,
    )
    generate(config, s.landing, s.ground_truth)
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_range(con, s.landing)
    finally:
        con.close()
    transform.build(day, select=SELECT, settings=s, tests=False)
    return s


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    config = GeneratorConfig(
        customers=500, products=150, days=DAYS, start=START, seed=11, dirt=DirtConfig().scaled(0)
    )
    root = tmp_path_factory.mktemp("recommend")
    return _shop(root / "data", config, DAY, duckdb_memory_limit="2GB")


def run_job(settings, config=CONFIG, day=DAY):
    return recommend.run(SimpleNamespace(day=day, settings=settings), config)


def query(settings, sql, params=None):
    con = connect(settings.warehouse, settings=settings, read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def first_run(warehouse):
    return run_job(warehouse)


def test_every_customer_gets_k_ranked_products(warehouse, first_run):
    assert first_run["status"] in ("chosen", "fallback")
    df = query(
        warehouse,
        """
        select c.customer_id, count(r.product_id) as n, min(r.rank) as lo, max(r.rank) as hi,
               count(distinct r.product_id) as distinct_products
        from marts.customers as c
        left join ml.recommendations as r on r.customer_id = c.customer_id and r.run_date = ?
        group by c.customer_id
        """,
        [DAY],
    )
    assert len(df) > 0
    assert (df["n"] == CONFIG.k).all()
    assert (df["lo"] == 1).all() and (df["hi"] == CONFIG.k).all()
    assert (df["distinct_products"] == CONFIG.k).all()


def test_the_ml_quality_gate_passes_on_the_output(warehouse, first_run):
    """The Great Expectations suite of the ML layer (K per eligible customer, ranks, no
    product twice, nothing bought, catalog) passes on what the job wrote."""
    from expectations.runner import validate_layer

    report = validate_layer("ml", DAY, warehouse)
    checks = [o for o in report.outcomes if o.table == "ml.recommendations"]
    assert len(checks) >= 7
    failed = [o.describe() for o in checks if not o.success]
    assert not failed, failed


def test_no_bought_or_inactive_product_is_recommended(warehouse, first_run):
    bought = query(
        warehouse,
        """
        select r.customer_id, r.product_id from ml.recommendations as r
        join marts.user_item_interactions as i using (customer_id, product_id)
        where i.purchase_count > 0 and r.run_date = ?
        """,
        [DAY],
    )
    assert bought.empty
    inactive = query(
        warehouse,
        """
        select r.product_id from ml.recommendations as r
        left join marts.products as p using (product_id)
        where r.run_date = ? and (p.product_id is null or not p.is_active or not p.is_product)
        """,
        [DAY],
    )
    assert inactive.empty


def test_diversity_rule_holds(warehouse, first_run):
    per_category = query(
        warehouse,
        """
        select r.customer_id, p.category_path, count(*) as n
        from ml.recommendations as r join marts.products as p using (product_id)
        where r.run_date = ? and p.category_path is not null
        group by all
        """,
        [DAY],
    )
    assert per_category["n"].max() <= CONFIG.max_per_category


def test_reasons_name_what_the_customer_did(warehouse, first_run):
    df = query(warehouse, "select * from ml.recommendations where run_date = ?", [DAY])
    assert df["reason"].notna().all() and (df["reason"].str.len() > 0).all()
    because = df[df["reason_code"].isin(["viewed", "added_to_cart", "bought"])]
    assert len(because) > 0
    assert because["reason"].str.startswith("because you ").all()
    anchored = query(
        warehouse,
        """
        select r.reason_code, i.view_count, i.cart_count, i.purchase_count
        from ml.recommendations as r
        left join marts.user_item_interactions as i
            on i.customer_id = r.customer_id and i.product_id = r.reason_product_id
        where r.run_date = ? and r.reason_product_id is not null
        """,
        [DAY],
    )
    assert anchored["view_count"].notna().all(), "the reason product is in the customer's history"
    bought = anchored[anchored["reason_code"] == "bought"]
    assert (bought["purchase_count"] > 0).all()
    popular = df[df["model"] == "popularity"]
    assert popular["reason_code"].isin(["popular", "popular_in_segment"]).all()
    # customers without personalization consent get the non-personalized list only
    no_consent = query(
        warehouse,
        """
        select r.* from ml.recommendations as r join marts.customers as c using (customer_id)
        where r.run_date = ? and not c.has_personalization_consent
        """,
        [DAY],
    )
    assert (no_consent["reason_code"] == "popular").all()


def test_similar_items(warehouse, first_run):
    df = query(
        warehouse,
        """
        select s.*, p.is_active as target_active
        from ml.similar_items as s join marts.products as p on p.product_id = s.similar_product_id
        where s.run_date = ?
        """,
        [DAY],
    )
    assert len(df) > 0
    assert (df["product_id"] != df["similar_product_id"]).all()
    assert df["target_active"].all()
    assert not df.duplicated(["product_id", "rank"]).any()
    assert not df.duplicated(["product_id", "similar_product_id"]).any()
    assert df.groupby("product_id")["rank"].max().max() <= CONFIG.similar_items


def test_model_runs_hold_every_models_metrics(warehouse, first_run):
    runs = query(
        warehouse,
        "select * from ml.model_runs where task = 'recommendation' and run_date = ?",
        [DAY],
    )
    assert {"popularity", "itemknn", "ease", "rp3beta", "content", "hybrid"} <= set(runs["model"])
    served = runs[runs["status"].isin(["chosen", "fallback"])]
    assert len(served) == 1
    for _, row in runs[
        runs["status"].isin(["chosen", "candidate", "baseline", "fallback"])
    ].iterrows():
        metrics = json.loads(row["metrics"])
        for key in (
            "ndcg@10",
            "precision@10",
            "recall@10",
            "map@10",
            "hit_rate@10",
            "coverage@10",
            "warm.ndcg@10",
            "cold.ndcg@10",
        ):
            assert key in metrics, (row["model"], key)
        # the intervals the run report shows
        low, high = metrics["ndcg@10_ci"]
        assert low <= metrics["ndcg@10"] <= high
        assert metrics["precision@10_ci"][0] <= metrics["precision@10"]
    window = json.loads(runs["data_window"].iloc[0])
    assert "per customer" in window["split"]
    assert window["holdout_users"] >= CONFIG.min_holdout_users
    assert set(window["features"]) == {"weights", "half_life_days"}
    # the hyper-parameters chosen on validation, and every try, are recorded
    ease = json.loads(runs.loc[runs["model"] == "ease", "params"].iloc[0])
    assert ease["l2"] in [t["l2"] for t in ease["tuning"]]


def test_the_training_matrix_matches_the_events(warehouse, first_run):
    """The serving matrix built from the events, with the mart's weights and half-life,
    is the mart's decayed scores: both decay a customer's history to their latest
    interaction (the mart's rows are then decayed on to the end of the day: one factor
    per customer)."""
    con = connect(warehouse.warehouse, settings=warehouse, read_only=True)
    try:
        config = CONFIG.with_dbt_vars(warehouse.dbt_project)
        data = recommend.load_data(con, DAY, config)
        from_events = recommend.full_matrix(data, recommend.base_features(config)).tocsr()
        from_mart = recommend.full_matrix(data).tocsr()
        assert from_events.nnz == from_mart.nnz
        assert (from_events.indices == from_mart.indices).all()
        ratio = from_events.copy()
        ratio.data = from_events.data / from_mart.data
        for u in np.flatnonzero(np.diff(ratio.indptr)):
            row = ratio.data[ratio.indptr[u] : ratio.indptr[u + 1]]
            assert row.max() / row.min() - 1 < 1e-3
    finally:
        con.close()


def test_the_config_file_sets_the_options_of_the_run(warehouse, first_run, tmp_path, monkeypatch):
    """`recommend:` in config/tailor.yml takes effect where the pipeline stage and the DAG
    call the job (no configuration passed), and `tailor recommend --k` overrides it."""
    path = tmp_path / "tailor.yml"
    path.write_text("recommend:\n  k: 4\n  min_holdout_users: 10\n  tune: false\n")
    monkeypatch.setenv("TAILOR_CONFIG", str(path))
    try:
        recommend.run(SimpleNamespace(day=DAY, settings=warehouse))
        sql = "select customer_id, count(*) as n from ml.recommendations where run_date = ? group by 1"
        assert set(query(warehouse, sql, [DAY])["n"]) == {4}
        recommend.run(SimpleNamespace(day=DAY, settings=warehouse), {"k": 3})
        assert set(query(warehouse, sql, [DAY])["n"]) == {3}
        path.write_text("recommend:\n  k: ten\n")
        from tailor.config import ConfigError

        with pytest.raises(ConfigError, match="recommend.k: expected a whole number"):
            recommend.run(SimpleNamespace(day=DAY, settings=warehouse))
    finally:
        monkeypatch.delenv("TAILOR_CONFIG")
        run_job(warehouse)


def test_rerun_gives_the_same_rows(warehouse, first_run):
    sql = "select * exclude (score) from ml.recommendations where run_date = ? order by customer_id, rank"
    before = query(warehouse, sql, [DAY])
    run_job(warehouse)
    after = query(warehouse, sql, [DAY])
    assert before.equals(after)
    runs = query(
        warehouse,
        "select model, count(*) as n from ml.model_runs where run_date = ? and task = 'recommendation' group by 1",
        [DAY],
    )
    assert (runs["n"] == 1).all()


def test_a_large_ndcg_drop_falls_back_to_popularity(warehouse, first_run):
    best = first_run["best"]
    if best in (None, "popularity"):
        pytest.skip("popularity won on this data; no model to fall back from")
    earlier = DAY - dt.timedelta(days=1)
    con = connect(warehouse.warehouse, settings=warehouse)
    try:
        from ml.runs import record_model_run

        record_model_run(
            con,
            run_id=f"recommendation:{earlier}",
            model=best,
            task="recommendation",
            run_date=earlier,
            status="chosen",
            metrics={"ndcg@10": first_run["ndcg@10"][best] * 2, "ndcg@10_se": 0.001},
        )
    finally:
        con.close()
    try:
        out = run_job(warehouse)
        assert out["status"] == "fallback" and out["served"] == "popularity"
        assert "dropped" in out["message"]
        runs = query(
            warehouse,
            "select model, status, message from ml.model_runs where run_date = ? and task = 'recommendation'",
            [DAY],
        )
        pop = runs[runs["model"] == "popularity"].iloc[0]
        assert pop["status"] == "fallback" and "dropped" in pop["message"]
        models = query(
            warehouse, "select distinct model from ml.recommendations where run_date = ?", [DAY]
        )
        assert set(models["model"]) == {"popularity"}
    finally:
        con = connect(warehouse.warehouse, settings=warehouse)
        con.execute("delete from ml.model_runs where run_date = ?", [earlier])
        con.close()
        run_job(warehouse)


def test_the_gate_checks_the_k_the_run_was_made_with(warehouse, first_run):
    """`tailor recommend --k 5`: the gate reads K from the run's recorded configuration."""
    from expectations.runner import validate_layer

    try:
        run_job(warehouse, dataclasses.replace(CONFIG, k=5))
        report = validate_layer("ml", DAY, warehouse)
        checks = [o for o in report.outcomes if o.table == "ml.recommendations"]
        assert any(
            "min(5, products they can still be offered)" in (o.description or "") for o in checks
        )
        assert all(o.success for o in checks), [o.describe() for o in checks if not o.success]
    finally:
        run_job(warehouse)


def test_recommend_day_without_marts_is_skipped(tmp_path):
    s = dataclasses.replace(
        get_settings(), warehouse=tmp_path / "empty.duckdb", duckdb_temp=tmp_path / "tmp"
    )
    out = run_job(s)
    assert out["status"] == "skipped"
    runs = query(s, "select status from ml.model_runs")
    assert runs["status"].tolist() == ["skipped"]
    assert np.isin(["skipped"], runs["status"]).all()


def test_a_shop_with_fewer_products_than_k_passes_the_gate(tmp_path):
    """20 products (the generator's smallest catalog), K = 30: every customer gets what
    they can still be offered (the products less what they bought), and the ML gate
    checks exactly that."""
    from expectations.runner import validate_layer

    day = START + dt.timedelta(days=2)
    config = GeneratorConfig(customers=60, products=20, days=3, start=START, seed=4)
    s = _shop(tmp_path / "data", config, day)
    out = run_job(s, RecommendConfig(k=30), day=day)
    assert out["status"] in ("chosen", "fallback")
    counts = query(
        s,
        "select count(*) as n from ml.recommendations where run_date = ? group by customer_id",
        [day],
    )
    assert len(counts) and counts["n"].max() <= 20
    report = validate_layer("ml", day, s)
    checks = [o for o in report.outcomes if o.table == "ml.recommendations"]
    assert checks and all(o.success for o in checks), [
        o.describe() for o in checks if not o.success
    ]
