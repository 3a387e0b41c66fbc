"""Reading Parquet (the catalog): rows with pyarrow, counted from the footer."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailor.ingest.outcome import LoadError
from tailor.ingest.reading import (
    _column_names,
    _empty_rejects,
    _select_parsed,
    _set_read,
    count_parquet_rows,
)
from tailor.sources import Source
from tailor.sqlsafe import quote_ident, quote_literal


def parse_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> None:
    try:
        _set_read(con, count_parquet_rows(path))
        table = pq.ParquetFile(path).read()
    except (pa.ArrowException, OSError) as exc:
        raise LoadError(f"{path}: not a readable Parquet file ({exc})") from exc
    header, _ = _column_names(table.column_names)
    table = table.rename_columns(header)
    records = (
        "json_object("
        + ", ".join(f"{quote_literal(h)}, {quote_ident(h)}" for h in header)
        + ")::varchar"
    )
    _chunks = table.append_column(  # noqa: F841 (scanned by DuckDB by name)
        "_line", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    )
    con.execute(
        f"create or replace temp table _lines as select *, {records} as _record from _chunks"
    )
    _empty_rejects(con)
    _select_parsed(con, source, header, "::varchar")
