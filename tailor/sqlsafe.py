"""The one place where a name or a value from data becomes SQL text.

Values reach SQL as bound parameters (``con.execute(sql, [value])``) wherever DuckDB
allows one. Where it does not (a table function's file path, a JSON path, a column
name read from a CSV header, a Parquet schema or a JSON key), the text goes through
these helpers, which quote it so that it can only ever be read as a name or a string,
never as code. Grep-able rule: no f-string builds SQL from data without ``quote_ident``
or ``quote_literal`` (``tests/unit/test_sqlsafe.py`` walks the code for the old idioms).
"""

from __future__ import annotations

import re

# A name Tailor itself declares (tables, columns of the contract): checked, not quoted.
PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier: embedded quotes doubled, so
    ``a" || (select 1) || "b`` stays one (odd) column name. NUL is refused."""
    text = str(name)
    if "\x00" in text:
        raise ValueError("an identifier cannot contain a NUL character")
    return '"' + text.replace('"', '""') + '"'


def quote_literal(value: object) -> str:
    """``value`` as a single-quoted SQL string literal (quotes doubled). NUL is refused."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL string cannot contain a NUL character")
    return "'" + text.replace("'", "''") + "'"


def plain_name(name: str) -> str:
    """A name Tailor declares, checked against ``PLAIN_NAME`` before it is pasted as is."""
    if not PLAIN_NAME.match(name):
        raise ValueError(f"not a plain SQL name: {name!r}")
    return name
