"""The identifiers in the JSON columns of ``raw.events``, indexed for erasure.

Finding the events whose JSON names a person (an email in the identify traits, a
customer id in the properties, ...) means reading the text of every event ever loaded:
at 10M events, 9 s of a night with an erasure request, growing with the history. This
index holds, for every event that has any, the ``kind|value`` tags
(:func:`tailor.privacy.matching.json_tags_sql`, the same expression the scan evaluates)
of its JSON columns, so that erasure looks the person's tags up instead.

It is built lazily, by the erasure that needs it, one load batch at a time: a batch is
indexed once (``private.event_identifier_batches``), and a partition reloaded since (its
rows now carry another batch id) is indexed again and its old entries dropped. A night
without a request pays nothing. The ``private`` schema is never published. Erasure removes
the entries of the events it erases and every entry naming the people erased, so the
index never holds an identifier the events no longer hold.
"""

from __future__ import annotations

import duckdb

from tailor.consent import has_table
from tailor.privacy.matching import as_json, json_tags_sql
from tailor.sqlsafe import quote_ident

EVENTS = "raw.events"
TAGS = "private.event_identifier_tags"
BATCHES = "private.event_identifier_batches"
# an event's identity in raw.events (rowids change when a partition is reloaded)
KEY = "_batch_id, _source_file, _line"


def _create(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists private")
    con.execute(
        f"create table if not exists {TAGS} "
        "(_batch_id varchar, _source_file varchar, _line bigint, tag varchar)"
    )
    con.execute(f"create table if not exists {BATCHES} (_batch_id varchar, columns varchar)")


def refresh(con: duckdb.DuckDBPyConnection, json_columns: list[tuple[str, str]]) -> int:
    """Index the batches of ``raw.events`` not indexed yet (for these JSON columns), and
    forget the batches no longer loaded; returns the events indexed now."""
    _create(con)
    signature = ",".join(sorted(name.lower() for name, _ in json_columns))
    # batches indexed for another set of columns (the raw table changed) are indexed again
    con.execute(f"delete from {BATCHES} where columns <> ?", [signature])
    con.execute(
        f"delete from {BATCHES} where _batch_id not in (select distinct _batch_id from {EVENTS})"
    )
    con.execute(f"delete from {TAGS} where _batch_id not in (select _batch_id from {BATCHES})")
    new = [
        b
        for (b,) in con.execute(
            f"select distinct _batch_id from {EVENTS} "
            f"where _batch_id not in (select _batch_id from {BATCHES}) order by 1"
        ).fetchall()
    ]
    if not new:
        return 0
    if json_columns:
        tags = " || ".join(
            f"coalesce({json_tags_sql(as_json(quote_ident(name), data_type))}, [])"
            for name, data_type in json_columns
        )
        con.execute(
            f"""
            insert into {TAGS}
            select {KEY}, tag
            from (
                select {KEY}, unnest(list_distinct(list_filter({tags}, lambda t: t is not null))) as tag
                from {EVENTS}
                where _batch_id in (select unnest($new))
            )
            """,
            {"new": new},
        )
    con.execute(
        f"insert into {BATCHES} select unnest($new), $signature",
        {"new": new, "signature": signature},
    )
    (n,) = con.execute(
        f"select count(*) from {EVENTS} where _batch_id in (select unnest($new))", {"new": new}
    ).fetchone()
    return n


def refresh_events(con: duckdb.DuckDBPyConnection) -> bool:
    """:func:`refresh` for the JSON columns ``raw.events`` has now (what erasure's scan
    of the table indexes); False when it has none."""
    from tailor.privacy.matching import column_role

    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'raw' "
        "and table_name = 'events'"
    ).fetchall()
    json_columns = [(c, t) for c, t in columns if column_role(c, t) == "json"]
    if not json_columns:
        return False
    refresh(con, json_columns)
    return True


def naming_sql(tags_sql: str) -> str:
    """SQL condition on ``raw.events`` rows: a JSON column names one of the tags that the
    query ``tags_sql`` returns (the index must be :func:`refresh`-ed)."""
    return f"({KEY}) in (select {KEY} from {TAGS} where tag in ({tags_sql}))"


def forget(con: duckdb.DuckDBPyConnection, rows_sql: str, tags_sql: str) -> None:
    """Drop the entries of the events ``rows_sql`` (a condition on ``raw.events``, run
    before they are removed) and every entry of the tags ``tags_sql`` returns."""
    if not has_table(con, "private", "event_identifier_tags"):
        return
    con.execute(
        f"delete from {TAGS} where ({KEY}) in (select {KEY} from {EVENTS} where {rows_sql})"
    )
    con.execute(f"delete from {TAGS} where tag in ({tags_sql})")
