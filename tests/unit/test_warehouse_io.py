"""The warehouse interface of the ML jobs and gates, on DuckDB (Spark: tests/spark)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from tailor.warehouse_io import (
    DuckDBWarehouse,
    SparkWarehouse,
    from_spark,
    on_spark,
    open_warehouse,
    qualified,
    to_spark,
)

pytestmark = pytest.mark.unit

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


@pytest.fixture
def wh(tailor_env):
    from tailor.settings import get_settings

    with open_warehouse(get_settings()) as w:
        yield w


def _rows(day, ids):
    return pd.DataFrame({"customer_id": ids, "score": [0.5] * len(ids), "run_date": day})


def test_write_replaces_only_the_runs_rows_and_read_binds_values(wh):
    wh.write("ml.scores", _rows(D1, ["a", "b"]), "append")
    wh.write("ml.scores", _rows(D2, ["a"]), "append")
    wh.write("ml.scores", _rows(D2, ["c", "d", "e"]), "replace", where={"run_date": D2})
    wh.write("ml.scores", _rows(D2, ["c", "d", "e"]), "replace", where={"run_date": D2})
    got = wh.read("select customer_id from ml.scores where run_date = ? order by 1", [D2])
    assert got.column("customer_id").to_pylist() == ["c", "d", "e"]
    assert wh.read("ml.scores").num_rows == 5
    wh.write("ml.scores", _rows(D1, ["z"]), "overwrite")
    assert wh.read("ml.scores").column("customer_id").to_pylist() == ["z"]
    assert wh.tables("ml") == ["ml.scores"] and wh.exists("ml.scores")
    assert not wh.exists("ml.nothing")


def test_the_duckdb_workspace_is_the_warehouse_itself(wh):
    with wh.workspace(["marts.customers"], ["ml.scores"]) as con:
        assert con is wh.con


@pytest.mark.parametrize(
    "name", ["marts.customers; drop table x", 'marts."x"', "customers", "a.b.c", "marts.c --"]
)
def test_a_table_name_is_schema_dot_table_or_refused(wh, name):
    with pytest.raises(ValueError, match="schema.table"):
        qualified(name)
    with pytest.raises(ValueError):
        wh.write(name, _rows(D1, ["a"]))


def test_a_spark_build_keeps_raw_ml_and_ops_in_the_duckdb_file(tailor_env):
    spark = dataclasses.replace(tailor_env, dbt_target="spark")
    with open_warehouse(spark) as wh:  # no Spark session until a Spark table is read
        assert isinstance(wh, SparkWarehouse)
        wh.write("ml.scores", _rows(D1, ["a"]))
        assert wh.read("ml.scores").num_rows == 1 and wh.tables("ml") == ["ml.scores"]
    assert [on_spark(t) for t in ("marts.orders", "intermediate.x", "ml.x", "raw.events")] == [
        True,
        True,
        False,
        False,
    ]
    with open_warehouse(tailor_env) as wh:
        assert isinstance(wh, DuckDBWarehouse) and wh.read("ml.scores").num_rows == 1


def test_arrow_crosses_between_the_engines_with_their_types():
    naive = dt.datetime(2026, 11, 1, 10, 30)
    spark_side = pa.table({"at": pa.array([naive], pa.timestamp("us", tz="UTC"))})
    assert from_spark(spark_side).schema.field("at").type == pa.timestamp("us")
    assert from_spark(spark_side).column("at").to_pylist() == [naive]
    duck = pa.table({"n": pa.array([1], pa.uint32()), "t": pa.array(["x"], pa.large_string())})
    assert to_spark(duck).schema.types == [pa.int64(), pa.string()]
