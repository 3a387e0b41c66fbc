"""Removes owed to destinations because a person was erased.

Erasure deletes the person from ``ops.export_state`` like from every other table, but a
destination that received the person must still be told to delete them. So, before the
warehouse rows go, :func:`queue_erasure` writes one small file per destination holding the
person::

    <exports>/.erasure_outbox/<destination>/<subject hash>.json
    {"destination": ..., "subject_hash": ..., "erased_on": "YYYY-MM-DD",
     "key_fields": {"Email Address": "..."}, "delivered_on": null}

The next export to that destination adds a remove for each entry and marks it delivered on
its run day; an export rerun for that same day includes it again (identical files), and the
first successful export of a later day deletes delivered entries. The outbox lives beside
the export files, which hold the same contact data, never in the warehouse or the snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tailor.settings import Settings

if TYPE_CHECKING:
    from tailor.erased import Identity

OUTBOX = ".erasure_outbox"


@dataclass(frozen=True)
class Entry:
    path: Path
    destination: str
    subject_hash: str
    erased_on: dt.date
    key_fields: dict
    delivered_on: dt.date | None


def outbox_dir(settings: Settings, destination: str | None = None) -> Path:
    root = settings.exports / OUTBOX
    return root / destination if destination else root


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True) + "\n")
    os.replace(tmp, path)


def queue_erasure(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    ident: Identity,
    day: dt.date,
    subject: str,
) -> list[str]:
    """Queue a remove for every destination currently holding one of the person's customer
    ids; returns the destinations, sorted. Entries already queued keep their delivery day."""
    from tailor.exports.state import ensure_tables

    ensure_tables(con)
    if not ident.customer_ids:
        return []
    rows = con.execute(
        """
        select destination, customer_id, key_fields::varchar
        from ops.export_state
        where valid_to is null
            and customer_id in (select unnest(?::varchar[]))
        order by destination, customer_id
        """,
        [sorted(ident.customer_ids)],
    ).fetchall()
    by_dest: dict[str, list[dict]] = {}
    for destination, _, key_fields in rows:
        by_dest.setdefault(destination, []).append(json.loads(key_fields))
    for destination, keys in by_dest.items():
        for i, key_fields in enumerate(keys):
            name = subject if i == 0 else f"{subject}-{i}"
            path = outbox_dir(settings, destination) / f"{name}.json"
            delivered = None
            if path.exists():
                delivered = json.loads(path.read_text()).get("delivered_on")
            _write(
                path,
                {
                    "destination": destination,
                    "subject_hash": subject,
                    "erased_on": day.isoformat(),
                    "key_fields": key_fields,
                    "delivered_on": delivered,
                },
            )
    return sorted(by_dest)


def entries(settings: Settings, destination: str) -> list[Entry]:
    folder = outbox_dir(settings, destination)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        delivered = doc.get("delivered_on")
        out.append(
            Entry(
                path=path,
                destination=destination,
                subject_hash=doc["subject_hash"],
                erased_on=dt.date.fromisoformat(doc["erased_on"]),
                key_fields=doc["key_fields"],
                delivered_on=dt.date.fromisoformat(delivered) if delivered else None,
            )
        )
    return out


def due(settings: Settings, destination: str, day: dt.date) -> list[Entry]:
    """Entries the export of ``day`` must carry: erased by then and not delivered by an
    earlier export (an entry delivered on ``day`` itself is carried again by a rerun)."""
    return [
        e
        for e in entries(settings, destination)
        if e.erased_on <= day and (e.delivered_on is None or e.delivered_on == day)
    ]


def mark_delivered(settings: Settings, delivered: list[Entry], day: dt.date) -> None:
    for e in delivered:
        if e.delivered_on is None:
            _write(
                e.path,
                {
                    "destination": e.destination,
                    "subject_hash": e.subject_hash,
                    "erased_on": e.erased_on.isoformat(),
                    "key_fields": e.key_fields,
                    "delivered_on": day.isoformat(),
                },
            )


def purge_delivered(settings: Settings, destination: str, day: dt.date) -> int:
    """Delete entries delivered by an export before ``day`` (called once ``day`` succeeded)."""
    n = 0
    for e in entries(settings, destination):
        if e.delivered_on is not None and e.delivered_on < day:
            e.path.unlink(missing_ok=True)
            n += 1
    return n
