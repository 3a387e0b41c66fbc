"""Who a request names: every identifier of a person (:func:`resolve_identity`), of a
night's people together (:func:`resolve_identities`: the event history read once)."""

from __future__ import annotations

from typing import Any

import duckdb

from tailor import shared_devices
from tailor.consent import has_table
from tailor.erased import Identity, normalize
from tailor.privacy import event_index


def resolve_identity(
    con: duckdb.DuckDBPyConnection,
    customer_id: str | None = None,
    email: str | None = None,
) -> Identity:
    """Every identifier of the person named by a customer id and/or an email (ids and
    emails compared case-folded):

    * customers: the given id, and every CRM record that ever carried the email;
    * emails: the given one, and every email those records ever had;
    * anonymous ids: those whose events carry one of the customer ids as userId or one of
      the emails as identify trait, and nothing pointing at anybody else;
    * on a device shared with another customer (its id is kept), the person's anonymous
      events, by message id, as :mod:`tailor.shared_devices` decides and reports;
    * orders: the customers' orders.
    """
    return resolve_identities(con, [(customer_id, email)])[0]


def resolve_identities(
    con: duckdb.DuckDBPyConnection,
    named: list[tuple[str | None, str | None]],
    *,
    indexed: bool = False,
) -> list[Identity]:
    """:func:`resolve_identity` for several people (customer id, email) at once: the event
    history is read once for all of them (:data:`DEVICE_EVENTS`), each person's devices
    are then judged on the few events of the devices that name anyone of them.
    ``indexed`` (a connection that may write): the events whose identify traits name an
    email are looked up in the identifier index (:mod:`tailor.privacy.event_index`,
    refreshed first) instead of read."""
    idents = [_customer_identity(con, customer_id, email) for customer_id, email in named]
    if not has_table(con, "raw", "events"):
        return idents
    _device_events(con, idents, indexed=indexed)
    try:
        for ident in idents:
            ident.anonymous_ids |= _values(
                con,
                f"""
                with ev as (
                    select
                        nullif(trim(anonymous_id), '') as a,
                        nullif(lower(trim(user_id)), '') as u,
                        {EVENT_EMAIL_SQL} as e
                    from {DEVICE_EVENTS}
                    where nullif(trim(anonymous_id), '') is not null
                ),
                linked as (
                    select distinct a from ev
                    where u in (select unnest($ids)) or e in (select unnest($emails))
                )
                select a from ev
                where a in (select a from linked)
                group by a
                having count(*) filter (where u is not null and u not in (select unnest($ids))) = 0
                   and count(*) filter (where e is not null and e not in (select unnest($emails))) = 0
                """,
                {"ids": _ids(ident) or [""], "emails": sorted(ident.emails) or [""]},
            )
            ident.event_ids, ident.shared = shared_devices.attribute(
                con, ident, events=DEVICE_EVENTS
            )
    finally:
        con.execute(f"drop table if exists {DEVICE_EVENTS}")
    return idents


# Every event of the devices (anonymous ids) whose events name one of the people being
# resolved: all that deciding their devices needs, a few rows of the event history.
DEVICE_EVENTS = "_erase_device_events"
# The email an event names: its identify trait, else the traits Segment copies into context.
EVENT_EMAIL_SQL = """nullif(lower(trim(coalesce(
    json_extract_string(traits, '$.email'),
    json_extract_string(context, '$.traits.email')
))), '')"""


def _device_events(
    con: duckdb.DuckDBPyConnection, idents: list[Identity], *, indexed: bool = False
) -> None:
    """Create :data:`DEVICE_EVENTS` with one scan of ``raw.events``: the devices whose
    events carry one of the people's customer ids as userId or one of their emails as
    identify trait, and every event of those devices. The email is parsed only from
    events that have traits or whose context holds a ``"traits"`` key, or, ``indexed``,
    only from the events whose index entries name one of the emails (every event whose
    traits name an email has that entry: the index holds the same normalized value)."""
    ids = sorted({i for ident in idents for i in _ids(ident)})
    emails = sorted({e for ident in idents for e in ident.emails})
    may_name = """traits is not null or contains(context::varchar, '"traits"')"""
    if indexed and emails and event_index.refresh_events(con):
        may_name = event_index.naming_sql("select 'email|' || unnest($emails)")
    con.execute(
        f"""
        create or replace temp table {DEVICE_EVENTS} as
        select * from raw.events
        where trim(anonymous_id) in (
            select trim(anonymous_id) from raw.events
            where nullif(trim(anonymous_id), '') is not null
                and (
                    lower(trim(user_id)) in (select unnest($ids))
                    -- a list, not a subquery: a subquery would parse every event's email
                    or case when {may_name} then list_contains($emails, {EVENT_EMAIL_SQL}) end
                )
        )
        """,
        {"ids": ids or [""], "emails": emails or [""]},
    )


def _ids(ident: Identity) -> list[str]:
    return sorted(ident.folded()["customer_id"])


def _customer_identity(
    con: duckdb.DuckDBPyConnection, customer_id: str | None, email: str | None
) -> Identity:
    """The person's customer ids, emails and orders (the CRM and shop tables, small)."""
    ident = Identity()
    if customer_id is not None and str(customer_id).strip():
        ident.customer_ids.add(str(customer_id).strip())
    if normalize("email", email):
        ident.emails.add(normalize("email", email))
    if ident.is_empty():
        raise ValueError("an erasure needs a customer id or an email")
    has_customers = has_table(con, "raw", "customers")
    if has_customers and ident.emails:
        ident.customer_ids |= _values(
            con,
            "select distinct trim(customer_id) from raw.customers "
            "where lower(trim(email)) in (select unnest(?::varchar[])) "
            "and nullif(trim(customer_id), '') is not null",
            [sorted(ident.emails)],
        )
    if has_customers and ident.customer_ids:
        ident.emails |= _values(
            con,
            "select distinct lower(trim(email)) from raw.customers "
            "where lower(trim(customer_id)) in (select unnest(?::varchar[])) "
            "and nullif(trim(email), '') is not null",
            [_ids(ident)],
        )
    if has_table(con, "raw", "orders") and ident.customer_ids:
        ident.order_ids |= _values(
            con,
            "select distinct trim(order_id) from raw.orders "
            "where lower(trim(customer_id)) in (select unnest(?::varchar[])) "
            "and nullif(trim(order_id), '') is not null",
            [_ids(ident)],
        )
    return ident


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> set[str]:
    return {r[0] for r in con.execute(sql, params).fetchall() if r[0] is not None}
