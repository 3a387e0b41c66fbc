"""The dbt project stays portable: no DuckDB-only SQL outside adapter-dispatched macros.

The same models build on DuckDB and on Spark (tailor.engines). SQL that only one engine
knows belongs in a ``<adapter>__<name>`` macro behind ``adapter.dispatch`` (most of them in
``dbt_project/macros/cross_db.sql``). This test reads every model, macro, data test and
unit-test fixture, drops what is not SQL (Jinja blocks and comments, string literals,
the bodies of dispatched implementations) and looks for the DuckDB dialect Spark SQL
lacks or reads differently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"

# (what, pattern): DuckDB SQL that Spark SQL lacks or reads differently.
DUCKDB_ONLY: tuple[tuple[str, str], ...] = (
    ("arg_max/arg_min (Spark: max_by/min_by; dispatch it)", r"\barg_(max|min)(_null)?\s*\("),
    ("struct literal {'k': v} (Spark: struct(...))", r"\{\s*'[^']*'\s*:"),
    ("struct_pack/struct_extract", r"\bstruct_(pack|extract|insert)\s*\("),
    ("list functions (list_*, list())", r"\blist(_[a-z_]+)?\s*\("),
    ("a :: cast (Spark: cast(x as t))", r"::"),
    ("epoch / epoch_ms", r"\bepoch(_ms|_us|_ns)?\s*\("),
    ("strftime / strptime (Spark: date_format / to_timestamp)", r"\bstr[fp]time\s*\("),
    ("regexp_full_match / regexp_matches (Spark: rlike)", r"\bregexp_(full_match|matches)\s*\("),
    (
        "DuckDB JSON functions (Spark: get_json_object)",
        r"\bjson_(extract(_string|_path)?|type|valid|transform|keys|structure)\s*\(",
    ),
    ("json / ->> operators", r"->>?"),
    ("* exclude / * replace (Spark: * except)", r"\*\s*(exclude|replace)\s*\("),
    ("COLUMNS(...)", r"\bcolumns\s*\("),
    ("unnest / generate_series (Spark: explode(sequence()))", r"\b(unnest|generate_series)\s*\("),
    (
        "date_diff / date_sub / datediff('part', ...) (use dbt.datediff)",
        r"\bdate_(diff|sub|add)\s*\(|\bdatediff\s*\(\s*'",
    ),
    (
        "string_agg / string_split / str_split",
        r"\b(string_agg|string_split|str_split|string_to_array)\s*\(",
    ),
    (
        "time zone functions (timezone(), pg_timezone_names, at time zone)",
        r"\b(timezone|pg_timezone_names)\s*\(|\bat\s+time\s+zone\b",
    ),
    ("try(...) (Spark: try_cast / try_* functions)", r"\btry\s*\("),
    ("hash() differs between engines (use dbt.hash)", r"\bhash\s*\("),
    ("starts_with / suffix / prefix", r"\b(starts_with|suffix|prefix)\s*\("),
    ("DuckDB-only types", r"\b(hugeint|ubigint|uinteger|usmallint|utinyint|timestamptz|varchar)\b"),
    ("timestamp with time zone", r"\btimestamp\s+with\s+time\s+zone\b"),
    ("1-based list indexing x[1] (Spark arrays are 0-based)", r"[\w)\]]\s*\[\s*\d+\s*\]"),
    (
        "a double-quoted identifier (a string on Spark; use adapter.quote)",
        r'"[A-Za-z_][A-Za-z0-9_]*"',
    ),
    ("regex operator ~ (Spark: rlike)", r"\s!?~\*?\s"),
    ("QUALIFY (not in Spark 4 SQL)", r"\bqualify\b"),
)

# Jinja comments, statements and expressions; SQL comments; string literals.
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRING = re.compile(r"'(?:[^']|'')*'")
# A dispatched implementation: {% macro duckdb__name(...) %} ... {% endmacro %}.
_DISPATCHED = re.compile(
    r"\{%-?\s*macro\s+[a-z]+__\w+\s*\(.*?\{%-?\s*endmacro\s*-?%\}", re.S | re.I
)


def sql_of(text: str) -> str:
    """The SQL of a project file: dispatched macro bodies, Jinja, comments and string
    literals blanked (newlines kept, so line numbers stay right)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = _JINJA_COMMENT.sub(blank, text)
    return _DISPATCHED.sub(blank, text)


def findings_in(text: str) -> list[tuple[int, str]]:
    """(line, what) for each DuckDB-only construct in a project file's text."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = sql_of(text)
    text = _JINJA.sub(blank, text)
    text = _SQL_COMMENT.sub(blank, text)
    found = []
    struct_what, struct_pattern = DUCKDB_ONLY[1]
    for m in re.finditer(struct_pattern, text):
        found.append((text.count("\n", 0, m.start()) + 1, struct_what))
    text = _STRING.sub(blank, text)
    for what, pattern in DUCKDB_ONLY:
        if pattern == struct_pattern:
            continue
        for m in re.finditer(pattern, text, re.I):
            found.append((text.count("\n", 0, m.start()) + 1, what))
    return sorted(found)


def _yaml_sql(path: Path) -> list[str]:
    """The SQL a yml file holds: unit-test fixtures (format: sql), data types of
    contracts and seed column types."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: list[str] = []

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            if node.get("format") == "sql" and isinstance(node.get("rows"), str):
                out.append(node["rows"])
            for k, v in node.items():
                k = str(k).lstrip("+")
                if (k == "data_type" or key == "column_types") and isinstance(v, str):
                    out.append(f"cast(x as {v})")
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)

    walk(doc)
    return out


def project_findings(project: Path) -> list[str]:
    """Every DuckDB-only construct outside dispatched macros, as 'file:line: what'."""
    found = []
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if rel.parts[0] in ("target", "logs", "dbt_packages") or not path.is_file():
            continue
        if path.suffix == ".sql":
            texts = [path.read_text(encoding="utf-8")]
        elif path.suffix in (".yml", ".yaml") and rel.name != "profiles.yml":
            texts = _yaml_sql(path)
        else:
            continue
        for text in texts:
            for line, what in findings_in(text):
                found.append(f"{rel}:{line}: {what}" if path.suffix == ".sql" else f"{rel}: {what}")
    return found


def test_no_duckdb_only_sql_outside_dispatched_macros():
    found = project_findings(PROJECT)
    assert not found, "DuckDB-only SQL outside a dispatched macro:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "sql",
    [
        "select arg_max(customer_id, {'at': event_at, 'id': message_id}) from t",
        "select x::varchar from t",
        "select * exclude (a) from t",
        "select strftime(ts, '%Y') from t",
        "select list_sort(xs)[1] from t",
        "select json_extract_string(doc, '$.a') from t",
        "select unnest(generate_series(1, n)) from t",
        "select cast(x as varchar) from t",
    ],
)
def test_finds_duckdb_only_sql(sql):
    assert findings_in(sql)


@pytest.mark.parametrize(
    "sql",
    [
        # dispatched implementations may use their engine's dialect
        "{% macro duckdb__first(a, b) -%}\n arg_max({{ a }}, {'k': {{ b }}})\n{%- endmacro %}",
        # text inside strings, Jinja and comments is not SQL
        "select 'a :: b {''k'': 1}' as note -- arg_max(x, y)\n{# list_sort() #}",
        "{{ config(materialized='table', meta={'a': 1}) }}\nselect {{ tailor.star_except('t', ['a']) }} from t",
        "select max_by(a, struct(b, c)), cast(x as string), get_json_object(d, '$.a') from t",
    ],
)
def test_portable_sql_passes(sql):
    assert findings_in(sql) == []
