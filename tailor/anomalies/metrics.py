"""The nightly metric series: ``ops.metrics``, one value per run day, metric and dimension.

Input metrics describe what arrived: they are computed from the day's raw partitions
(``_dt`` = the run day) and, for sessions, from ``marts.sessions`` (sessions that started
on the day), so a day's value can be recomputed for any range of loaded days in one pass
(``compute_inputs(con, start, end)``). Output metrics describe what the night produced
(recommendation coverage, audience sizes per destination): they exist only as of the run
day, so they are computed for that day only, after the ML and audience stages.

Every metric is written with ``dimension`` = ``all`` / ``dimension_value`` = ``all`` for
its total and once per value of each of its dimensions. Writing a day replaces that day's
rows of the metrics written (delete + insert), so a rerun gives the same table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from tailor.settings import Settings
from tailor.sources import CONSENT_PURPOSES

METRICS_TABLE = "ops.metrics"
METRICS_DDL = """
create table if not exists ops.metrics (
    run_date date not null,          -- the logical day (for input metrics: the landing partition)
    metric varchar not null,         -- see tailor.anomalies.metrics.METRICS
    dimension varchar not null,      -- all | source | type | event | device | country | channel | currency | reason | purpose | audience | destination
    dimension_value varchar not null,
    value double,                    -- null when undefined (a rate over nothing)
    denominator double               -- rates: what the share is of (events, rows read, sessions); null for counts
)
"""
ALL = "all"


@dataclass(frozen=True)
class Metric:
    kind: str  # count | rate | amount
    stage: str  # input (raw, marts) | output (ML, audiences)
    description: str


METRICS: dict[str, Metric] = {
    "events": Metric(
        "count", "input", "events loaded (all, per type, track event, device, country)"
    ),
    "identified_share": Metric("rate", "input", "share of events that carry a userId"),
    "rows_loaded": Metric("count", "input", "records loaded per source"),
    "quarantine_rate": Metric("rate", "input", "quarantined / read, per source:reason"),
    "new_customers": Metric("count", "input", "CRM customers created on the day"),
    "orders": Metric("count", "input", "orders placed on the day (per channel, country)"),
    "revenue": Metric("amount", "input", "order totals placed on the day, per currency"),
    "sessions": Metric("count", "input", "sessions started on the day (per device, channel)"),
    "conversion_rate": Metric("rate", "input", "share of the day's sessions with an order"),
    "cart_abandonment": Metric("rate", "input", "share of sessions with a cart add and no order"),
    "consent_grants": Metric("count", "input", "consent records granting, per purpose"),
    "consent_withdrawals": Metric("count", "input", "consent records refusing, per purpose"),
    "recommendation_coverage": Metric("rate", "output", "share of customers with recommendations"),
    "audience_size": Metric("count", "output", "exportable members per audience and destination"),
}
INPUT_METRICS = tuple(m for m, d in METRICS.items() if d.stage == "input")
OUTPUT_METRICS = tuple(m for m, d in METRICS.items() if d.stage == "output")

Row = tuple[dt.date, str, str, str, float | None, float | None]

# one union arm per (metric, dimension): every source's SQL below has this shape
_EVENTS_SQL = """
with e as (
    select
        _dt as run_date,
        coalesce(type, 'unknown') as type,
        coalesce(event, 'unknown') as event_name,
        coalesce(json_extract_string(context, '$.device.type'), 'unknown') as device,
        coalesce(
            nullif(upper(split_part(json_extract_string(context, '$.locale'), '-', 2)), ''),
            'unknown'
        ) as country,
        case when coalesce(user_id, '') <> '' then 1.0 else 0.0 end as identified
    from raw.events
    where _dt between ? and ?
)
select run_date, 'events', 'all', 'all', count(*), null from e group by 1
union all select run_date, 'events', 'type', type, count(*), null from e group by 1, 4
union all
select run_date, 'events', 'event', event_name, count(*), null from e where type = 'track'
group by 1, 4
union all select run_date, 'events', 'device', device, count(*), null from e group by 1, 4
union all select run_date, 'events', 'country', country, count(*), null from e group by 1, 4
union all
select run_date, 'identified_share', 'all', 'all', avg(identified), count(*) from e group by 1
union all
select run_date, 'identified_share', 'device', device, avg(identified), count(*) from e
group by 1, 4
"""

_LOADS_SQL = """
with reads as (
    select _dt as run_date, source, sum(rows_read) as n_read, sum(rows_loaded) as n_loaded
    from raw.load_log
    where _dt between ? and ?
    group by 1, 2
),
quarantined as (
    select _dt as run_date, source, reason_code, count(*) as n
    from raw.quarantine
    where _dt between ? and ?
    group by 1, 2, 3
),
reasons as (
    select unnest(?::varchar[]) as reason_code
    union
    select distinct reason_code from quarantined
)
select run_date, 'rows_loaded', 'source', source, n_loaded, null from reads
union all
select
    reads.run_date,
    'quarantine_rate',
    'reason',
    reads.source || ':' || reasons.reason_code,
    coalesce(quarantined.n, 0) / nullif(reads.n_read, 0),
    reads.n_read
from reads
cross join reasons
left join quarantined
    on quarantined.run_date = reads.run_date
    and quarantined.source = reads.source
    and quarantined.reason_code = reasons.reason_code
"""

_CUSTOMERS_SQL = """
with c as (
    select _dt as run_date, customer_id, any_value(coalesce(country, 'unknown')) as country
    from raw.customers
    where _dt between ? and ?
        and cast(timezone('UTC', try_cast(created_at as timestamptz)) as date) = _dt
    group by 1, 2
)
select run_date, 'new_customers', 'all', 'all', count(*), null from c group by 1
union all
select run_date, 'new_customers', 'country', country, count(*), null from c group by 1, 4
"""

_ORDERS_SQL = """
with o as (
    select
        _dt as run_date,
        order_id,
        any_value(coalesce(channel, 'unknown')) as channel,
        any_value(coalesce(country, 'unknown')) as country,
        any_value(coalesce(currency, 'unknown')) as currency,
        any_value(total) as total
    from raw.orders
    where _dt between ? and ?
        and cast(timezone('UTC', try_cast(ordered_at as timestamptz)) as date) = _dt
    group by 1, 2
)
select run_date, 'orders', 'all', 'all', count(*), null from o group by 1
union all select run_date, 'orders', 'channel', channel, count(*), null from o group by 1, 4
union all select run_date, 'orders', 'country', country, count(*), null from o group by 1, 4
union all
select run_date, 'revenue', 'currency', currency, sum(total)::double, null from o group by 1, 4
"""

_CONSENTS_SQL = """
with c as (
    select _dt as run_date, coalesce(purpose, 'unknown') as purpose, granted
    from raw.consents
    where _dt between ? and ? and granted is not null
)
select run_date, case when granted then 'consent_grants' else 'consent_withdrawals' end,
    'purpose', purpose, count(*), null
from c group by all
"""

# the same union arms as _EVENTS_SQL, per session (metric, dimension) instead of per event
_SESSIONS_SQL = """
with s as (
    select
        session_date as run_date,
        coalesce(device_type, 'unknown') as device,
        coalesce(traffic_source, 'direct') as channel,
        case when is_converted then 1.0 else 0.0 end as converted,
        cart_adds > 0 as has_cart
    from marts.sessions
    where session_date between ? and ?
)
select run_date, 'sessions', 'all', 'all', count(*), null from s group by 1
union all select run_date, 'sessions', 'device', device, count(*), null from s group by 1, 4
union all select run_date, 'sessions', 'channel', channel, count(*), null from s group by 1, 4
union all
select run_date, 'conversion_rate', 'all', 'all', avg(converted), count(*) from s group by 1
union all
select run_date, 'conversion_rate', 'device', device, avg(converted), count(*) from s
group by 1, 4
union all
select run_date, 'cart_abandonment', 'all', 'all', 1 - avg(converted), count(*) from s
where has_cart
group by 1
"""


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """ops.metrics (described in dbt_project/models/_warehouse__sources.yml)."""
    con.execute("create schema if not exists ops")
    con.execute(METRICS_DDL)


def _has(con: duckdb.DuckDBPyConnection, *tables: str) -> bool:
    names = {
        f"{s}.{t}"
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_catalog = current_database()"
        ).fetchall()
    }
    return all(t in names for t in tables)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[Row]:
    return [
        (d, m, dim, str(v), _float(x), _float(n))
        for d, m, dim, v, x, n in con.execute(sql, params).fetchall()
    ]


def _float(x: object) -> float | None:
    return None if x is None else float(x)


def _consent_zeros(rows: list[Row], days: Iterable[dt.date]) -> list[Row]:
    """A purpose with no grant (or no withdrawal) on a day counts 0, not nothing."""
    have = {(d, m, v) for d, m, _, v, _, _ in rows}
    zeros = [
        (d, m, "purpose", p, 0.0, None)
        for d in days
        for m in ("consent_grants", "consent_withdrawals")
        for p in CONSENT_PURPOSES
        if (d, m, p) not in have
    ]
    out = rows + zeros
    totals: dict[tuple[dt.date, str], float] = {}
    for d, m, _, _, v, _ in out:
        totals[(d, m)] = totals.get((d, m), 0.0) + (v or 0.0)
    return out + [(d, m, ALL, ALL, v, None) for (d, m), v in totals.items()]


def loaded_days(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> list[dt.date]:
    """The days in [start, end] with a load recorded in raw.load_log."""
    if not _has(con, "raw.load_log"):
        return []
    return [
        d
        for (d,) in con.execute(
            "select distinct _dt from raw.load_log where _dt between ? and ? order by 1",
            [start, end],
        ).fetchall()
    ]


def compute_inputs(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> list[Row]:
    """The input metrics of every loaded day in [start, end], from raw.* and marts.sessions."""
    from tailor.ingest import REASON_CODES

    days = loaded_days(con, start, end)
    if not days:
        return []
    rows: list[Row] = []
    if _has(con, "raw.events"):
        rows += _fetch(con, _EVENTS_SQL, [start, end])
    if _has(con, "raw.load_log", "raw.quarantine"):
        rows += _fetch(con, _LOADS_SQL, [start, end, start, end, list(REASON_CODES)])
    if _has(con, "raw.customers"):
        rows += _fetch(con, _CUSTOMERS_SQL, [start, end])
    if _has(con, "raw.orders"):
        rows += _fetch(con, _ORDERS_SQL, [start, end])
    if _has(con, "raw.consents"):
        rows += _consent_zeros(_fetch(con, _CONSENTS_SQL, [start, end]), days)
    if _has(con, "marts.sessions"):
        rows += [r for r in _fetch(con, _SESSIONS_SQL, [start, end]) if r[0] in set(days)]
    return rows


def compute_outputs(
    con: duckdb.DuckDBPyConnection, day: dt.date, settings: Settings | None = None
) -> list[Row]:
    """The output metrics as of ``day``: the ML and audience tables as they are now."""
    rows: list[Row] = []
    if _has(con, "ml.recommendations", "marts.customers"):
        covered, customers = con.execute(
            "select (select count(distinct customer_id) from ml.recommendations),"
            " (select count(*) from marts.customers)"
        ).fetchone()
        share = covered / customers if customers else None
        rows.append((day, "recommendation_coverage", ALL, ALL, share, float(customers)))
    if _has(con, "marts.audiences"):
        sizes = dict(
            con.execute(
                "select audience_id, count(*) from marts.audiences where not is_control"
                " group by 1 order by 1"
            ).fetchall()
        )
        rows += [
            (day, "audience_size", "audience", str(a), float(n), None) for a, n in sizes.items()
        ]
        for name, audience in _destinations(settings):
            size = float(sizes.get(audience, 0))
            rows.append((day, "audience_size", "destination", name, size, None))
    return rows


def _destinations(settings: Settings | None) -> list[tuple[str, str]]:
    """(destination, audience) of every enabled destination; none if the file is missing or
    invalid (the export stage reports that itself)."""
    if settings is None:
        return []
    from tailor.exports.config import ConfigError, destinations_path, load_config

    try:
        cfg = load_config(destinations_path(settings))
    except (ConfigError, OSError):
        return []
    return [(d.name, d.audience) for d in cfg.destinations if d.enabled]


def write(
    con: duckdb.DuckDBPyConnection,
    rows: list[Row],
    days: Iterable[dt.date],
    metrics: Iterable[str],
) -> int:
    """Replace the rows of ``metrics`` on ``days`` with ``rows`` (one transaction)."""
    ensure_table(con)
    days, metrics = sorted(set(days)), sorted(set(metrics))
    con.execute("begin")
    try:
        con.execute(
            f"delete from {METRICS_TABLE} where run_date in (select unnest(?::date[]))"
            " and metric in (select unnest(?::varchar[]))",
            [days, metrics],
        )
        if rows:
            con.register("_metric_rows", _arrow(rows))
            con.execute(f"insert into {METRICS_TABLE} select * from _metric_rows")
            con.unregister("_metric_rows")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)


def _arrow(rows: list[Row]):
    import pyarrow as pa

    cols = list(zip(*rows, strict=True))
    return pa.table(
        {
            "run_date": pa.array(cols[0], pa.date32()),
            "metric": pa.array(cols[1], pa.string()),
            "dimension": pa.array(cols[2], pa.string()),
            "dimension_value": pa.array(cols[3], pa.string()),
            "value": pa.array(cols[4], pa.float64()),
            "denominator": pa.array(cols[5], pa.float64()),
        }
    )


def read_rows(con: duckdb.DuckDBPyConnection, days: Iterable[dt.date]) -> list[Row]:
    """The rows of ``ops.metrics`` on the given days (none if the table is missing)."""
    if not _has(con, METRICS_TABLE):
        return []
    return con.execute(
        f"select * from {METRICS_TABLE} where run_date in (select unnest(?::date[]))",
        [sorted(set(days))],
    ).fetchall()
