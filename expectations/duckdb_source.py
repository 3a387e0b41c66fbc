"""Great Expectations on a Tailor DuckDB file, with every check pushed down to SQL.

Two things stand between GX 1.x's generic SQL data source and DuckDB, and this module
fixes both without touching GX itself:

1. **Results read after the connection is closed.** ``SqlAlchemyExecutionEngine.execute_query``
   runs the query inside ``with engine.connect()`` and returns the cursor result; the
   caller fetches it *after* the block, once the connection has gone back to the pool.
   The pool's reset-on-return rolls the DuckDB connection back, which discards the
   pending result, so every bundled metric query comes back empty and each expectation
   fails with ``IndexError: list index out of range`` (an upstream bug, still open).
   :class:`DuckDBExecutionEngine` fetches the rows while the connection is still open
   and hands back a :class:`BufferedResult`. Only small results are ever fetched: GX
   asks for aggregates (one row), samples (``LIMIT``) or the first 200 rows of an
   unexpected-rows query, so buffering is capped at :data:`MAX_BUFFERED_ROWS` rows and
   a caller that really wants every row of a larger result gets an error instead of a
   silently truncated answer.

2. **One configuration per DuckDB file and process.** duckdb-engine adds its own
   ``custom_user_agent`` to the connection configuration, and DuckDB refuses a second
   connection to an open file with a different configuration. :class:`DuckDBDatasource`
   opens its connections itself with exactly :func:`tailor.warehouse.duckdb_config`, so
   GX can share the file with the pipeline's own connections.

Everything else (metric bundling, ``LIMIT``-ed samples, regex through the PostgreSQL
dialect that duckdb-engine extends) is stock GX running SQL in DuckDB; no table is ever
pulled into pandas.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from great_expectations.datasource.fluent.sql_datasource import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from sqlalchemy.dialects import postgresql as sa_postgresql

if TYPE_CHECKING:
    from tailor.settings import Settings

log = logging.getLogger(__name__)

# The most rows fetched from one query. GX never needs more for what Tailor's suites ask
# (aggregates, samples of failing values, the first 200 unexpected rows).
MAX_BUFFERED_ROWS = 10_000


class ResultTooLarge(RuntimeError):
    """A caller asked for every row of a result that was only partly fetched."""


class BufferedResult:
    """The rows of a query result, fetched before its connection was released.

    It answers the calls GX makes on a SQLAlchemy result (``fetchall``, ``fetchmany``,
    ``fetchone``, ``first``, ``scalar``, ``keys``, iteration). ``fetchall`` on a result
    that had more than :data:`MAX_BUFFERED_ROWS` rows raises :class:`ResultTooLarge`.
    """

    def __init__(self, keys: Sequence[str], rows: Sequence[Any], truncated: bool, rowcount: int):
        self._keys = list(keys)
        self._rows = list(rows)
        self._pos = 0
        self.truncated = truncated
        self.rowcount = rowcount
        self.returns_rows = True

    def keys(self) -> list[str]:
        return list(self._keys)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = 1 if size is None else size
        end = self._pos + size
        if self.truncated and end > len(self._rows):
            raise ResultTooLarge(
                f"asked for rows up to {end} of a result buffered to {MAX_BUFFERED_ROWS} rows"
            )
        out = self._rows[self._pos : end]
        self._pos += len(out)
        return out

    def fetchall(self) -> list[Any]:
        if self.truncated:
            raise ResultTooLarge(
                f"the query returned more than {MAX_BUFFERED_ROWS} rows; only that many were "
                "fetched (add a LIMIT, or aggregate in SQL)"
            )
        out = self._rows[self._pos :]
        self._pos = len(self._rows)
        return out

    def fetchone(self) -> Any | None:
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return row

    def first(self) -> Any | None:
        row = self.fetchone()
        self._pos = len(self._rows)
        return row

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def all(self) -> list[Any]:
        return self.fetchall()

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row


def buffer_result(result: sa.CursorResult) -> sa.CursorResult | BufferedResult:
    """Fetch ``result`` now (up to :data:`MAX_BUFFERED_ROWS` rows); DDL and DML results,
    which have no rows, are returned as they are."""
    if not result.returns_rows:
        return result
    rows = result.fetchmany(MAX_BUFFERED_ROWS + 1)
    truncated = len(rows) > MAX_BUFFERED_ROWS
    keys = list(result.keys())
    result.close()
    return BufferedResult(keys, rows[:MAX_BUFFERED_ROWS], truncated, rowcount=len(rows))


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """``SqlAlchemyExecutionEngine`` that reads each result before releasing its connection.

    GX picks SQL idioms (regular expressions, LIKE patterns, type names) from a dialect
    module it only knows for the databases it names; for ``duckdb`` it has none and
    refuses regex expectations ("Regex is not supported for dialect duckdb"). duckdb-engine
    is a subclass of SQLAlchemy's PostgreSQL dialect and DuckDB accepts PostgreSQL's
    ``~`` / ``!~`` regex operators, so the PostgreSQL module is the right one to hand GX.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.dialect_module is None:
            self.dialect_module = sa_postgresql

    def execute_query(self, query: sa.Selectable | sa.TextClause) -> Any:  # type: ignore[override]
        started = time.perf_counter()
        with self.get_connection() as connection:
            result = buffer_result(self._execute_query_with_recovery(connection, query))
        if log.isEnabledFor(logging.DEBUG):
            sql = " ".join(str(query).split())
            log.debug("%.3f s  %s", time.perf_counter() - started, sql[:400])
        return result

    def execute_query_in_transaction(self, query: sa.Selectable) -> Any:  # type: ignore[override]
        with self.get_connection() as connection:
            result = buffer_result(self._execute_query_with_recovery(connection, query))
            if connection.in_transaction():
                connection.commit()
            return result


class DuckDBDatasource(SQLDatasource):
    """A GX SQL data source on one DuckDB file (``connection_string`` ``duckdb:///<path>``).

    ``duckdb_config`` is the DuckDB configuration every connection to the file uses; pass
    :func:`tailor.warehouse.duckdb_config`. Call :meth:`dispose` when done so that the
    file is released (DuckDB keeps a file open while any connection to it is).
    """

    type: Literal["tailor_duckdb"] = "tailor_duckdb"  # type: ignore[assignment]
    duckdb_config: dict[str, Any] = {}
    read_only: bool = False

    @property
    def database(self) -> str:
        url = sa.engine.make_url(str(self.connection_string))
        if url.get_backend_name() != "duckdb" or not url.database:
            raise ValueError(f"not a DuckDB file URL: {self.connection_string!r}")
        return url.database

    def _create_engine(self) -> sa.Engine:
        database, config, read_only = self.database, dict(self.duckdb_config), self.read_only

        def connect() -> ConnectionWrapper:
            return ConnectionWrapper(duckdb.connect(database, read_only=read_only, config=config))

        return sa.create_engine("duckdb://", creator=connect)

    def get_execution_engine(self) -> DuckDBExecutionEngine:
        if self._execution_engine is None:
            self._execution_engine = DuckDBExecutionEngine(
                engine=self.get_engine(), create_temp_table=self.create_temp_table
            )
        return self._execution_engine  # type: ignore[return-value]

    def dispose(self) -> None:
        """Close every pooled connection (and with them the DuckDB file)."""
        if self._execution_engine is not None:
            self._execution_engine.engine.dispose()
            self._execution_engine = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


# --------------------------------------------------------------------------- Spark builds

# The schemas a layer's gates read on a Spark build.
GATE_SCHEMAS = {"marts": ("marts",), "ml": ("ml", "marts")}


@contextlib.contextmanager
def gate_database(layer: str, settings: Settings) -> Iterator[Path]:
    """The DuckDB file a layer's gates run on: the warehouse; on a Spark build (the
    marts and ml layers), a file holding the tables of :data:`GATE_SCHEMAS`, read as
    Arrow through :mod:`tailor.warehouse_io` (the marts from Spark, ``ml.*`` from the
    warehouse), so that the same suites run the same SQL. The marts gates read
    ``raw.events`` only to know which partitions the store sent events for: the file
    holds those partitions (``_dt``)."""
    from tailor.engines import is_spark, spark_dir
    from tailor.warehouse_io import DuckDBWarehouse, open_warehouse

    if layer not in GATE_SCHEMAS or not is_spark(settings):
        yield settings.warehouse
        return
    path = spark_dir(settings) / f"gates_{layer}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    with DuckDBWarehouse(settings) as local:  # raw stays in the DuckDB file
        partitions = (
            local.read("select distinct _dt from raw.events")
            if local.exists("raw.events")
            else None
        )
    with open_warehouse(settings) as wh:
        tables = [t for schema in GATE_SCHEMAS[layer] for t in wh.tables(schema)]
        with wh.workspace(tables, (), path=path) as con:
            if partitions is not None:
                con.execute("create schema if not exists raw")
                con.register("_partitions", partitions)
                con.execute("create table raw.events as select * from _partitions")
                con.unregister("_partitions")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
