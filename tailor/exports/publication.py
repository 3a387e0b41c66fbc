"""The export outbox: exports are staged with the run and published after its commit.

A run never writes under a destination's output folder nor calls a webhook. The export
stage writes each export into the run's staging area::

    <exports>/.staged/<run id>/<destination>/dt=D/          (files and manifest)
    <exports>/.staged/<run id>/<destination>/dt=D.erasure.json  (erasure removes it carries)

and logs it in ``ops.export_log`` as ``staged`` (or ``replayed`` / ``written``), in the run's
copy of the warehouse. Once the warehouse has committed the night, :func:`publish` moves
every staged folder into place (one rename: ``<output>/dt=D``), marks the erasure removes
it carries as delivered, sends webhook exports from their published batches file (the
same bodies and ``Idempotency-Key`` headers as written) and CRM exports whose destination
has an API endpoint from their ``<destination>.api.jsonl`` (``tailor.exports.apis``:
resumed after the last acknowledged request), and records each step on the
committed warehouse (``published_at``, ``status``), one small transaction each.

So a night that fails or is killed before its commit leaves nothing under the exports
folder and sends nothing: its staging area is deleted (at once, or by the next run's start
when the process died). A night killed after its commit but before its publication is
published by the next run's start (:func:`recover`), exactly once. A webhook that cannot be
delivered after the commit is ``send_failed`` with the error, and sent again at the next
run's start or commit; later exports to that destination wait behind it, so a delta is
never applied before the one it follows. A resend carries the same idempotency keys, so a
receiver that honours them applies each batch once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from tailor.exports import outbox
from tailor.exports.config import ConfigError, ExportConfig, destinations_path, load_config
from tailor.exports.files import replace_folder
from tailor.exports.formats import FORMATS
from tailor.settings import Settings

log = logging.getLogger(__name__)

STAGED = ".staged"


def stage_root(settings: Settings, run_id: str) -> Path:
    """The staging area of one run."""
    return settings.exports / STAGED / run_id


def staged_dir(settings: Settings, run_id: str, destination: str, day: dt.date) -> Path:
    return stage_root(settings, run_id) / destination / f"dt={day.isoformat()}"


def erasure_note(staged: Path) -> Path:
    """The file listing the erasure outbox entries a staged export carries."""
    return staged.with_name(f"{staged.name}.erasure.json")


def write_erasure_note(staged: Path, entries: list[outbox.Entry]) -> None:
    note = erasure_note(staged)
    if not entries:
        note.unlink(missing_ok=True)
        return
    note.write_text(json.dumps([str(e.path) for e in entries]) + "\n")


def discard(settings: Settings, run_id: str) -> None:
    """Throw away a run's staging area (the run failed: nothing of it is published)."""
    shutil.rmtree(stage_root(settings, run_id), ignore_errors=True)


@dataclass
class Outcome:
    export_id: str
    destination: str
    run_date: dt.date
    status: str
    error: str | None = None
    http_batches: int = 0
    http_attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "status": self.status,
            **({"error": self.error} if self.error else {}),
        }


def _has_log(con: duckdb.DuckDBPyConnection) -> bool:
    from tailor.consent import has_table

    return has_table(con, "ops", "export_log")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _pending(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = con.execute(
        """
        select rowid as row_id, export_id, run_date, destination, format, status,
               coalesce(replay, false) as replay, staged_dir, output_dir, published_at,
               http_attempts, started_at
        from ops.export_log
        where status <> 'failed'
            and ((staged_dir is not null and published_at is null)
                 or status in ('published', 'send_failed'))
        order by run_date, destination, started_at
        """
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _superseded(con: duckdb.DuckDBPyConnection, row: dict[str, Any]) -> bool:
    """A later export of the same destination and day, one that recorded the state,
    replaced this one (only that one is sent)."""
    from tailor.exports.state import STATE_STATUSES

    (n,) = con.execute(
        "select count(*) from ops.export_log where export_id = ? and started_at > ?"
        " and status in (select unnest(?::varchar[]))",
        [row["export_id"], row["started_at"], list(STATE_STATUSES)],
    ).fetchone()
    return n > 0


def _update(con: duckdb.DuckDBPyConnection, row_id: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    con.execute(
        f"update ops.export_log set {sets}, finished_at = ? where rowid = ?",
        [*values.values(), _now(), row_id],
    )


def _move(settings: Settings, row: dict[str, Any]) -> str | None:
    """Move a staged folder into place; returns an error, or None."""
    staged = Path(row["staged_dir"])
    final = Path(row["output_dir"])
    if staged.is_dir():
        replace_folder(staged, final)
    elif not (final / "manifest.json").exists():
        return f"the staged export {staged} is gone: rerun {row['run_date']} to export it again"
    return None


def _deliver_erasures(settings: Settings, row: dict[str, Any]) -> None:
    """A published export that recorded state delivered the erasure removes it carries;
    the entries earlier exports delivered are done with."""
    note = erasure_note(Path(row["staged_dir"]))
    if note.exists():
        carried = set(json.loads(note.read_text()))
        entries = [
            e for e in outbox.entries(settings, row["destination"]) if str(e.path) in carried
        ]
        outbox.mark_delivered(settings, entries, row["run_date"])
        note.unlink(missing_ok=True)
    outbox.purge_delivered(settings, row["destination"], row["run_date"])


def _delivers(row: dict[str, Any], config: ExportConfig | None) -> bool:
    """The export is sent after publication: a webhook, or a CRM export whose destination
    has an API endpoint configured."""
    if row["format"] in FORMATS and FORMATS[row["format"]].kind == "webhook":
        return True
    if config is None:
        return False
    try:
        return config.get(row["destination"]).sends_api
    except ConfigError:
        return False


def api_progress(settings: Settings, destination: str, run_date: dt.date) -> Path:
    """Which API requests of an export the tool acknowledged (and the ids they returned)."""
    return settings.exports / ".api_progress" / destination / f"dt={run_date.isoformat()}.jsonl"


def _send(
    row: dict[str, Any],
    config: ExportConfig | None,
    config_error: str | None,
    settings: Settings | None = None,
) -> tuple[int, int]:
    """Send a published export from its batches or API requests file: (requests,
    attempts)."""
    from tailor.exports import apis, webhook

    if config is None:
        raise ConfigError(config_error or "no destinations configuration")
    dest = config.get(row["destination"])
    if dest.sends_api and settings is not None:
        assert dest.api is not None
        path = Path(row["output_dir"]) / apis.API_FILE.format(name=dest.name)
        done = apis.send(
            dest.format,
            dest.api,
            apis.read_requests(path.read_bytes()),
            destination=dest.name,
            progress=api_progress(settings, dest.name, row["run_date"]),
        )
        return done.requests, done.attempts
    if dest.webhook is None:
        raise ConfigError(f"destination {dest.name!r} is no longer a webhook destination")
    path = Path(row["output_dir"]) / f"{dest.name}.batches.jsonl"
    batches = webhook.read_batches(path.read_bytes())
    delivery = webhook.send(dest.webhook, batches, destination=dest.name)
    return delivery.batches, delivery.attempts


def publish(
    settings: Settings,
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    config: ExportConfig | None = None,
) -> list[Outcome]:
    """Publish everything committed and not yet published or delivered (module docstring).
    Never raises for one export: each outcome says what happened to it."""
    own = con is None
    if own:
        if not settings.warehouse.exists():
            return []
        from tailor.warehouse import connect

        con = connect(settings.warehouse, settings=settings)
    try:
        if not _has_log(con):
            return []
        from tailor.exports.state import ensure_tables

        ensure_tables(con)
        rows = _pending(con)
        if not rows:
            return []
        config_error = None
        if config is None:
            try:
                config = load_config(destinations_path(settings))
            except ConfigError as exc:
                config_error = str(exc)
        outcomes: list[Outcome] = []
        held: dict[str, dt.date] = {}  # destination -> first day not delivered
        for row in rows:
            outcomes.append(_publish_row(settings, con, row, config, config_error, held))
        return outcomes
    finally:
        if own:
            con.close()


def _publish_row(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    row: dict[str, Any],
    config: ExportConfig | None,
    config_error: str | None,
    held: dict[str, dt.date],
) -> Outcome:
    out = Outcome(row["export_id"], row["destination"], row["run_date"], row["status"])
    is_webhook = _delivers(row, config)
    if row["published_at"] is None and row["staged_dir"] is not None:
        try:
            error = _move(settings, row)
        except OSError as exc:
            error = f"could not publish: {exc}"
        if error:
            out.status, out.error = row["status"], error
            if is_webhook:  # later deltas wait for this one
                held.setdefault(row["destination"], row["run_date"])
            _update(con, row["row_id"], error=error)
            log.error("export %s: %s", row["export_id"], error)
            return out
        if row["status"] == "staged":
            _deliver_erasures(settings, row)
            row["status"] = "published" if is_webhook else "succeeded"
        _update(con, row["row_id"], status=row["status"], published_at=_now(), error=None)
        out.status = row["status"]
    if row["status"] not in ("published", "send_failed"):
        return out
    if _superseded(con, row):
        out.status = "superseded"
        _update(con, row["row_id"], status=out.status)
        return out
    if row["destination"] in held:
        out.status = "send_failed"
        out.error = (
            f"held back: the export of {held[row['destination']]} to this destination"
            " is not delivered yet"
        )
        _update(con, row["row_id"], status=out.status, error=out.error)
        return out
    try:
        batches, attempts = _send(row, config, config_error, settings)
    except Exception as exc:  # delivery or configuration: recorded, sent again next time
        held[row["destination"]] = row["run_date"]
        out.status, out.error = "send_failed", f"{type(exc).__name__}: {exc}"
        _update(con, row["row_id"], status=out.status, error=out.error)
        log.error("export %s not delivered (sent again next run): %s", out.export_id, out.error)
        return out
    out.status, out.http_batches, out.http_attempts = "succeeded", batches, attempts
    _update(
        con,
        row["row_id"],
        status=out.status,
        http_batches=batches,
        http_attempts=(row["http_attempts"] or 0) + attempts,
        error=None,
    )
    return out


def _run_alive(settings: Settings, run_id: str) -> bool:
    """A run that may still commit: for ``tailor run`` / ``erase`` / ``export`` (named after
    their process) while the process runs; for the DAG (named after its day) while its
    working copy exists (a cleared task resumes on it)."""
    from tailor.runs import pid_alive, work_dir

    pid = run_id.removeprefix("erase-").removeprefix("export-")
    if pid.isdigit():
        return int(pid) != os.getpid() and pid_alive(int(pid))
    return work_dir(settings, run_id).exists()


def remove_dead(settings: Settings, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Delete the staging areas of runs that died before their commit (nothing committed
    refers to them and the run can no longer commit). Returns the run ids removed."""
    root = settings.exports / STAGED
    if not root.is_dir():
        return []
    pending: list[Path] = []
    if con is not None and _has_log(con):
        pending = [
            Path(r[0])
            for r in con.execute(
                "select staged_dir from ops.export_log where staged_dir is not null"
                " and published_at is null and status <> 'failed'"
            ).fetchall()
        ]
    removed = []
    for run in sorted(root.iterdir()):
        if _run_alive(settings, run.name) or any(p.is_relative_to(run) for p in pending):
            continue
        shutil.rmtree(run, ignore_errors=True)
        removed.append(run.name)
    return removed


def recover(settings: Settings) -> dict[str, Any]:
    """At a run's start: publish what a committed night left unpublished or undelivered,
    then delete the staging areas of runs that died."""
    if not settings.warehouse.exists():
        return {"published": [], "removed_staging": remove_dead(settings)}
    from tailor.warehouse import connect

    con = connect(settings.warehouse, settings=settings)
    try:
        outcomes = publish(settings, con)
        removed = remove_dead(settings, con)
    finally:
        con.close()
    if removed:
        log.info("removed the staged exports of runs that died: %s", ", ".join(removed))
    return {"published": [o.as_dict() for o in outcomes], "removed_staging": removed}


def finish_run(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    """After a run's commit: publish, then remove the run's staging area when all of it
    was published (what could not be moved stays for the next run's start)."""
    outcomes = publish(settings)
    tidy(settings, run_id)
    return [o.as_dict() for o in outcomes]


def tidy(settings: Settings, run_id: str) -> None:
    """Remove a run's staging area once nothing in it waits for publication."""
    root = stage_root(settings, run_id)
    if root.is_dir() and not any(p.is_dir() and p.name.startswith("dt=") for p in root.rglob("*")):
        shutil.rmtree(root, ignore_errors=True)
