"""Exporting one audience to one destination for one logical day.

The order of the gates, for every member of the audience (``marts.audiences``):

1. A/B control members are held out (recorded in ``ops.holdout_assignments``, never sent).
2. Erased subjects are dropped (``ops.erased_subjects``), whatever the marts say.
3. Members without the destination's consent purpose, as of the run date, are dropped.
4. Members without a value for the destination's key (e.g. no email) are dropped.
5. The rest is compared with what the destination held after its last export before the
   day (``ops.export_state``): adds, updates, unchanged, removes.
6. Adds to a capped destination are held back for people who already got the cap's number
   of messages in the window (``ops.message_log``).
7. Removes owed because of an erasure are added (``tailor.exports.outbox``).

Consent is the destination's purpose as of the run date and, for a day older than the
latest consent data (a replay or a backfill), as of the latest data too: a replay never
re-adds someone who withdrew since.

Then the files are written atomically, with a manifest, into the run's staging area
(``tailor.exports.publication``), and the new state is recorded with the export's log row
(``staged``), in one transaction. Nothing reaches the output folder or a webhook here: the
staged folder is moved into place, and a webhook called, only once the warehouse has
committed. If anything fails, the state is untouched and a rerun produces the same files
again.

An export of a day older than the destination's latest recorded export is a *replay*
(``replay: true`` in the manifest and ``ops.export_log``): its files are published for the
record, but it changes no state and is never sent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tailor import consent
from tailor.erased import erased_sql
from tailor.exports import apis, outbox, publication, state
from tailor.exports.config import Destination, ExportConfig
from tailor.exports.files import ExportFolder, WrittenFile, data_rows
from tailor.exports.formats import FORMATS, csv_bytes, jsonl_bytes, row_hash, to_json
from tailor.settings import Settings

AUDIENCES = ("marts", "audiences")
DEFINITIONS = ("marts", "audience_definitions")
REQUIRED_COLUMNS = ("audience_id", "customer_id", "is_control", "experiment_id", "as_of_date")


# What an export counts (each a column of ops.export_log).
COUNTS = (
    "members",
    "exported_members",
    "adds",
    "updates",
    "removes",
    "unchanged",
    "erasure_removes",
    "held_out_control",
    "excluded_no_consent",
    "excluded_missing_key",
    "excluded_capped",
    "excluded_erased",
)


class ExportError(RuntimeError):
    """An export could not be made or delivered; the destination's state is unchanged."""


@dataclass
class ExportResult:
    destination: str
    run_date: dt.date
    status: str  # staged | replayed | written (webhook not sent); then as ops.export_log
    output_dir: str  # where the export is published (after the commit)
    manifest_sha256: str
    files: list[WrittenFile]
    counts: dict[str, int]
    baseline_date: dt.date | None = None
    http_batches: int = 0
    http_attempts: int = 0
    messages: list[str] = field(default_factory=list)
    replay: bool = False
    staged_dir: str | None = None


def holdout_bucket(experiment_id: str, customer_id: str) -> float:
    """The A/B bucket ``marts.audiences`` assigns (first 16 bits of
    sha256(experiment_id || '|' || customer_id), over 65536): control when below the
    audience's holdout share."""
    digest = hashlib.sha256(f"{experiment_id}|{customer_id}".encode()).hexdigest()
    return int(digest[:4], 16) / 65536


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? and table_catalog = current_database() "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return dict(rows)


def _sort_key(values: dict[str, Any]) -> tuple:
    return tuple("" if v is None else str(v) for v in values.values())


def export_destination(
    con: duckdb.DuckDBPyConnection,
    dest: Destination,
    day: dt.date,
    *,
    config: ExportConfig,
    settings: Settings,
    run_id: str | None = None,
    send: bool = True,
    stage_id: str | None = None,
) -> ExportResult:
    """Stage ``dest``'s export as of ``day`` in the staging area of run ``stage_id`` (by
    default ``run_id``); see the module docstring for the rules."""
    started = _utcnow()
    state.ensure_tables(con)
    stage_id = stage_id or run_id or f"export-{os.getpid()}"
    staged = publication.staged_dir(settings, stage_id, dest.name, day)
    try:
        return _export(con, dest, day, config, settings, run_id, send, started, staged)
    except Exception as exc:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        shutil.rmtree(staged, ignore_errors=True)
        _log(
            con,
            dest,
            day,
            run_id,
            "failed",
            started,
            error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}",
        )
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"export {dest.name!r} for {day}: {exc}") from exc


def _check_audiences(
    con: duckdb.DuckDBPyConnection, dest: Destination, day: dt.date
) -> dict[str, str]:
    cols = _columns(con, *AUDIENCES)
    if not cols:
        raise ExportError("marts.audiences does not exist: build the audiences (dbt) first")
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise ExportError(f"marts.audiences lacks columns {missing}")
    lo, hi = con.execute("select min(as_of_date), max(as_of_date) from marts.audiences").fetchone()
    if lo is not None and (lo != day or hi != day):
        raise ExportError(
            f"marts.audiences is as of {lo if lo == hi else f'{lo}..{hi}'}, not {day}: "
            "build the audiences for the run date first"
        )
    if _columns(con, *DEFINITIONS):
        (known,) = con.execute(
            "select count(*) from marts.audience_definitions where audience_id = ?", [dest.audience]
        ).fetchone()
        if not known:
            some = [
                r[0]
                for r in con.execute(
                    "select audience_id from marts.audience_definitions order by 1 limit 12"
                ).fetchall()
            ]
            raise ExportError(
                f"unknown audience {dest.audience!r} (marts.audience_definitions has e.g. {some})"
            )
    needed = set().union(*(f.columns() for f in dest.fields))
    unknown = sorted(c for c in needed if c not in cols)
    if unknown:
        raise ExportError(
            f"destination {dest.name!r} maps columns {unknown} that marts.audiences does not have"
        )
    return cols


def _field_schema(
    dest: Destination, cols: dict[str, str], only: tuple[str, ...] | None = None
) -> list[dict[str, str]]:
    out = []
    for f in dest.fields:
        if only is not None and f.name not in only:
            continue
        if f.kind == "column":
            typ, src = cols.get(f.source, "VARCHAR"), f.source
        elif f.kind == "recommendations":
            typ, src = "JSON", f"recommendations[{f.source}]"
        elif f.kind == "template":
            typ, src = "VARCHAR", f"template:{f.source}"
        else:
            typ, src = (
                "VARCHAR" if isinstance(f.source, str) else type(f.source).__name__.upper(),
                "constant",
            )
        out.append({"name": f.name, "type": typ, "source": src})
    return out


def _export(
    con: duckdb.DuckDBPyConnection,
    dest: Destination,
    day: dt.date,
    config: ExportConfig,
    settings: Settings,
    run_id: str | None,
    send: bool,
    started: dt.datetime,
    staged: Path,
) -> ExportResult:
    fmt = FORMATS[dest.format]
    cols = _check_audiences(con, dest, day)
    erased = erased_sql("customer_id", "a.customer_id")
    if "email" in cols:
        erased += " or " + erased_sql("email", "a.email")
    latest = consent.latest_consent_day(con)
    consented = consent.consented_customers_sql(dest.consent, day, latest_day=latest)
    cur = con.execute(
        f"""
        with consent as ({consented})
        select
            a.*,
            a.customer_id in (select customer_id from consent) as _has_consent,
            ({erased}) as _is_erased
        from marts.audiences a
        where a.audience_id = ?
        order by a.customer_id
        """,
        [dest.audience],
    )
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    counts = dict.fromkeys(COUNTS, 0)
    counts["members"] = len(rows)
    # customer_id -> (rendered values, key dict, key json, row hash)
    candidates: dict[str, tuple[list[Any], dict[str, Any], str, str]] = {}
    holdout: list[tuple[str, str, bool]] = []  # (customer_id, experiment_id, is_control)
    withdrawn: set[str] = set()  # members without the consent (a remove is an unsubscribe)
    key_index = [dest.columns.index(k) for k in dest.key]
    for row in rows:
        cid = row["customer_id"]
        if row["_is_erased"]:
            counts["excluded_erased"] += 1
            continue
        values = [f.render(row) for f in dest.fields]
        key = {dest.key[i]: values[j] for i, j in enumerate(key_index)}
        has_key = all(v is not None and str(v).strip() != "" for v in key.values())
        eligible = bool(row["_has_consent"]) and has_key
        if row["is_control"]:
            counts["held_out_control"] += 1
            if eligible:
                holdout.append((cid, row["experiment_id"], True))
            continue
        if not row["_has_consent"]:
            counts["excluded_no_consent"] += 1
            withdrawn.add(cid)
            continue
        if not has_key:
            counts["excluded_missing_key"] += 1
            continue
        holdout.append((cid, row["experiment_id"], False))
        candidates[cid] = (values, key, to_json(key), row_hash(values))

    base_day = state.baseline_date(con, dest.name, day)
    replay = state.later_export(con, dest.name, day) is not None
    base = state.baseline(con, dest.name, day)
    adds, updates, unchanged = [], [], []
    removes: dict[str, dict[str, Any]] = {}  # key json -> key
    reasons: dict[str, str] = {}  # key json -> remove | unsubscribe | erase (the API op)
    for cid, (_, _key, key_json, h) in candidates.items():
        prev = base.get(cid)
        if prev is None:
            adds.append(cid)
        elif prev[0] != key_json:
            # The destination knows the person by another key now: remove the old contact.
            updates.append(cid)
            removes[prev[0]] = json.loads(prev[0])
        elif prev[1] != h:
            updates.append(cid)
        else:
            unchanged.append(cid)
    removed = sorted(c for c in base if c not in candidates)
    for cid in removed:
        removes[base[cid][0]] = json.loads(base[cid][0])
        if cid in withdrawn:
            reasons[to_json(json.loads(base[cid][0]))] = (
                "unsubscribe" if dest.consent == "email_marketing" else "remove"
            )

    capped: set[str] = set()
    if dest.capped and adds:
        cap = config.frequency_cap
        earlier = [d.name for d in config.destinations[: config.order(dest.name)]]
        sent = state.messages_before(con, adds, day, cap.window_days, earlier)
        capped = {c for c in adds if sent.get(c, 0) >= cap.max_messages}
        adds = [c for c in adds if c not in capped]

    current_keys = {candidates[c][2] for c in adds + updates + unchanged}
    due = outbox.due(settings, dest.name, day)
    carried = []
    for entry in due:
        key_json = to_json(entry.key_fields)
        if key_json in current_keys:
            continue  # the key belongs to a current member (e.g. a shared email)
        carried.append(entry)
        reasons[key_json] = "erase"
        if key_json not in removes:
            removes[key_json] = entry.key_fields
            counts["erasure_removes"] += 1
    for k in list(removes):
        if k in current_keys:
            del removes[k]

    counts.update(
        adds=len(adds),
        updates=len(updates),
        unchanged=len(unchanged),
        removes=len(removes),
        excluded_capped=len(capped),
        exported_members=len(adds) + len(updates) + len(unchanged),
    )

    def ordered(cids: list[str]) -> list[str]:
        return sorted(cids, key=lambda c: (_sort_key(candidates[c][1]), c))

    upsert_ids = ordered(adds + updates + (unchanged if dest.mode == "full" else []))
    remove_keys = sorted(removes.values(), key=_sort_key)

    folder_path = dest.output_dir(settings) / f"dt={day.isoformat()}"
    folder = ExportFolder(staged)
    try:
        schema = _field_schema(dest, cols)
        if fmt.kind == "csv":
            data, n = csv_bytes(dest.columns, (candidates[c][0] for c in upsert_ids))
            role = "contacts" if dest.mode == "full" else "upserts"
            name = f"{dest.name}.csv" if dest.mode == "full" else f"{dest.name}.upserts.csv"
            folder.add(name, role, data, n, schema)
            data, n = csv_bytes(list(dest.key), ([k[c] for c in dest.key] for k in remove_keys))
            folder.add(
                f"{dest.name}.removes.csv", "removes", data, n, _field_schema(dest, cols, dest.key)
            )
            if dest.api is not None:
                changes = [
                    apis.Change(
                        "upsert",
                        candidates[c][1],
                        dict(zip(dest.columns, candidates[c][0], strict=True)),
                    )
                    for c in ordered(adds + updates)
                ] + [apis.Change(reasons.get(to_json(k), "remove"), k) for k in remove_keys]
                requests = apis.requests_for(
                    dest.format,
                    changes,
                    dest.api,
                    destination=dest.name,
                    run_date=day.isoformat(),
                    key=dest.key,
                )
                folder.add(
                    apis.API_FILE.format(name=dest.name),
                    "api_requests",
                    apis.requests_bytes(requests),
                    len(requests),
                    [],
                )
        else:
            operations = [{"op": "delete", "key": k} for k in remove_keys] + [
                {"op": "upsert", "data": dict(zip(dest.columns, candidates[c][0], strict=True))}
                for c in upsert_ids
            ]
            if fmt.kind == "jsonl":
                data, n = jsonl_bytes(operations)
                folder.add(f"{dest.name}.jsonl", "operations", data, n, schema)
            else:
                from tailor.exports import webhook

                assert dest.webhook is not None
                batches = webhook.make_batches(
                    operations,
                    destination=dest.name,
                    audience=dest.audience,
                    run_date=day.isoformat(),
                    batch_size=dest.webhook.batch_size,
                )
                data = b"".join(b.body + b"\n" for b in batches)
                folder.add(f"{dest.name}.batches.jsonl", "batches", data, len(batches), schema)
        manifest = {
            "manifest_version": 1,
            "export_id": f"{dest.name}:{day.isoformat()}",
            "run_date": day.isoformat(),
            "destination": dest.name,
            "audience": dest.audience,
            "format": dest.format,
            "mode": dest.mode,
            "consent_purpose": dest.consent,
            "key": list(dest.key),
            "baseline_date": base_day.isoformat() if base_day else None,
            "replay": replay,
            "row_count": data_rows(folder.files),
            "counts": counts,
            "files": [f.as_dict() for f in folder.files],
        }
        manifest_sha = folder.publish(manifest)
    except BaseException:
        folder.discard()
        raise
    files = folder.files

    # A webhook or API export that is not sent (send=False) is only written: the destination's
    # state stays as it was, so the next export sends these changes again.
    unsent = (fmt.kind == "webhook" or dest.sends_api) and not send
    status = "replayed" if replay else "written" if unsent else "staged"
    commit_state = status == "staged"
    publication.write_erasure_note(staged, carried if commit_state else [])
    if commit_state:
        exported = set(adds) | set(updates) | set(unchanged)
        _record_state(con, dest, day, candidates, adds, updates, removed, holdout, exported)
    # the same fields go to the export log row and to the result the caller gets
    _log(
        con,
        dest,
        day,
        run_id,
        status,
        started,
        base_day=base_day,
        counts=counts,
        files=files,
        output_dir=str(folder_path),
        manifest_sha=manifest_sha,
        schema=schema,
        replay=replay,
        staged_dir=str(staged),
        in_transaction=commit_state,
    )
    return ExportResult(
        destination=dest.name,
        run_date=day,
        status=status,
        output_dir=str(folder_path),
        manifest_sha256=manifest_sha,
        files=files,
        counts=counts,
        baseline_date=base_day,
        replay=replay,
        staged_dir=str(staged),
    )


def _record_state(
    con: duckdb.DuckDBPyConnection,
    dest: Destination,
    day: dt.date,
    candidates: dict[str, tuple[list[Any], dict[str, Any], str, str]],
    adds: list[str],
    updates: list[str],
    removed: list[str],
    holdout: list[tuple[str, str, bool]],
    exported: set[str],
) -> None:
    """Replace the day's state changes (opened transaction; committed by :func:`_log`)."""
    con.execute("begin transaction")
    # Undo a previous run of the same day (it is the latest export: nothing after it).
    con.execute(
        "delete from ops.export_state where destination = ? and valid_from >= ?", [dest.name, day]
    )
    con.execute(
        "update ops.export_state set valid_to = null where destination = ? and valid_to >= ?",
        [dest.name, day],
    )
    changed = sorted(set(updates) | set(removed))
    new = sorted(set(adds) | set(updates))
    con.execute(
        """
        update ops.export_state set valid_to = ?
        where destination = ? and valid_to is null
            and customer_id in (select unnest(?::varchar[]))
        """,
        [day, dest.name, changed],
    )
    con.execute(
        """
        insert into ops.export_state
        select ?, unnest(?::varchar[]), unnest(?::varchar[])::json, unnest(?::varchar[]), ?, null
        """,
        [
            dest.name,
            new,
            [candidates[c][2] for c in new],
            [candidates[c][3] for c in new],
            day,
        ],
    )
    con.execute(
        "delete from ops.message_log where send_date = ? and destination = ?", [day, dest.name]
    )
    if dest.capped and adds:
        con.execute(
            "insert into ops.message_log select ?, ?, ?, unnest(?::varchar[])",
            [day, dest.name, dest.audience, sorted(adds)],
        )
    con.execute(
        "delete from ops.holdout_assignments where send_date = ? and destination = ?",
        [day, dest.name],
    )
    if holdout:
        con.execute(
            """
            insert into ops.holdout_assignments
            select ?, ?, ?, unnest(?::varchar[]), unnest(?::varchar[]),
                   unnest(?::boolean[]), unnest(?::boolean[])
            """,
            [
                day,
                dest.name,
                dest.audience,
                [h[1] for h in holdout],
                [h[0] for h in holdout],
                [h[2] for h in holdout],
                [(not h[2]) and h[0] in exported for h in holdout],
            ],
        )


def _log(
    con: duckdb.DuckDBPyConnection,
    dest: Destination,
    day: dt.date,
    run_id: str | None,
    status: str,
    started: dt.datetime,
    *,
    base_day: dt.date | None = None,
    counts: dict[str, int] | None = None,
    files: list[WrittenFile] | None = None,
    output_dir: str | None = None,
    manifest_sha: str | None = None,
    schema: list[dict[str, str]] | None = None,
    replay: bool = False,
    staged_dir: str | None = None,
    error: str | None = None,
    in_transaction: bool = False,
) -> None:
    c = counts or {}
    row = {
        "export_id": f"{dest.name}:{day.isoformat()}",
        "run_id": run_id,
        "run_date": day,
        "destination": dest.name,
        "audience_id": dest.audience,
        "format": dest.format,
        "mode": dest.mode,
        "consent_purpose": dest.consent,
        "status": status,
        "baseline_date": base_day,
        **{k: c.get(k) for k in COUNTS},
        "rows_written": data_rows(files) if files else None,
        "output_dir": output_dir,
        "manifest_sha256": manifest_sha,
        "files": json.dumps(
            [{k: v for k, v in f.as_dict().items() if k != "schema"} for f in files]
        )
        if files
        else None,
        '"schema"': json.dumps(schema) if schema else None,
        "http_batches": 0,
        "http_attempts": 0,
        "error": error,
        "started_at": started,
        "finished_at": _utcnow(),
        "replay": replay,
        "staged_dir": staged_dir,
    }
    con.execute(
        f"insert into ops.export_log ({', '.join(row)}) values ({', '.join('?' for _ in row)})",
        list(row.values()),
    )
    if in_transaction:
        con.execute("commit")
