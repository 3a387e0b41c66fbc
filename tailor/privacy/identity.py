"""Who a request names: every identifier of one person (:func:`resolve_identity`)."""

from __future__ import annotations

from typing import Any

import duckdb

from tailor import shared_devices
from tailor.consent import has_table
from tailor.erased import Identity, normalize


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
    ident = Identity()
    if customer_id is not None and str(customer_id).strip():
        ident.customer_ids.add(str(customer_id).strip())
    if normalize("email", email):
        ident.emails.add(normalize("email", email))
    if ident.is_empty():
        raise ValueError("an erasure needs a customer id or an email")

    def ids() -> list[str]:
        return sorted(ident.folded()["customer_id"])

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
            [ids()],
        )
    if has_table(con, "raw", "events"):
        ident.anonymous_ids |= _values(
            con,
            """
            with ev as (
                select
                    nullif(trim(anonymous_id), '') as a,
                    nullif(lower(trim(user_id)), '') as u,
                    nullif(lower(trim(coalesce(
                        json_extract_string(traits, '$.email'),
                        json_extract_string(context, '$.traits.email')
                    ))), '') as e
                from raw.events
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
            {"ids": ids() or [""], "emails": sorted(ident.emails) or [""]},
        )
    if has_table(con, "raw", "orders") and ident.customer_ids:
        ident.order_ids |= _values(
            con,
            "select distinct trim(order_id) from raw.orders "
            "where lower(trim(customer_id)) in (select unnest(?::varchar[])) "
            "and nullif(trim(order_id), '') is not null",
            [ids()],
        )
    if has_table(con, "raw", "events"):
        ident.event_ids, ident.shared = shared_devices.attribute(con, ident)
    return ident


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> set[str]:
    return {r[0] for r in con.execute(sql, params).fetchall() if r[0] is not None}
