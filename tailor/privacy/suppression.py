"""Erased people stay out: raw rows and quarantined records that name an erased subject
again (a re-delivered or reloaded landing partition) are tombstoned
(:func:`enforce_suppression`, run by the nightly erase stage and by the loader right after
it loads a day), so a dbt full refresh only ever rebuilds from cleaned raw tables."""

from __future__ import annotations

import datetime as dt

import duckdb

from tailor.consent import has_table
from tailor.erased import (
    LEGACY_HASH_DOMAIN,
    Identity,
    ensure_tables,
    normalize_sql,
    tagged_hash_sql,
)
from tailor.privacy.erase_tables import QUARANTINE, REDACTED_TEXT, tombstone
from tailor.privacy.matching import (
    SOURCE_IDENTITIES,
    SOURCE_JSON_FIELDS,
    json_tags_sql,
    match_sql,
)
from tailor.sqlsafe import plain_name, quote_ident, quote_literal


def _source_tags_sql(source: str, where: str, *, legacy: bool = False) -> str:
    """SQL selecting the distinct ``tag`` (``kind|value``) of every identifier field of
    ``raw.<source>`` rows matching ``where``, normalized as :func:`~tailor.erased.normalize` (or, with
    ``legacy``, as older versions hashed them: ids only trimmed). One distinct select per
    field: on 1M events 0.3 s, where one list of all fields per row took 3 s."""

    def norm(kind: str, expr: str) -> str:
        if legacy and kind != "email":
            return f"nullif(trim({expr}), '')"
        return normalize_sql(kind, expr)

    fields = [(kind, quote_ident(col)) for kind, col in SOURCE_IDENTITIES[source]]
    for col, paths in SOURCE_JSON_FIELDS.get(source, {}).items():
        for kind, path in paths:
            # parsed only where the key occurs at all (an order id: in one event of many)
            key = quote_literal(f'"{path.rsplit(".", 1)[-1]}"')
            c = quote_ident(col)
            fields.append(
                (
                    kind,
                    f"case when contains({c}::varchar, {key}) "
                    f"then json_extract_string({c}, {quote_literal(path)}) end",
                )
            )
    return " union ".join(
        f"select {quote_literal(kind + '|')} || {norm(kind, 'v')} as tag from "
        f"(select distinct {expr} as v from raw.{plain_name(source)} where {where})"
        for kind, expr in fields
    )


def erased_in_source(
    con: duckdb.DuckDBPyConnection, source: str, where: str = "true", *, legacy: bool = True
) -> Identity:
    """The erased identifiers that occur in ``raw.<source>`` (rows matching ``where``), in
    clear: each distinct identifier value is hashed once, not each row, and a day without
    erased people costs one distinct select per identifier field."""
    found = Identity()
    queries = [(_source_tags_sql(source, where), tagged_hash_sql("tag"), "ops.erased_subjects")]
    if legacy:
        queries.append(
            (
                _source_tags_sql(source, where, legacy=True),
                f"sha256({quote_literal(LEGACY_HASH_DOMAIN + '|')} || tag)",
                "private.legacy_erased_subjects",
            )
        )
    for tags, hashed, erased in queries:
        rows = con.execute(
            f"""
            with tags as materialized ({tags}),
            hashed as (select tag, {hashed} as subject_hash from tags where tag is not null)
            select tag from hashed semi join {erased} e on e.subject_hash = hashed.subject_hash
            """
        ).fetchall()
        for (tag,) in rows:
            kind, _, value = tag.partition("|")
            found.by_kind()[kind].add(value)
    return found


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ?"
        " and table_name = ? and table_catalog = current_database() order by ordinal_position",
        [schema, table],
    ).fetchall()


def enforce_suppression(
    con: duckdb.DuckDBPyConnection, day: dt.date | None = None
) -> dict[str, int]:
    """Tombstone raw rows of erased subjects that came back (a reloaded or re-delivered
    landing partition) and strip their quarantined record text. ``day`` limits the check to
    one landing day. Runs inside the caller's transaction; returns rows per table.

    Which erased identifiers are back is found from the distinct identifier values
    (:func:`erased_in_source`); their rows are then taken as an erasure takes them
    (:func:`match_sql`: every identifier field, case-folded)."""
    ensure_tables(con)
    (n_keyed,) = con.execute("select count(*) from ops.erased_subjects").fetchone()
    (n_legacy,) = con.execute("select count(*) from private.legacy_erased_subjects").fetchone()
    if not n_keyed and not n_legacy:
        return {}
    on_day = f"_dt = {quote_literal(day.isoformat())}::date" if day is not None else "true"
    out: dict[str, int] = {}
    for source in SOURCE_IDENTITIES:
        if not has_table(con, "raw", source):
            continue
        back = erased_in_source(con, source, on_day, legacy=n_legacy > 0)
        cond = match_sql(_columns(con, "raw", source), back)
        if cond is None:
            continue
        n = tombstone(con, source, f"{cond} and {on_day}")
        if n:
            out[f"raw.{source}"] = n
    if has_table(con, *QUARANTINE):
        cond = f"record is not null and {quarantine_suppressed_sql('record')} and {on_day}"
        n = len(
            con.execute(
                f"update raw.quarantine set record = null, reason = {quote_literal(REDACTED_TEXT)} "
                f"where {cond} returning 1"
            ).fetchall()
        )
        if n:
            out["raw.quarantine"] = n
    return out


def _tags_erased_sql(tags: str) -> str:
    """SQL condition: one of a list of ``kind|value`` tags is an erased subject."""
    return (
        f"coalesce(list_has_any(list_transform({tags}, lambda t: {tagged_hash_sql('t')}), "
        "(select coalesce(list(subject_hash), []) from ops.erased_subjects)), false)"
    )


def _broken_tags_sql(expr: str) -> str:
    """SQL list of ``kind|value`` tags of a record that is not JSON (as
    :func:`~tailor.privacy.matching.broken_record_matches`): the values of its ``"key": "value"`` pairs, by key;
    and each comma/semicolon/tab-separated field, unquoted, as every kind."""
    pair = r'"([^"\\]*)"\s*:\s*"?([^",}\]]*)"?'
    key = f"regexp_replace(lower(regexp_extract(p, {quote_literal(pair)}, 1)), '[^a-z]', '', 'g')"
    kind = (
        f"case when {key} like '%email%' then 'email' "
        f"when {key} in ('customerid', 'userid', 'subjectid') then 'customer_id' "
        f"when {key} = 'anonymousid' then 'anonymous_id' "
        f"when {key} = 'orderid' then 'order_id' end"
    )
    value = f"nullif(lower(trim(regexp_extract(p, {quote_literal(pair)}, 2))), '')"
    pairs = (
        f"list_transform(regexp_extract_all({expr}, {quote_literal(pair)}), "
        f"lambda p: ({kind}) || '|' || {value})"
    )
    kinds = "['customer_id|', 'email|', 'anonymous_id|', 'order_id|']"
    fields = (
        f"flatten(list_transform(string_split_regex({expr}, '[,;\\t\\n]'), "
        f"lambda f: list_transform({kinds}, lambda k: k || nullif(lower(trim(f, ' \"''')), ''))))"
    )
    return f"list_concat({pairs}, {fields})"


def quarantine_suppressed_sql(expr: str) -> str:
    """SQL condition on the text of a quarantined record: parsed as JSON, one of its
    identifier keys (:data:`~tailor.privacy.matching.JSON_ID_PATHS`) names an erased subject; a record that is not
    JSON (a broken line) is read as ``"key": "value"`` pairs and CSV fields."""
    parsed = f"try(json({expr}))"
    tags = (
        f"(case when {parsed} is not null then {json_tags_sql(parsed)} "
        f"else {_broken_tags_sql(expr)} end)"
    )
    legacy = (
        f"coalesce(list_has_any(list_transform({tags}, lambda t: sha256("
        f"{quote_literal(LEGACY_HASH_DOMAIN + '|')} || t)), (select coalesce(list(subject_hash), []) "
        f"from private.legacy_erased_subjects)), false)"
    )
    return f"({_tags_erased_sql(tags)} or {legacy})"
