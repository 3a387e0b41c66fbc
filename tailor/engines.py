"""Which engine the dbt project builds on, and how tables move between engines.

The dbt project builds on DuckDB (the default) or on Spark, chosen by the
``TAILOR_DBT_TARGET`` setting (:attr:`tailor.settings.Settings.dbt_target`): the name of an
output of ``dbt_project/profiles.yml``. ``duckdb`` is the embedded warehouse; every other
output is a Spark one (``spark``: a local session; a thrift or Databricks output for a
cluster).

On Spark the loader still writes DuckDB's ``raw.*`` (and the ML jobs ``ml.*``, the
exports and erasure ``ops.*``): before each build :func:`export_sources` writes those
tables as Parquet under ``<data>/spark/sources/<schema>/<table>/``, and the project's
``on-run-start`` hook (``register_parquet_sources``) declares them to Spark as the
sources. The models are written as Parquet tables under ``<data>/spark/warehouse/``
(:func:`spark_table_path`), which any engine (DuckDB, Arrow) reads back.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from tailor.settings import Settings
from tailor.sqlsafe import plain_name, quote_ident, quote_literal

DUCKDB = "duckdb"
SPARK = "spark"

# The schemas the dbt project reads as sources (dbt_project/models/**/_*sources.yml);
# everything else in DuckDB (private keys above all) never leaves it.
SOURCE_SCHEMAS = ("raw", "ml", "ops")

# The sources folder's name inside the Spark folder, and the name of its Parquet file.
_SOURCES = "sources"
_PARQUET_FILE = "part-0.parquet"


class EngineError(ValueError):
    """A setting names an engine or target Tailor cannot build on."""


def dbt_outputs(settings: Settings) -> list[str]:
    """The outputs (targets) ``dbt_project/profiles.yml`` defines."""
    path = settings.dbt_project / "profiles.yml"
    try:
        profiles = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return [DUCKDB, SPARK]
    return list((profiles.get("tailor") or {}).get("outputs") or {})


def dbt_target(settings: Settings) -> str:
    """The dbt output to build on (``TAILOR_DBT_TARGET``), checked against profiles.yml."""
    target = settings.dbt_target
    outputs = dbt_outputs(settings)
    if target not in outputs:
        raise EngineError(
            f"TAILOR_DBT_TARGET={target!r} is not an output of {settings.dbt_project}/profiles.yml"
            f" (one of: {', '.join(outputs)})"
        )
    return target


def is_spark(settings: Settings) -> bool:
    """True when the dbt project builds on Spark rather than on the DuckDB warehouse."""
    return dbt_target(settings) != DUCKDB


def spark_dir(settings: Settings) -> Path:
    """Spark's folder: its warehouse (Parquet tables), metastore and the exported sources."""
    return settings.data / "spark"


def spark_environment(settings: Settings) -> dict[str, str]:
    """The variables the profile's Spark outputs read (see dbt_project/profiles.yml)."""
    return {"TAILOR_SPARK_DIR": str(spark_dir(settings))}


def spark_table_path(settings: Settings, schema: str, table: str) -> Path:
    """The folder of Parquet files holding a model the Spark build wrote (e.g. marts.orders).

    The local session's managed tables live under its warehouse dir, one folder per
    database (``<schema>.db``); read it with ``read_parquet('<folder>/**/*.parquet')``
    (DuckDB) or ``pyarrow.dataset.dataset(folder)``. Partitioned models keep their
    partition column in the folder names (``snapshot_date=2026-10-03/``).
    """
    return spark_dir(settings) / "warehouse" / f"{plain_name(schema)}.db" / plain_name(table)


def check_spark_session(settings: Settings) -> None:
    """Refuse to build a data folder on Spark when this process's Spark session (a JVM,
    started once per process) keeps its warehouse and metastore in another one: its
    static configuration cannot change, so the build would write into the other folder."""
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return
    current = context.getConf().get("spark.sql.warehouse.dir", None)
    expected = spark_dir(settings) / "warehouse"
    if current and Path(current.removeprefix("file:")).resolve() != expected.resolve():
        raise EngineError(
            f"this process's Spark session keeps its tables in {current}, not in {expected}:"
            " build one data folder per process on Spark"
        )


def source_path(settings: Settings, schema: str, table: str) -> Path:
    """The folder a DuckDB source table is exported to for Spark."""
    return spark_dir(settings) / _SOURCES / plain_name(schema) / plain_name(table)


def export_sources(settings: Settings) -> list[dict[str, str]]:
    """Write every table of the source schemas (raw, ml, ops) of the DuckDB warehouse as
    Parquet for Spark; remove the folders of tables that no longer exist.

    Returns ``[{"schema", "table", "path"}]``, the ``tailor__parquet_sources`` variable the
    project's ``register_parquet_sources`` hook declares to Spark. Reads the warehouse
    read-only (dbt does not hold it while Spark builds).
    """
    from tailor.warehouse import connect

    root = spark_dir(settings) / _SOURCES
    exported: list[dict[str, str]] = []
    if not settings.warehouse.exists():
        return exported
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in (select unnest(?)) and table_type = 'BASE TABLE'"
            " order by 1, 2",
            [list(SOURCE_SCHEMAS)],
        ).fetchall()
        for schema, table in tables:
            folder = source_path(settings, schema, table)
            tmp = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            con.execute(
                f"copy (select * from {quote_ident(schema)}.{quote_ident(table)})"
                f" to {quote_literal(tmp / _PARQUET_FILE)} (format parquet)"
            )
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
            exported.append({"schema": schema, "table": table, "path": str(folder)})
    finally:
        con.close()
    keep = {Path(e["path"]) for e in exported}
    if root.is_dir():
        for schema_dir in root.iterdir():
            for folder in schema_dir.iterdir() if schema_dir.is_dir() else []:
                if folder not in keep:
                    shutil.rmtree(folder, ignore_errors=True)
    return exported
