"""The warehouse the ML jobs and the gates read and write, behind one interface.

The marts live where dbt built them: in the DuckDB file, or (a Spark dbt target,
:mod:`tailor.engines`) in Spark tables of the same names; the loader's ``raw.*``, the ML
jobs' ``ml.*`` and ``ops.*`` stay in the DuckDB file on both (Spark reads them as the
sources :func:`tailor.engines.export_sources` writes). The ML jobs and the gates reach
the warehouse only through a :class:`Warehouse`::

    with open_warehouse(settings) as wh:
        customers = wh.read("marts.customers")                  # a pyarrow.Table
        recent = wh.read("select * from marts.orders where ordered_at >= ?", [since])
        wh.write("ml.scores", frame, mode="replace", where={"run_date": day})

A job's computation runs in a DuckDB connection (:meth:`Warehouse.workspace`). On DuckDB
it is the warehouse file itself, so nothing is copied and a job costs what it did. On
Spark it is an in-memory DuckDB (DuckDB as a local compute library, not the warehouse)
holding the tables the job reads, the marts as Arrow from Spark, and the ``ml`` tables it
writes; when the job succeeds those go back to the DuckDB file in one transaction, and
when it fails nothing is written. SQL given to :meth:`Warehouse.read` runs on the engine
with values bound as parameters (``?``) on both.
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

from tailor import engines
from tailor.settings import Settings, get_settings
from tailor.sqlsafe import plain_name, quote_ident

WriteMode = Literal["append", "overwrite", "replace"]

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


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
        from tailor.warehouse import transaction

        if mode == "replace":
            _where(where or {})  # the rows to replace must be named
        with transaction(self.con):
            _put(self.con, table, as_arrow(data), mode, where)

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


def _put(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pa.Table,
    mode: WriteMode,
    where: Mapping[str, Any] | None = None,
) -> None:
    """Write ``rows`` to ``table`` inside the caller's transaction: ``overwrite`` replaces
    every row (an existing table keeps its definition), ``replace`` the rows of
    ``where``, ``append`` none."""
    if mode not in ("append", "overwrite", "replace"):
        raise ValueError(f"unknown write mode {mode!r}")
    name = qualified(table)
    con.execute(f"create schema if not exists {quote_ident(table.split('.')[0])}")
    con.register("_tailor_rows", rows)
    try:
        con.execute(f"create table if not exists {name} as from _tailor_rows limit 0")
        if mode == "overwrite":
            con.execute(f"delete from {name}")
        elif mode == "replace":
            cond, values = _where(where or {})
            con.execute(f"delete from {name} where {cond}", values)
        con.execute(f"insert into {name} by name select * from _tailor_rows")
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


def _env_var(env: Mapping[str, str]) -> Callable[..., str]:
    def env_var(name: str, default: str | None = None) -> str:
        return env.get(name, "" if default is None else default)

    return env_var


def spark_conf(settings: Settings) -> dict[str, str]:
    """The Spark configuration of the dbt target's output (``server_side_parameters`` of
    ``dbt_project/profiles.yml``), so that a session started here is the one dbt-spark
    starts: the same warehouse directory, metastore and session time zone."""
    import jinja2
    import yaml

    target = engines.dbt_target(settings)
    path = settings.dbt_project / "profiles.yml"
    env = {**os.environ, **engines.spark_environment(settings)}
    text = jinja2.Template(path.read_text(encoding="utf-8")).render(env_var=_env_var(env))
    output = (yaml.safe_load(text) or {})["tailor"]["outputs"][target]
    if output.get("method") != "session":
        raise engines.EngineError(
            f"the {target!r} output of {path} is not a local session: the ML jobs and gates"
            " reach a cluster through Spark Connect, set SPARK_REMOTE=sc://<host>:15002"
        )
    return {k: str(v) for k, v in (output.get("server_side_parameters") or {}).items()}


def spark_session(settings: Settings) -> Any:
    """The process's Spark session: dbt-spark's when dbt built in this process, else one
    started with :func:`spark_conf`, or a Spark Connect session (``SPARK_REMOTE``)."""
    from pyspark.sql import SparkSession

    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        return SparkSession.builder.remote(remote).getOrCreate()
    engines.check_spark_session(settings)  # a session started for another data folder
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    engines.spark_dir(settings).mkdir(parents=True, exist_ok=True)
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
    """Arrow Spark accepts: DuckDB's JSON (an extension type) as text, unsigned integers
    as the signed ones Spark has."""
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


def on_spark(table: str) -> bool:
    """Whether a Spark build holds ``table`` (its models), or the DuckDB file does (the
    schemas of :data:`tailor.engines.SOURCE_SCHEMAS`: raw, ml, ops; and ``private``,
    which never leaves the DuckDB file)."""
    return spark_name(table).split(".")[0] not in (*engines.SOURCE_SCHEMAS, "private")


class SparkWarehouse(Warehouse):
    """A Spark build: its tables read with ``toArrow`` and written from Arrow as Parquet
    tables; the tables of the DuckDB file (:func:`on_spark`) through :class:`DuckDBWarehouse`."""

    engine = "spark"

    def __init__(self, settings: Settings, session: Any | None = None):
        self.settings = settings
        self.local = DuckDBWarehouse(settings)
        self._session = session

    @property
    def spark(self) -> Any:
        if self._session is None:
            self._session = spark_session(self.settings)
        return self._session

    def read(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        if _TABLE_NAME.match(query) and not on_spark(query):
            return self.local.read(query, params)
        if _TABLE_NAME.match(query) and not params:
            df = self.spark.table(query)
        else:
            df = self.spark.sql(_select(query, spark_name), args=list(params or []) or None)
        return from_spark(df.toArrow())

    def exists(self, table: str) -> bool:
        if not on_spark(table):
            return self.local.exists(table)
        schema = spark_name(table).split(".")[0]
        return bool(self.spark.catalog.databaseExists(schema)) and bool(
            self.spark.catalog.tableExists(table)
        )

    def tables(self, schema: str) -> list[str]:
        if not on_spark(f"{schema}.t"):
            return self.local.tables(schema)
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
        if not on_spark(table):
            self.local.write(table, data, mode, where)
            return
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
            rows = pa.concat_tables([kept.select(rows.column_names).cast(rows.schema), rows])
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
        if any(on_spark(t) for t in writes):
            raise ValueError(f"a workspace writes tables of the DuckDB file only, not {writes}")
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
            written = {t: _arrow(con, _select(t)) for t in writes if _workspace_has(con, t)}
        finally:
            con.close()
        if written:
            _replace_tables(self.local.con, written, prepare)

    def close(self) -> None:
        self.local.close()


def _replace_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, pa.Table],
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None,
) -> None:
    """Every table's rows replaced by ``tables``', in one transaction (their definitions,
    from ``prepare``, kept)."""
    from tailor.warehouse import transaction

    if prepare is not None:
        prepare(con)
    with transaction(con):
        for table, rows in tables.items():
            _put(con, table, rows, "overwrite")


def _workspace_has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    (n,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        table.split("."),
    ).fetchone()
    return bool(n)


def open_warehouse(settings: Settings | None = None) -> Warehouse:
    """The warehouse of ``settings``: a Spark build's when the dbt target is a Spark one
    (``TAILOR_DBT_TARGET``, :func:`tailor.engines.is_spark`), else the DuckDB file."""
    s = settings or get_settings()
    return SparkWarehouse(s) if engines.is_spark(s) else DuckDBWarehouse(s)
