"""Choosing the dbt engine, and what leaves DuckDB for Spark (tailor.engines)."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from tailor import engines, transform
from tailor.settings import get_settings

pytestmark = pytest.mark.unit


def test_the_setting_picks_the_target(tailor_env, monkeypatch):
    assert engines.dbt_target(get_settings()) == "duckdb"
    assert not engines.is_spark(get_settings())
    monkeypatch.setenv("TAILOR_DBT_TARGET", "spark")
    assert engines.dbt_target(get_settings()) == "spark"
    assert engines.is_spark(get_settings())


def test_an_unknown_target_is_a_clear_error_naming_the_setting(tailor_env, monkeypatch):
    monkeypatch.setenv("TAILOR_DBT_TARGET", "snowflake")
    with pytest.raises(engines.EngineError, match="TAILOR_DBT_TARGET='snowflake'.*duckdb, spark"):
        engines.dbt_target(get_settings())
    # dbt is never started: the build fails with the same message
    with pytest.raises(transform.DbtError, match="TAILOR_DBT_TARGET='snowflake'"):
        transform.run_dbt(["parse"], settings=get_settings())


def test_export_sources_writes_raw_ml_ops_and_never_private(tailor_env):
    s = tailor_env
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(s.warehouse))
    for schema in ("raw", "ml", "ops", "private", "marts"):
        con.execute(f"create schema {schema}")
        con.execute(f"create table {schema}.t as select 1 as id, 'O''Brien' as name")
    con.close()
    stale = engines.source_path(s, "raw", "gone")
    stale.mkdir(parents=True)

    exported = engines.export_sources(s)

    assert sorted((e["schema"], e["table"]) for e in exported) == [
        ("ml", "t"),
        ("ops", "t"),
        ("raw", "t"),
    ]
    assert not (engines.spark_dir(s) / "sources" / "private").exists()
    assert not stale.exists()
    rows = duckdb.sql(
        f"select id, name from read_parquet('{engines.source_path(s, 'raw', 't')}/*.parquet')"
    ).fetchall()
    assert rows == [(1, "O'Brien")]


def test_spark_tables_are_read_from_the_spark_folder(tailor_env):
    s = dataclasses.replace(tailor_env, dbt_target="spark")
    assert engines.spark_table_path(s, "marts", "orders") == (
        s.data / "spark" / "warehouse" / "marts.db" / "orders"
    )
    with pytest.raises(ValueError):
        engines.spark_table_path(s, "marts", "orders; drop table x")
