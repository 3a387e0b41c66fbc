"""Erasure on a device another customer also uses (a family tablet, a shared laptop).

An anonymous id that names only the erased person is one of their identifiers and goes
with them (``tailor.privacy.identity.resolve_identity``). An anonymous id that also carries another
customer's login (userId) or email is *shared*: erasing it whole would erase the other
customer's history, so it is never erased as an identifier. The policy for it:

1. Events with the person's userId, or the person's email as identify trait, go (they
   name the person; ``tailor.privacy.matching.match_sql`` finds them whatever the device).
2. The device's events are split into sessions as ``marts.sessions`` splits them (more
   than ``tailor__session_timeout_minutes``, 30, without an event). The anonymous events
   (no userId, no email) of a session go with the person when:
   * the session names the person and nobody else (their visit before and after login), or
   * the session names nobody and the identity graph gives the device to the person (the
     earliest link wins, as ``int_identity_graph`` decides).
   They are erased by message id everywhere (landing files, ``raw.events``, stitched
   events, anything keyed by ``message_id``), and the device's rows in ``marts.sessions``
   that overlap a session holding any event of the person go too (they aggregate them;
   the next build makes them again from what is left).
3. Every other anonymous event stays, and the result says why, per device, in
   ``ops.erasure_audit.detail.shared_devices`` (the device as a keyed hash, never the id):
   ``mixed_session`` (the session holds the person's and another customer's logins: its
   anonymous events cannot be told apart), ``other_customers_session`` (only another
   customer logged in during it), ``graph_gives_device_to_other`` (no login in the session
   and the identity graph attributes the device to another customer).
   None of these is the person's by any evidence Tailor holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from tailor.erased import Identity

SESSION_TIMEOUT_MINUTES = 30  # dbt var tailor__session_timeout_minutes

REASONS = {
    "shared_device": "the device is also used by another customer: the id is kept for"
    " them, the person's own events on it are erased by message id",
    "mixed_session": "the session holds logins of the person and of another customer:"
    " its anonymous events cannot be told apart",
    "other_customers_session": "only another customer logged in during the session",
    "graph_gives_device_to_other": "no login in the session, and the identity graph"
    " attributes the device to another customer",
}


@dataclass
class SharedDevice:
    anonymous_id: str
    events_erased: int = 0
    kept: dict[str, int] = field(default_factory=dict)  # reason -> anonymous events kept
    windows: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)

    def report(self, device_hash: str) -> dict[str, Any]:
        return {
            "device": device_hash,
            "skipped_id": "anonymous_id",
            "reason": REASONS["shared_device"],
            "events_erased": self.events_erased,
            "events_kept": dict(sorted(self.kept.items())),
            "why_kept": {k: REASONS[k] for k in sorted(self.kept)},
        }


def attribute(
    con: duckdb.DuckDBPyConnection,
    ident: Identity,
    timeout_minutes: int = SESSION_TIMEOUT_MINUTES,
    events: str = "raw.events",
) -> tuple[set[str], list[SharedDevice]]:
    """The message ids of the person's anonymous events on shared devices, and what was
    decided per device (module docstring). ``events``: the relation to read them from, a
    name in code, never from data (``raw.events``, or a temp table holding every event of
    the devices that name the person, which decides the same)."""
    ids = sorted({i.strip().lower() for i in ident.customer_ids}) or [""]
    emails = sorted(ident.emails) or [""]
    rows = con.execute(
        f"""
        with ev as (
            select
                trim(anonymous_id) as a,
                trim(message_id) as m,
                nullif(lower(trim(user_id)), '') as u,
                nullif(lower(trim(coalesce(
                    json_extract_string(traits, '$.email'),
                    json_extract_string(context, '$.traits.email')
                ))), '') as e,
                timezone('UTC', try_cast(event_timestamp as timestamptz)) as t
            from {events}
            where nullif(trim(anonymous_id), '') is not null
        ),
        named as (
            select *,
                (u in (select unnest($ids)) or e in (select unnest($emails))) as mine,
                ((u is not null and u not in (select unnest($ids)))
                  or (e is not null and e not in (select unnest($emails)))) as other
            from ev
        ),
        devices as (
            select a from named group by a having bool_or(mine) and bool_or(other)
        ),
        timed as (
            select n.*,
                case when lag(t) over w is null
                       or t - lag(t) over w > to_minutes($timeout) then 1 else 0 end as starts
            from named n
            where a in (select a from devices)
            window w as (partition by a order by t, m)
        ),
        sessions as (
            select *, sum(starts) over (partition by a order by t, m) as s from timed
        ),
        per_session as (
            select a, s, bool_or(mine) as has_me, bool_or(other) as has_other,
                   min(t) as started, max(t) as ended
            from sessions group by a, s
        ),
        graph_owner as (
            -- the earliest event naming anybody decides whom the graph gives the device
            select a, arg_min(mine, t) as device_is_mine
            from named where a in (select a from devices) and (mine or other)
            group by a
        )
        select x.a, x.m, p.has_me, p.has_other, g.device_is_mine, p.started, p.ended
        from sessions x
        join per_session p using (a, s)
        join graph_owner g using (a)
        where x.u is null and x.e is null
        order by x.a, x.t, x.m
        """,
        {"ids": ids, "emails": emails, "timeout": timeout_minutes},
    ).fetchall()
    devices: dict[str, SharedDevice] = {}
    erase: set[str] = set()
    for a, m, has_me, has_other, device_is_mine, started, ended in rows:
        d = devices.setdefault(a, SharedDevice(a))
        if has_me and has_other:
            reason = "mixed_session"
        elif has_other:
            reason = "other_customers_session"
        elif not has_me and not device_is_mine:
            reason = "graph_gives_device_to_other"
        else:
            reason = None
        if (has_me or not reason) and started is not None and (started, ended) not in d.windows:
            d.windows.append((started, ended))  # its session aggregates the person's events
        if reason:
            d.kept[reason] = d.kept.get(reason, 0) + 1
            continue
        d.events_erased += 1
        erase.add(m)
    # devices shared but without anonymous events still are reported (the id was skipped)
    for (a,) in con.execute(
        f"""
        select trim(anonymous_id) from {events}
        where nullif(trim(anonymous_id), '') is not null
        group by 1
        having bool_or(lower(trim(user_id)) in (select unnest($ids)))
           and bool_or(lower(trim(user_id)) not in (select unnest($ids)))
        """,
        {"ids": ids},
    ).fetchall():
        devices.setdefault(a, SharedDevice(a))
    return erase, [devices[a] for a in sorted(devices)]


def erase_sessions(con: duckdb.DuckDBPyConnection, shared: list[SharedDevice]) -> int:
    """Delete the sessions of shared devices that overlap the person's erased events
    (they aggregate those events); returns the rows removed."""
    from tailor.consent import has_table

    if not shared or not has_table(con, "marts", "sessions"):
        return 0
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = 'sessions' and table_catalog = current_database()"
        ).fetchall()
    }
    if not {"visitor_id", "started_at", "ended_at"} <= columns:
        return 0  # not the sessions mart Tailor builds: its rows are matched by ids only
    n = 0
    for d in shared:
        for started, ended in d.windows:
            (k,) = con.execute(
                "select count(*) from marts.sessions where visitor_id = ?"
                " and started_at <= ? and ended_at >= ?",
                [d.anonymous_id, ended, started],
            ).fetchone()
            if k:
                con.execute(
                    "delete from marts.sessions where visitor_id = ?"
                    " and started_at <= ? and ended_at >= ?",
                    [d.anonymous_id, ended, started],
                )
                n += k
    return n
