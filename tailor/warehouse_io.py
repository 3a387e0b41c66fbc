"""The warehouse the ML jobs and the gates read and write, behind one interface.

The marts live where dbt built them: in the DuckDB file, or (the ``spark`` dbt target) in
Spark tables of the same names. The ML jobs and the gates reach them only through a
:class:`Warehouse`::

    with open_warehouse(settings) as wh:
        customers = wh.read("marts.customers")                  # a pyarrow.Table
        recent = wh.read("select * from marts.orders where ordered_at >= ?", [since])
        wh.write("ml.scores", frame, mode="replace", where={"run_date": day})

A job's computation runs in a DuckDB connection (:meth:`Warehouse.workspace`): on DuckDB
it is the warehouse file itself, so nothing is copied and a job costs what it did; on
Spark it is an in-memory DuckDB, DuckDB used as a local compute library, holding the
tables the job reads (as Arrow, from Spark) and the ones it writes; when the job
succeeds, the tables it writes go back to Spark, and when it fails Spark keeps what it
had. SQL given to :meth:`Warehouse.read` runs on the engine, with values bound as
parameters (``?``) on both.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from tailor.settings import Settings, get_settings
from tailor.sqlsafe import plain_name, quote_ident

ENGINES = ("duckdb", "spark")
WriteMode = Literal["append", "overwrite", "replace"]

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


def engine_of(settings: Settings) -> str:
    """The engine the marts are built on: ``TAILOR_DBT_TARGET`` (``duckdb`` by default)."""
    value = (os.environ.get("TAILOR_DBT_TARGET") or "duckdb").strip().lower()
    if value not in ENGINES:
        raise ValueError(
            f"TAILOR_DBT_TARGET is {value!r}; choose one of {', '.join(ENGINES)}"
        )
    return value


def qualified(table: str) -> str:
    """``schema.table`` with both parts quoted; anything else is refused."""
    if not _TABLE_NAME.match(table):
        raise ValueError(f"not a schema.table name: {table!r}")
    schema, name = table.split(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _select(query: str, quote: Callable[[str], str] = qualified) -> str:
    return f"select * from {quote(query)}" if _TABLE_NAME.match(query) else query


def spark_name(table: str) -> str:
    """``schema.table`` for Spark SQL: plain identifiers only (checked), unquoted."""
    if not _TABLE_NAME.match(table):
        raise ValueError(f"not a schema.table name: {table!r}")
    return table


def _where(
    where: Mapping[str, Any], quote: Callable[[str], str] = quote_ident
) -> tuple[str, list[Any]]:
    if not where:
        raise ValueError("replace needs the columns that name the rows to replace")
    return " and ".join(f"{quote(c)} = ?" for c in where), list(where.values())


def as_arrow(data: pa.Table | Any) -> pa.Table:
    """A pyarrow Table from an Arrow table or a pandas frame."""
    return data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)


class Warehouse:
    """What the ML jobs and gates need of a warehouse (see the module docstring)."""

    engine: str = ""

    def read(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """A table (``schema.table``) or the result of SQL over the warehouse, as Arrow."""
        raise NotImplementedError

    def exists(self, table: str) -> bool:
        raise NotImplementedError

    def tables(self, schema: str) -> list[str]:
        """The ``schema.table`` names of a schema's tables, sorted."""
        raise NotImplementedError

    def write(
        self,
        table: str,
        data: pa.Table | Any,
        mode: WriteMode = "append",
        where: Mapping[str, Any] | None = None,
    ) -> None:
        """Write Arrow or pandas rows to ``table`` (created when missing): ``append``
        adds them, ``overwrite`` replaces the table's rows, ``replace`` replaces the rows
        whose columns equal ``where`` (a run's rows: ``{"run_date": day}``)."""
        raise NotImplementedError

    def workspace(
        self,
        reads: Sequence[str],
        writes: Sequence[str],
        prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        path: Path | None = None,
    ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A DuckDB connection holding ``reads`` and ``writes`` (those that exist) under
        their names; the ``writes`` are written back when the body succeeds. ``prepare``
        creates the written tables (their DDL) before their rows are loaded; ``path``
        puts the workspace in a DuckDB file (for a reader that opens it by name)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DuckDBWarehouse(Warehouse):
    """The DuckDB file (``tailor.warehouse.connect``): the jobs' workspace is the file."""

    engine = "duckdb"

    def __init__(self, settings: Settings, path: Path | None = None):
        from tailor.warehouse import connect

        self.path = path or settings.warehouse
        self.con = connect(self.path, settings=settings)

    def read(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        return _arrow(self.con, _select(query), params)

    def exists(self, table: str) -> bool:
        schema, name = table.split(".")
        (n,) = self.con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()
        return bool(n)

    def tables(self, schema: str) -> list[str]:
        rows = self.con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? order by 1",
            [schema],
        ).fetchall()
        return [f"{schema}.{name}" for (name,) in rows]

    def write(
        self,
        table: str,
        data: pa.Table | Any,
        mode: WriteMode = "append",
        where: Mapping[str, Any] | None = None,
    ) -> None:
        _write_duckdb(self.con, table, as_arrow(data), mode, where)

    @contextlib.contextmanager
    def workspace(
        self,
        reads: Sequence[str],
        writes: Sequence[str],
        prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        path: Path | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.con

    def close(self) -> None:
        self.con.close()


def _arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> pa.Table:
    """A query's rows as Arrow, on a cursor of its own (the connection may hold a
    result the caller left unread)."""
    cursor = con.cursor()
    try:
        return cursor.sql(sql, params=list(params or [])).to_arrow_table()
    finally:
        cursor.close()


def _write_duckdb(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pa.Table,
    mode: WriteMode,
    where: Mapping[str, Any] | None = None,
) -> None:
    """``Warehouse.write`` on a DuckDB connection, in one transaction."""
    name = qualified(table)
    con.execute(f"create schema if not exists {quote_ident(table.split('.')[0])}")
    con.register("_tailor_rows", rows)
    try:
        con.execute("begin transaction")
        try:
            if mode == "overwrite":
                con.execute(f"create or replace table {name} as select * from _tailor_rows")
            else:
                con.execute(f"create table if not exists {name} as from _tailor_rows limit 0")
                if mode == "replace":
                    cond, values = _where(where or {})
                    con.execute(f"delete from {name} where {cond}", values)
                elif mode != "append":
                    raise ValueError(f"unknown write mode {mode!r}")
                con.execute(f"insert into {name} by name select * from _tailor_rows")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_tailor_rows")


def _load(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Put ``rows`` in a workspace table: into the table ``prepare`` created (its
    columns, by name), else a new table of the rows' own types."""
    name = qualified(table)
    con.execute(f"create schema if not exists {quote_ident(table.split('.')[0])}")
    con.register("_tailor_rows", rows)
    try:
        have = {
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                table.split("."),
            ).fetchall()
        }
        if not have:
            con.execute(f"create table {name} as select * from _tailor_rows")
            return
        cols = ", ".join(quote_ident(c) for c in rows.column_names if c in have)
        con.execute(f"insert into {name} ({cols}) select {cols} from _tailor_rows")
    finally:
        con.unregister("_tailor_rows")


# --------------------------------------------------------------------------- Spark

# One Spark session per process, shared with dbt-spark's session method when dbt ran in
# this process: the same warehouse directory and metastore, UTC session time.
def spark_conf(settings: Settings) -> dict[str, str]:
    """The Spark configuration of the local session: the warehouse directory and Derby
    metastore under ``<data>/spark/``, where dbt's ``spark`` target builds."""
    root = settings.data / "spark"
    return {
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true"
        ),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }


def spark_session(settings: Settings) -> Any:
    """The process's Spark session (created on first use, with :func:`spark_conf`)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("tailor")
    if not os.environ.get("SPARK_REMOTE"):
        builder = builder.master(os.environ.get("TAILOR_SPARK_MASTER", "local[2]"))
        for key, value in spark_conf(settings).items():
            builder = builder.config(key, value)
        builder = builder.enableHiveSupport()
    (settings.data / "spark").mkdir(parents=True, exist_ok=True)
    return builder.getOrCreate()


def from_spark(table: pa.Table) -> pa.Table:
    """Spark's Arrow as the warehouse's: timestamps (UTC in the session) without a zone,
    as DuckDB's ``timestamp`` columns are."""
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit), f.nullable)
        if pa.types.is_timestamp(f.type) and f.type.tz is not None
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def to_spark(table: pa.Table) -> pa.Table:
    """Arrow Spark accepts: DuckDB's JSON (an extension type) as text, unsigned and
    huge integers as the signed integers and decimals Spark has."""
    fields = []
    for f in table.schema:
        t = f.type
        if isinstance(t, pa.ExtensionType):
            t = pa.string() if pa.types.is_string(t.storage_type) else t.storage_type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_unsigned_integer(t):
            t = pa.int64()
        fields.append(pa.field(f.name, t, f.nullable))
    return table.cast(pa.schema(fields))


class SparkWarehouse(Warehouse):
    """Spark tables (``schema.table`` in the session's catalog), read with ``toArrow``
    and written from Arrow as Parquet tables."""

    engine = "spark"

    def __init__(self, settings: Settings, session: Any | None = None):
        self.settings = settings
        self.spark = session or spark_session(settings)

    def read(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        if _TABLE_NAME.match(query) and not params:
            df = self.spark.table(query)
        else:
            df = self.spark.sql(_select(query, spark_name), args=list(params or []) or None)
        return from_spark(df.toArrow())

    def exists(self, table: str) -> bool:
        schema = spark_name(table).split(".")[0]
        return bool(self.spark.catalog.databaseExists(schema)) and bool(
            self.spark.catalog.tableExists(table)
        )

    def tables(self, schema: str) -> list[str]:
        if not self.spark.catalog.databaseExists(schema):
            return []
        return sorted(f"{schema}.{t.name}" for t in self.spark.catalog.listTables(schema))

    def write(
        self,
        table: str,
        data: pa.Table | Any,
        mode: WriteMode = "append",
        where: Mapping[str, Any] | None = None,
    ) -> None:
        rows = as_arrow(data)
        if mode == "replace":
            # Parquet tables cannot delete rows: the table is rewritten without the run's
            # rows, from a copy read first (Spark refuses to overwrite what it reads)
            cond, values = _where(where or {}, plain_name)
            kept = (
                self.read(f"select * from {spark_name(table)} where not ({cond})", values)
                if self.exists(table)
                else rows.schema.empty_table()
            )
            rows = pa.concat_tables(
                [kept.select(rows.column_names).cast(rows.schema), rows]
            )
            mode = "overwrite"
        elif mode not in ("append", "overwrite"):
            raise ValueError(f"unknown write mode {mode!r}")
        self.spark.sql(f"create database if not exists {spark_name(table).split('.')[0]}")
        frame = self.spark.createDataFrame(to_spark(rows))
        frame.write.mode(mode).format("parquet").saveAsTable(table)

    @contextlib.contextmanager
    def workspace(
        self,
        reads: Sequence[str],
        writes: Sequence[str],
        prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        path: Path | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        if path is not None:
            from tailor.warehouse import connect

            path.unlink(missing_ok=True)
            con = connect(path, settings=self.settings)
        else:
            con = duckdb.connect()
        try:
            if prepare is not None:
                prepare(con)
            for table in dict.fromkeys([*reads, *writes]):
                if self.exists(table):
                    _load(con, table, self.read(table))
            yield con
            for table in writes:
                if _workspace_has(con, table):
                    self.write(table, _arrow(con, _select(table)), "overwrite")
        finally:
            con.close()


def _workspace_has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    (n,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        table.split("."),
    ).fetchone()
    return bool(n)


def open_warehouse(settings: Settings | None = None, engine: str | None = None) -> Warehouse:
    """The warehouse the marts of ``settings`` are on (:func:`engine_of`), or ``engine``'s."""
    s = settings or get_settings()
    chosen = engine or engine_of(s)
    if chosen == "spark":
        return SparkWarehouse(s)
    if chosen != "duckdb":
        raise ValueError(f"unknown engine {chosen!r}; choose one of {', '.join(ENGINES)}")
    return DuckDBWarehouse(s)
