"""Who may be contacted for a purpose, as of a day: consent that fails closed.

:func:`consented_customers_sql` gives the customers whose current consent for a purpose is
a grant. It reads the consent records itself, loaded (``raw.consents``) and quarantined
(``raw.quarantine`` rows of source ``consents``), so the export gate does not depend on a
dbt build having run for that day. ``int_consents_resolved`` (dbt) applies the same rule,
so ``marts.customers`` and the exports agree.

The rule, for one subject and purpose, as of day D:

* A record counts once it was delivered (landing partition on or before D). A
  *withdrawal* then counts whatever its timestamp (one stamped after D's end still
  counts); a *grant* counts only once its timestamp is before D's end.
* ``granted`` is read the way people write booleans: true / yes / 1 / granted (and t, y)
  grant; false / no / 0 / withdrawn / revoked / denied (and f, n) withdraw.
* The latest version of a consent record (by ``consent_id``, latest delivery) replaces
  the older ones, whether it was loaded or quarantined.
* Among the records that count, the latest timestamp wins; on a tie a withdrawal wins.
* A record that cannot be read (any other ``granted`` value, a timestamp that does not
  parse, a withdrawal without a known purpose, or a quarantined line that is not even JSON
  but still names its subject) counts as a withdrawal - for its purpose, or for every
  purpose when the purpose cannot be read - until a readable grant for that purpose
  arrives in a later delivery.
* A grant that was quarantined but reads clearly (a JSON object with its id, subject, a
  known purpose, a grant spelling and a timestamp) counts like a loaded one.

:func:`consented_customers_sql` with ``latest_day`` keeps only the customers who are also
consented as of the latest data (an export replaying an older day never re-adds someone
who withdrew since).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from tailor.sources import CONSENT_PURPOSES
from tailor.sqlsafe import plain_name, quote_literal

# Spellings of ``granted`` (lower-cased, trimmed). Anything else is unreadable.
GRANT_WORDS = ("true", "t", "yes", "y", "1", "granted")
WITHDRAW_WORDS = ("false", "f", "no", "n", "0", "withdrawn", "revoked", "denied")
# The quarantine has no delivery day for an adapter's records: they count as the oldest.
NO_DAY = dt.date(1970, 1, 1)


def utc_timestamp_sql(expr: str) -> str:
    """ISO-8601 text as a UTC timestamp (mirrors the dbt macro ``to_utc_timestamp``)."""
    return f"""(case
        when regexp_matches(trim({expr}), '[0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)?\\s*([zZ]|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')
            then timezone('UTC', try_cast(trim({expr}) as timestamptz))
        else try_cast(trim({expr}) as timestamp)
    end)"""


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(quote_literal(v) for v in values) + ")"


def granted_state_sql(expr: str) -> str:
    """'granted' | 'withdrawn' | null (unreadable) for a ``granted`` value as text."""
    text = f"lower(trim(cast({expr} as varchar)))"
    return (
        f"(case when {text} in {_in(GRANT_WORDS)} then 'granted'"
        f" when {text} in {_in(WITHDRAW_WORDS)} then 'withdrawn' end)"
    )


def purpose_sql(expr: str) -> str:
    """The purpose as one of ``CONSENT_PURPOSES`` (case, blanks and dashes forgiven), else null."""
    text = f"replace(replace(lower(trim({expr})), '-', '_'), ' ', '_')"
    return f"(case when {text} in {_in(CONSENT_PURPOSES)} then {text} end)"


def record_field_sql(field: str) -> str:
    """A field of a quarantined record's text: from the JSON object when the line parses,
    else recovered from the text (``"field": "value"``), so a broken line still names its
    subject."""
    name = plain_name(field)
    pattern = quote_literal(f'"{name}"\\s*:\\s*"?([^",}}]*)')
    return (
        "nullif(nullif(trim(case when json_valid(record)"
        f" then json_extract_string(record, {quote_literal('$.' + name)})"
        f" else regexp_extract(record, {pattern}, 1) end), ''), 'null')"
    )


# mirrors int_consents_resolved.sql: the rule in Python for the export gate; a test compares both
def consent_records_sql(day: dt.date, *, quarantine: bool = True) -> str:
    """One row per current version of every consent record delivered by ``day``:
    customer_id, purpose (null: unreadable), kind (grant | withdrawal | unreadable |
    ignored), consented_at, arrived_date, consent_id."""
    by = quote_literal(day.isoformat())
    no_day = quote_literal(NO_DAY.isoformat())
    loaded = f"""
            select
                nullif(trim(consent_id), '') as consent_id,
                nullif(trim(subject_id), '') as customer_id,
                {purpose_sql("purpose")} as purpose,
                {granted_state_sql("granted")} as granted_state,
                {utc_timestamp_sql("consented_at")} as consented_at,
                coalesce(_dt, date {no_day}) as arrived_date,
                _source_file as source_file,
                _line as source_line,
                true as is_parsed
            from raw.consents
            where _dt <= date {by} or _dt is null"""
    quarantined = f"""
            union all
            select
                {record_field_sql("consent_id")},
                coalesce({record_field_sql("subject_id")}, {record_field_sql("customer_id")}),
                {purpose_sql(record_field_sql("purpose"))},
                {granted_state_sql(record_field_sql("granted"))},
                {utc_timestamp_sql(record_field_sql("consented_at"))},
                coalesce(_dt, date {no_day}),
                source_file,
                line,
                coalesce(json_type(try(json(record))) = 'OBJECT', false)
            from raw.quarantine
            where source = 'consents' and record is not null
                and (_dt <= date {by} or _dt is null)"""
    # the versions and kinds below are int_consents_resolved.sql's, in the same words
    return f"""
        with delivered as ({loaded}{quarantined if quarantine else ""}
        ),
        versions as (
            select
                *,
                row_number() over (
                    partition by coalesce(consent_id, source_file || ':' || source_line)
                    order by arrived_date desc, source_file desc, source_line desc
                ) as version_rank
            from delivered
        )
        select
            customer_id,
            purpose,
            case
                when granted_state = 'granted' and purpose is null then 'ignored'
                when granted_state = 'granted' and is_parsed and consent_id is not null
                    and consented_at is not null then 'grant'
                when granted_state = 'withdrawn' and purpose is not null
                    and consented_at is not null then 'withdrawal'
                else 'unreadable'
            end as kind,
            consented_at,
            arrived_date,
            consent_id
        from versions
        where version_rank = 1 and customer_id is not null
    """


def _consented_sql(purpose: str, day: dt.date, quarantine: bool) -> str:
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return f"""
        with records as ({consent_records_sql(day, quarantine=quarantine)}),
        counted as (
            select *
            from records
            where purpose = {quote_literal(purpose)}
                and (kind = 'withdrawal'
                     or (kind = 'grant' and consented_at < timestamp {quote_literal(end.isoformat(sep=" "))}))
        ),
        latest as (
            select
                customer_id,
                kind,
                row_number() over (
                    partition by customer_id
                    order by consented_at desc, case when kind = 'grant' then 1 else 0 end, consent_id desc
                ) as recency_rank
            from counted
        ),
        blocked as (
            select customer_id, max(arrived_date) as blocked_through
            from records
            where kind = 'unreadable' and (purpose = {quote_literal(purpose)} or purpose is null)
            group by customer_id
        ),
        regranted as (
            select customer_id, max(arrived_date) as granted_through
            from counted
            where kind = 'grant'
            group by customer_id
        )
        select latest.customer_id
        from latest
        left join blocked on blocked.customer_id = latest.customer_id
        left join regranted on regranted.customer_id = latest.customer_id
        where latest.recency_rank = 1 and latest.kind = 'grant'
            and (blocked.blocked_through is null or regranted.granted_through > blocked.blocked_through)
    """


def consented_customers_sql(
    purpose: str,
    day: dt.date,
    *,
    latest_day: dt.date | None = None,
    quarantine: bool = True,
) -> str:
    """SQL selecting ``customer_id`` of everyone whose current consent for ``purpose`` is a
    grant at the end of ``day`` (the module docstring has the rule). With ``latest_day``
    after ``day``, only those still consented as of ``latest_day`` too."""
    if purpose not in CONSENT_PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}")
    sql = _consented_sql(purpose, day, quarantine)
    if latest_day is not None and latest_day > day:
        later = _consented_sql(purpose, latest_day, quarantine)
        sql = f"select customer_id from ({sql}) intersect select customer_id from ({later})"
    return sql


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    (n,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        " and table_catalog = current_database()",
        [schema, table],
    ).fetchone()
    return n > 0


def latest_consent_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The latest landing day that delivered consent records (loaded or quarantined)."""
    parts = []
    if has_table(con, "raw", "consents"):
        parts.append("select max(_dt) as d from raw.consents")
    if has_table(con, "raw", "quarantine"):
        parts.append("select max(_dt) as d from raw.quarantine where source = 'consents'")
    if not parts:
        return None
    (d,) = con.execute(f"select max(d) from ({' union all '.join(parts)})").fetchone()
    return d


def consented_customers(
    con: duckdb.DuckDBPyConnection,
    purpose: str,
    day: dt.date,
    *,
    latest_day: dt.date | None = None,
) -> set[str]:
    if not has_table(con, "raw", "consents"):
        return set()
    sql = consented_customers_sql(
        purpose, day, latest_day=latest_day, quarantine=has_table(con, "raw", "quarantine")
    )
    return {r[0] for r in con.execute(sql).fetchall()}
