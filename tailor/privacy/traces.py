"""The proof that nothing of a person is left: where their identifiers still occur, as a
substring, in the warehouse (:func:`find_traces`) or the landing zone
(:func:`landing_traces`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from tailor.privacy.landing import landing_files, read_bytes
from tailor.privacy.matching import alternation
from tailor.sqlsafe import quote_ident, quote_literal


def find_traces(
    con: duckdb.DuckDBPyConnection, tokens: Iterable[str], *, include_views: bool = True
) -> list[tuple[str, str, int]]:
    """(table, column, rows) wherever a token occurs in any text or JSON column, case
    insensitively, as a substring: the proof that nothing of a person is left."""
    toks = sorted({t.lower() for t in tokens if t})
    if not toks:
        return []
    kinds = "('BASE TABLE', 'VIEW')" if include_views else "('BASE TABLE')"
    rows = con.execute(
        f"""
        select c.table_schema, c.table_name, c.column_name, c.data_type
        from information_schema.columns c
        join information_schema.tables t
            on t.table_schema = c.table_schema and t.table_name = c.table_name
            and t.table_catalog = c.table_catalog
        where t.table_type in {kinds} and c.table_catalog = current_database()
        order by 1, 2, c.ordinal_position
        """
    ).fetchall()
    relations: dict[tuple[str, str], list[str]] = {}
    for schema, table, col, typ in rows:
        t = typ.upper()
        if t.startswith("VARCHAR") or t == "JSON" or "[]" in t or t.startswith(("STRUCT", "MAP")):
            relations.setdefault((schema, table), []).append(col)
        else:
            relations.setdefault((schema, table), [])
    pattern = quote_literal("(?i)" + alternation(toks))
    hits = []
    for (schema, table), cols in relations.items():
        if not cols:
            continue
        counts = ", ".join(
            f"count(*) filter (where regexp_matches({quote_ident(c)}::varchar, {pattern}))"
            for c in cols
        )
        found = con.execute(
            f"select {counts} from {quote_ident(schema)}.{quote_ident(table)}"
        ).fetchone()
        hits += [(f"{schema}.{table}", c, n) for c, n in zip(cols, found, strict=True) if n]
    return hits


def landing_traces(landing: Path, tokens: Iterable[str]) -> list[Path]:
    """Landing files that still contain any token (case-insensitive substring)."""
    toks = [t.lower().encode() for t in tokens if t]

    def mentions(path: Path) -> bool:
        if path.name.lower().endswith(".parquet"):
            con = duckdb.connect()
            try:
                rows = con.execute(
                    f"select * from read_parquet({quote_literal(str(path))})"
                ).fetchall()
            finally:
                con.close()
            data = "\n".join(str(r) for r in rows).encode()
        else:
            data = read_bytes(path)
        low = data.lower()
        return any(t in low for t in toks)

    paths = [p for _, p in landing_files(landing)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        hits = list(pool.map(mentions, paths))
    return [p for p, hit in zip(paths, hits, strict=True) if hit]
