"""Table and column descriptions inside DuckDB, so that every SQL tool shows them.

The dbt models carry theirs through ``persist_docs`` (dbt_project/dbt_project.yml). The
tables Tailor's Python jobs write (``raw.*``, ``ml.*``, ``ops.*``) are declared as dbt
sources, with every column described, in the project's ``*sources.yml`` files: the one
place their descriptions are written. :func:`apply` turns those declarations into
``COMMENT ON`` statements on the tables that exist; each run's commit calls it on the
working copy (``tailor.pipeline.commit_run``), so a table a job created that night carries
its comments before the analyst snapshot (which copies them) is published.

The YAML is read as it is, without dbt: a description is plain text, never Jinja.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import yaml

from tailor.sqlsafe import quote_ident, quote_literal

# (schema, table) -> {"": table description, column: description}
Descriptions = dict[tuple[str, str], dict[str, str]]


def source_files(dbt_project: Path) -> list[Path]:
    return sorted((dbt_project / "models").rglob("*sources.yml"))


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def source_descriptions(dbt_project: Path) -> Descriptions:
    """The descriptions of every dbt source table of the project, keyed by the relation
    (schema, table) it names."""
    out: Descriptions = {}
    for path in source_files(dbt_project):
        # libyaml when PyYAML has it: every commit reads these files
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        for source in doc.get("sources") or []:
            schema = source.get("schema") or source["name"]
            for table in source.get("tables") or []:
                entry = out.setdefault((schema, table.get("identifier") or table["name"]), {})
                if table.get("description"):
                    entry[""] = _text(table["description"])
                for column in table.get("columns") or []:
                    if column.get("description"):
                        entry[column["name"]] = _text(column["description"])
    return out


def _current(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], str | None]:
    """(schema, table, column or "") -> its comment, for every table of the database."""
    db = con.execute("select current_database()").fetchone()[0]
    found: dict[tuple[str, str, str], str | None] = {}
    for schema, table, comment in con.execute(
        "select schema_name, table_name, comment from duckdb_tables() where database_name = ?",
        [db],
    ).fetchall():
        found[(schema, table, "")] = comment
    for schema, table, column, comment in con.execute(
        "select schema_name, table_name, column_name, comment from duckdb_columns()"
        " where database_name = ?",
        [db],
    ).fetchall():
        if (schema, table, "") in found:
            found[(schema, table, column)] = comment
    return found


def statements(con: duckdb.DuckDBPyConnection, descriptions: Descriptions) -> Iterable[str]:
    """The COMMENT statements that bring the existing tables' comments in line with
    ``descriptions`` (nothing for a table that does not exist or a comment already set)."""
    current = _current(con)
    for (schema, table), texts in sorted(descriptions.items()):
        name = f"{quote_ident(schema)}.{quote_ident(table)}"
        for column, text in texts.items():
            key = (schema, table, column)
            if key not in current or current[key] == text:
                continue
            target = f"column {name}.{quote_ident(column)}" if column else f"table {name}"
            yield f"comment on {target} is {quote_literal(text)}"


def apply(con: duckdb.DuckDBPyConnection, dbt_project: Path) -> int:
    """Comment the tables of ``con`` the project's sources describe; returns how many
    comments changed."""
    n = 0
    for sql in list(statements(con, source_descriptions(dbt_project))):
        con.execute(sql)
        n += 1
    return n
