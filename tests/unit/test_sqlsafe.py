"""One quoting helper for every name and string that comes from data (tailor.sqlsafe),
and no other way of quoting left in the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest

from tailor.sqlsafe import plain_name, quote_ident, quote_literal

pytestmark = pytest.mark.unit

HOSTILE = 'a" || (select 1) || "b'
TAILOR = Path(__file__).resolve().parents[2] / "tailor"
NOT_WALKED = {"sqlsafe.py"}
# An f-string is taken for SQL when its text has SQL words and no markup.
SQL_WORDS = re.compile(
    r"\b(select|from|insert|update|delete|create|drop|alter|where|json_object)\b", re.I
)


def _is_sql(node: ast.JoinedStr) -> bool:
    text = " ".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    return bool(SQL_WORDS.search(text)) and "<" not in text


def test_quote_ident_keeps_a_hostile_column_name_one_name():
    assert quote_ident(HOSTILE) == '"a"" || (select 1) || ""b"'
    con = duckdb.connect()
    rel = con.sql(f"select 42 as {quote_ident(HOSTILE)}")
    assert rel.columns == [HOSTILE]
    assert rel.fetchall() == [(42,)]
    con.execute(f"create table t ({quote_ident(HOSTILE)} varchar)")
    con.execute(f"insert into t ({quote_ident(HOSTILE)}) values ('x')")
    assert con.sql(f"select {quote_ident(HOSTILE)} from t").fetchall() == [("x",)]


def test_quote_literal_keeps_a_hostile_string_one_string():
    for value in (HOSTILE, "'; drop table t; --", "it's", "x' || (select 1) || 'y"):
        assert duckdb.sql(f"select {quote_literal(value)}").fetchall() == [(value,)]


def test_nul_and_non_plain_names_are_refused():
    with pytest.raises(ValueError):
        quote_ident("a\x00b")
    with pytest.raises(ValueError):
        quote_literal("a\x00b")
    with pytest.raises(ValueError):
        plain_name(HOSTILE)
    assert plain_name("customer_id") == "customer_id"


def _old_idioms(path: Path) -> list[str]:
    """Places that quote SQL by hand: an f-string pasting a value between double quotes
    (``f'"{name}"'``), or a ``.replace`` that doubles quotes (a local ``_sql_str``/``_lit``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.JoinedStr) and _is_sql(node):
            parts = node.values
            for before, value, after in zip(parts, parts[1:], parts[2:], strict=False):
                if (
                    isinstance(value, ast.FormattedValue)
                    and isinstance(before, ast.Constant)
                    and isinstance(after, ast.Constant)
                    and str(before.value).endswith('"')
                    and str(after.value).startswith('"')
                ):
                    found.append(f"{path.name}:{node.lineno}: f-string quotes a name by hand")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "replace"
            and len(node.args) == 2
            and all(isinstance(a, ast.Constant) for a in node.args)
            and (node.args[0].value, node.args[1].value) in (("'", "''"), ('"', '""'))
        ):
            found.append(f"{path.name}:{node.lineno}: quotes doubled by hand")
        if isinstance(node, ast.FunctionDef) and node.name in ("_sql_str", "_lit", "_quote"):
            found.append(f"{path.name}:{node.lineno}: a local quoting function {node.name}")
    return found


def test_no_sql_is_quoted_outside_sqlsafe():
    files = [p for p in TAILOR.rglob("*.py") if p.name not in NOT_WALKED]
    assert len(files) > 10
    found = [hit for p in sorted(files) for hit in _old_idioms(p)]
    assert found == [], "quote through tailor.sqlsafe instead:\n" + "\n".join(found)


def test_the_walk_finds_the_old_idioms(tmp_path):
    old = tmp_path / "old.py"
    old.write_text(
        "def _sql_str(v):\n"
        '    return "\'" + v.replace("\'", "\'\'") + "\'"\n'
        "def rec(h):\n"
        "    return f'select json_object({_sql_str(h)}, \"{h}\")'\n"
    )
    assert len(_old_idioms(old)) == 3
