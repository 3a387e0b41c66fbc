"""The ML jobs and the gates on a Spark build's marts, compared with the DuckDB path.

A tiny generated shop is loaded into two warehouses; one is built with dbt on DuckDB, the
other on Spark (its first build, then a second night). Each night segments, propensity
and recommendations are produced from each build's marts through
``tailor.warehouse_io``. The ml tables must agree: the same keys, the same segments,
scores equal within 1e-6. The second night reads the first night's ml tables back
(stable segment ids, the previous recommendation run), and the marts and ml gates pass
on the Spark build.

Opt-in like every Spark test: ``TAILOR_SPARK_TESTS=1 pytest -n 2 --dist loadfile -m spark tests/spark``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from types import SimpleNamespace

import pandas as pd
import pytest

from tailor import ingest, transform
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.warehouse import connect
from tailor.warehouse_io import DuckDBWarehouse, open_warehouse
from tests.integration.test_ml_recommend import SELECT, _shop
from tests.spark.test_spark_dbt import pytestmark  # noqa: F401  (opt-in, marker spark)

START = dt.date(2026, 9, 1)
DAYS = 21
LAST = START + dt.timedelta(days=DAYS - 1)
NIGHTS = (LAST - dt.timedelta(days=1), LAST)
ML_TABLES = {
    "ml.customer_segments": ("run_date", "customer_id"),
    "ml.segment_profiles": ("run_date", "segment_id"),
    "ml.propensity_scores": ("run_date", "model", "horizon_days", "customer_id"),
    "ml.customer_value": ("run_date", "horizon_days", "customer_id"),
    "ml.recommendations": ("run_date", "customer_id", "rank"),
    "ml.similar_items": ("run_date", "product_id", "rank"),
}


def _ml_stages(settings, day):
    from ml import propensity, recommend, segmentation
    from ml.propensity import PropensityConfig
    from ml.recommend import RecommendConfig

    ctx = SimpleNamespace(day=day, settings=settings)
    # a week's horizon trained on one cutoff: three weeks of a small shop are enough
    score = PropensityConfig(
        horizon_days=7,
        horizons=(7,),
        short_history_horizon=None,
        train_cutoffs=1,
        min_history_days=3,
        min_rows=50,
        min_positives=5,
    )
    rec = RecommendConfig(min_holdout_users=5, models=("itemknn", "content"))
    return {
        "segment": segmentation.run(ctx),
        "score": propensity.run(ctx, score),
        "recommend": recommend.run(ctx, rec),
    }


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Both nights on both engines: ({day: (duckdb results, spark results)}, gates on
    Spark, the DuckDB settings, the Spark settings)."""
    from expectations.runner import validate_layer

    root = tmp_path_factory.mktemp("spark_ml")
    shop = GeneratorConfig(
        customers=120, products=40, days=DAYS, start=START, seed=5, dirt=DirtConfig().scaled(0)
    )
    duck = _shop(root / "duckdb", shop, NIGHTS[0], duckdb_memory_limit="1GB")
    duck = dataclasses.replace(duck, reports=root / "duckdb" / "reports")
    data = root / "spark"
    spark = dataclasses.replace(
        duck,
        dbt_target="spark",
        data=data,
        warehouse=data / "warehouse" / "tailor.duckdb",
        duckdb_temp=data / "tmp" / "duckdb",
        reports=data / "reports",
    )
    with connect(spark.warehouse, settings=spark) as con:
        ingest.load_range(con, spark.landing)
    out = {}
    for day in NIGHTS:
        if day != NIGHTS[0]:
            transform.build(day, select=SELECT, settings=duck, tests=False)
        transform.build(day, select=SELECT, settings=spark, tests=False)
        out[day] = (_ml_stages(duck, day), _ml_stages(spark, day))
    gates = {layer: validate_layer(layer, LAST, spark) for layer in ("marts", "ml")}
    return out, gates, duck, spark


def _frame(table, rows) -> pd.DataFrame:
    """The rows in key order, without run ids; a JSON centroid as one float column per
    feature (the engines round doubles differently in the last printed digit)."""
    keys = list(ML_TABLES[table])
    if "centroid" in rows:
        centroids = pd.DataFrame([json.loads(c) for c in rows["centroid"]], index=rows.index)
        rows = rows.drop(columns="centroid").join(centroids.add_prefix("centroid."))
    cols = [c for c in rows.columns if c not in ("run_id",)]
    return rows[cols].sort_values(keys, ignore_index=True)


def _statuses(result):
    return (
        {k: v["status"] for k, v in result.items()} if "status" not in result else result["status"]
    )


def test_every_stage_ran_on_both_engines_with_the_same_outcome(nights):
    out = nights[0]
    for day, (on_duckdb, on_spark) in out.items():
        for stage in on_duckdb:
            assert _statuses(on_spark[stage]) == _statuses(on_duckdb[stage]), (day, stage)
        assert on_spark["segment"]["status"] == "chosen"
        assert on_spark["segment"]["segments"] == on_duckdb["segment"]["segments"]
        assert on_spark["recommend"]["recommendation_rows"] > 0
    scored = [k for k, v in out[LAST][1]["score"].items() if v.get("status") == "chosen"]
    assert scored, f"propensity trained nothing on the Spark marts: {out[LAST][1]['score']}"


@pytest.mark.parametrize("table", sorted(ML_TABLES))
def test_the_ml_tables_from_spark_equal_those_from_duckdb(nights, table):
    _, _, duck, spark = nights
    with DuckDBWarehouse(duck) as wh:
        expected = _frame(table, wh.read(table).to_pandas())
    with open_warehouse(spark) as wh:
        actual = _frame(table, wh.read(table).to_pandas())
    assert len(expected) and set(NIGHTS) <= set(pd.to_datetime(actual["run_date"]).dt.date)
    keys = list(ML_TABLES[table])
    pd.testing.assert_frame_equal(actual[keys], expected[keys], check_dtype=False)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-6, atol=1e-6)


def test_the_spark_stages_read_the_spark_marts(nights):
    """The Spark night segmented the customers of the Spark build's marts, and compared
    its segments with the first night's, read back from the DuckDB file."""
    _, _, _, spark = nights
    with open_warehouse(spark) as wh:
        assert wh.engine == "spark" and "marts.customer_features" in wh.tables("marts")
        (n,) = wh.read("select count(*) as n from marts.customer_features").column("n")
        moves = wh.read("ml.segment_transitions").to_pandas()
    segments = nights[0][LAST][1]["segment"]
    assert sum(segments["segments"].values()) == n.as_py()
    assert (pd.to_datetime(moves["run_date"]).dt.date == LAST).any()


def test_the_gates_pass_on_the_spark_build(nights):
    gates = nights[1]
    for layer, report in gates.items():
        assert report.success, (layer, report.failure_message())
        assert report.outcomes, layer


def test_the_spark_nights_keep_their_fits_in_the_duckdb_file_as_duckdb_does(nights):
    """The fitted models a refit night stores (``private.fitted_models``, signed with the
    warehouse's privacy key) reach the DuckDB file on Spark too, so the nights between
    reuse them there as well."""
    _, _, duck, spark = nights
    query = "select task, fit_date, model from private.fitted_models order by all"
    with DuckDBWarehouse(duck) as wh:
        expected = wh.read(query).to_pylist()
    with DuckDBWarehouse(spark) as wh:
        actual = wh.read(query).to_pylist()
    assert expected and actual == expected
