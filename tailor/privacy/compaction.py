"""Deleted rows can linger in free blocks of a DuckDB file: :func:`compact_database`
rewrites the file without them (after an erasure)."""

from __future__ import annotations

import os
from pathlib import Path

from tailor.settings import Settings, get_settings
from tailor.sqlsafe import quote_ident, quote_literal
from tailor.warehouse import connect


def compact_database(path: Path, settings: Settings | None = None) -> None:
    """Rewrite a DuckDB file table by table into a fresh file and swap it in.

    Deleted rows can linger in free blocks of a DuckDB file (not queryable, but on disk);
    the rewrite leaves none. No other connection may have the file open.
    """
    s = settings or get_settings()
    tmp = path.with_name(f".{path.name}.compact-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    con = connect(path, settings=s)
    try:
        (name,) = con.execute("select current_database()").fetchone()
        con.execute(f"attach {quote_literal(str(tmp))} as tailor_compacted")
        con.execute(f"copy from database {quote_ident(name)} to tailor_compacted")
        con.execute("detach tailor_compacted")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, path)
