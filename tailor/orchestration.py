"""What the Airflow DAG (``dags/tailor_nightly.py``) calls: one function per task.

Only ``setup_airflow`` imports Airflow (inside the function), so everything else is tested
without a scheduler, and the DAG file stays a thin description of the graph.

The logical day
    A DAG run processes one logical day D, the same D as ``tailor run --date D``. The DAG
    uses cron *data intervals*: the run for D has ``logical_date`` = D at the cron time
    (02:00 UTC by default) and starts when that interval ends, at the cron time on D+1,
    once D's landing files are complete. So ``airflow dags test tailor_nightly D`` and
    ``scripts/airflow_backfill.sh D1 D2`` (``airflow backfill create --from-date D1
    --to-date D2T23:59:59 --max-active-runs 1``) process the same days as
    ``tailor run --date D`` and ``tailor run --from D1 --to D2``.

The working copy across tasks
    Every task runs in its own process, so the run's private copy of the warehouse is
    addressed by a deterministic run id, the logical day (``run_id_for``).
    ``begin`` makes a fresh copy (``pipeline.begin_run``) and records which warehouse it
    was copied from; every stage task writes to that copy; ``commit`` swaps it in only if
    the warehouse is still the one the copy was taken from, so a run resumed late can
    never overwrite a day committed in between; ``publish`` then copies the warehouse to
    the analyst snapshot. A failure anywhere leaves the warehouse and the snapshot as
    they were. Clearing a failed task resumes on the same copy (stages are idempotent per
    day); clearing the whole run starts again from a fresh copy.

Environment variables (read when the DAG is parsed, so a change needs a reparse)
    ===============================  =====================================  ===============
    variable                         meaning                                default
    ===============================  =====================================  ===============
    TAILOR_SCHEDULE_CRON             when the run for the previous day      ``0 2 * * *``
                                     starts (UTC)
    TAILOR_CATCHUP                   create runs for every missed day       ``false``
    TAILOR_START_DATE                first logical day the schedule knows   the first day
                                                                            in the landing
                                                                            zone (else
                                                                            ``2026-10-01``)
    TAILOR_DAG_RETRIES               retries per task                       ``2``
    TAILOR_DAG_RETRY_DELAY_SECONDS   first retry delay (doubles each time)  ``300``
    TAILOR_STAGE_TIMEOUT_MINUTES     execution timeout of one task          ``120``
    TAILOR_RUN_TIMEOUT_MINUTES       timeout of a whole run                 ``720``
    TAILOR_LANDING_TIMEOUT_MINUTES   how long to wait for landing files     ``360``
    TAILOR_LANDING_POKE_SECONDS      how often to look for them             ``30``
    TAILOR_LANDING_SOURCES           sources whose day partition must       ``events``
                                     exist before the run starts
    TAILOR_LANDING_MAX_LAG_DAYS      a day with no landing files that is    ``1``
                                     more than this many days after the
                                     newest landed day is skipped at once
                                     (nothing is on its way)
    TAILOR_ALERT_WEBHOOK             URL that gets a JSON POST when a       unset (no
                                     task fails, and the night's anomalies  notification)
                                     (Slack-compatible "text")
    ===============================  =====================================  ===============

Failures and successes are appended as JSON lines to ``<TAILOR_DATA>/runs/run_log.jsonl``
(a plain file, so recording works whatever state the warehouse is in).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tailor.runlog import (
    jsonable,
    notify,
    record_event,
)
from tailor.settings import Settings, get_settings

log = logging.getLogger(__name__)

DAG_ID = "tailor_nightly"
# Every task that opens the warehouse (or its working copy) for writing runs in this pool,
# which has one slot: DuckDB allows one writer per file.
WAREHOUSE_POOL = "tailor_warehouse"
WAREHOUSE_POOL_SLOTS = 1
POOL_DESCRIPTION = "DuckDB allows one writer: every task that opens the warehouse for writing"
# The landing sensor waits in poke mode (reschedule mode can be failed spuriously by a
# scheduler race, apache/airflow#71172) and so holds a worker while it waits; one slot
# keeps runs queued behind each other from filling every worker with waiting sensors.
LANDING_POOL = "tailor_landing"
LANDING_POOL_DESCRIPTION = "Runs waiting for their landing files or for the previous day's run"

# Besides raw.<source> for every source: the tables analysts and downstream jobs use. The
# DAG declares them as Airflow Assets updated by commit_run.
MAIN_TABLES = (
    "marts.customers",
    "marts.customer_360",
    "marts.orders",
    "marts.sessions",
    "marts.customer_rfm",
    "marts.customer_lifecycle",
    "marts.customer_features",
    "marts.user_item_interactions",
    "ml.customer_segments",
    "ml.segment_profiles",
    "ml.propensity_scores",
    "ml.recommendations",
    "ml.similar_items",
    "ml.model_runs",
    "marts.audiences",
    "ops.export_log",
    "ops.metrics",
    "ops.anomalies",
)

DEFAULT_CRON = "0 2 * * *"
DEFAULT_START_DATE = "2026-10-01"


class StaleRunError(RuntimeError):
    """The warehouse changed after this run copied it; committing would lose that change."""


class NoLandingDataError(RuntimeError):
    """The day has no landing files and none are on their way: the run is skipped."""


# --------------------------------------------------------------------------- options


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


@dataclasses.dataclass(frozen=True)
class DagOptions:
    """The DAG's schedule, retries and timeouts, from the environment."""

    cron: str
    catchup: bool
    start_date: dt.datetime
    retries: int
    retry_delay: dt.timedelta
    max_retry_delay: dt.timedelta
    task_timeout: dt.timedelta
    run_timeout: dt.timedelta
    landing_timeout: dt.timedelta
    landing_poke: dt.timedelta
    landing_sources: tuple[str, ...]
    landing_max_lag_days: int = 1

    @classmethod
    def from_env(cls) -> DagOptions:
        sources = os.environ.get("TAILOR_LANDING_SOURCES") or "events"
        landing_sources = tuple(s.strip() for s in sources.split(",") if s.strip())
        configured = os.environ.get("TAILOR_START_DATE", "").strip()
        start = (
            dt.date.fromisoformat(configured) if configured else first_landing_day(landing_sources)
        )
        return cls(
            cron=os.environ.get("TAILOR_SCHEDULE_CRON") or DEFAULT_CRON,
            catchup=_env_bool("TAILOR_CATCHUP", False),
            start_date=dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC),
            retries=_env_int("TAILOR_DAG_RETRIES", 2),
            retry_delay=dt.timedelta(seconds=_env_int("TAILOR_DAG_RETRY_DELAY_SECONDS", 300)),
            max_retry_delay=dt.timedelta(hours=1),
            task_timeout=dt.timedelta(minutes=_env_int("TAILOR_STAGE_TIMEOUT_MINUTES", 120)),
            run_timeout=dt.timedelta(minutes=_env_int("TAILOR_RUN_TIMEOUT_MINUTES", 720)),
            landing_timeout=dt.timedelta(minutes=_env_int("TAILOR_LANDING_TIMEOUT_MINUTES", 360)),
            landing_poke=dt.timedelta(seconds=_env_int("TAILOR_LANDING_POKE_SECONDS", 30)),
            landing_sources=landing_sources,
            landing_max_lag_days=_env_int("TAILOR_LANDING_MAX_LAG_DAYS", 1),
        )


def first_landing_day(sources: tuple[str, ...] = ("events",)) -> dt.date:
    """Where the schedule begins without ``TAILOR_START_DATE``: the first day in the
    landing zone (``DEFAULT_START_DATE`` while it is empty). Reads the ``dt=YYYY-MM-DD``
    folder names only, without importing the loader (numpy, DuckDB): cheap enough for every
    DAG parse."""
    landing = get_settings().landing
    days = []
    for source in sources:
        for folder in landing.glob(f"{source}/dt=*"):
            try:
                days.append(dt.date.fromisoformat(folder.name[3:]))
            except ValueError:
                continue  # the loader reports folders that name no real day
    return min(days) if days else dt.date.fromisoformat(DEFAULT_START_DATE)


# --------------------------------------------------------------------------- run identity


def logical_day(logical_date: dt.datetime | dt.date | str) -> dt.date:
    """The day a run processes: the UTC date of its logical date (see the module docstring)."""
    if isinstance(logical_date, str):
        logical_date = dt.datetime.fromisoformat(logical_date)
    if isinstance(logical_date, dt.datetime):
        if logical_date.tzinfo is not None:
            logical_date = logical_date.astimezone(dt.UTC)
        return logical_date.date()
    return logical_date


def run_id_for(day: dt.date) -> str:
    """The working-copy id of the DAG run for ``day``: the same in every task's process."""
    return day.isoformat()


def _fingerprint(path: Path) -> dict[str, int] | None:
    from tailor.pipeline import fingerprint

    return fingerprint(path)


def _work_settings(settings: Settings, day: dt.date) -> Settings:
    from tailor.pipeline import work_path

    return dataclasses.replace(settings, warehouse=work_path(settings, run_id_for(day)))


# --------------------------------------------------------------------------- tasks


def landing_ready(day: dt.date, sources: tuple[str, ...] = ("events",)) -> bool:
    """True when every source in ``sources`` has at least one file for ``day``."""
    from tailor.ingest import partition_files

    s = get_settings()
    missing = [name for name in sources if not partition_files(s.landing, name, day)]
    if missing:
        log.info("waiting for %s landing files of %s under %s", ", ".join(missing), day, s.landing)
    return not missing


def check_landing_expected(
    day: dt.date, sources: tuple[str, ...] = ("events",), max_lag_days: int = 1
) -> None:
    """Raise ``NoLandingDataError`` when ``day`` has no landing files and none are on their
    way, so its run ends at once as skipped instead of waiting hours in the only run slot:
    the landing zone is empty, later days have landed without it, or it is more than
    ``max_lag_days`` after the newest landed day (a run for today's date on a demo data set
    of past days). A day just after the newest landed day is waited for as usual."""
    from tailor.ingest import available_days, partition_files

    s = get_settings()
    missing = [name for name in sources if not partition_files(s.landing, name, day)]
    if not missing:
        return
    landed = available_days(s.landing, sources)
    what = f"no {', '.join(missing)} landing files for {day} under {s.landing}"
    if not landed:
        reason = "the landing zone holds no day at all"
    elif day < landed[-1]:
        reason = f"later days have landed (up to {landed[-1]}) without it"
    elif (day - landed[-1]).days > max_lag_days:
        reason = (
            f"the newest landed day is {landed[-1]}, {(day - landed[-1]).days} days earlier"
            f" (more than TAILOR_LANDING_MAX_LAG_DAYS={max_lag_days})"
        )
    else:
        return
    raise NoLandingDataError(
        f"{what}: {reason}, so nothing is on its way and the run is skipped."
        " Trigger a day that has landed, or deliver this day's files and clear the run."
    )


def ready_to_start(
    day: dt.date,
    sources: tuple[str, ...] = ("events",),
    previous_run: tuple[str, Any] | None = None,
    max_lag_days: int | None = None,
) -> bool:
    """True when the day's landing files are there and the run before it has finished.
    With ``max_lag_days``, a day whose files are not on their way raises
    ``NoLandingDataError`` (``check_landing_expected``).

    ``previous_run`` is (run id, state) of the DAG run with the latest earlier logical
    date. Backfills run beside the schedule and by default several days at once (Airflow
    applies ``max_active_runs`` to each separately); waiting for the previous day keeps
    one run at a time between ``begin_run`` and ``commit_run``, so no commit is refused
    as stale.
    """
    state = previous_run[1] if previous_run else None
    if str(getattr(state, "value", state)) == "running":
        log.info("waiting for the previous run %s to finish", previous_run[0])
        return False
    if max_lag_days is not None:
        check_landing_expected(day, sources, max_lag_days)
    return landing_ready(day, sources)


def begin(day: dt.date) -> dict[str, Any]:
    """Start the run for ``day`` on a fresh private copy of the warehouse.

    Returns what ``commit`` needs (it travels as the task's XCom): the run id, the working
    file and the fingerprint of the warehouse the copy was taken from.
    """
    from tailor.pipeline import begin_run

    s = get_settings()
    work = begin_run(s, run_id_for(day))
    return {
        "day": day.isoformat(),
        "run_id": run_id_for(day),
        "warehouse": str(work.warehouse),
        "base": _fingerprint(s.warehouse),
    }


def run_stage(name: str, day: dt.date, previous: Mapping[str, Any] | None = None) -> Any:
    """Run one stage of ``tailor.pipeline.STAGES`` on the run's working copy.

    ``previous`` holds the results of the stages before it (their XComs), so a stage sees
    the same ``ctx.results`` as under ``tailor run``.
    """
    from tailor.pipeline import STAGES, RunContext, StageError

    stages = dict(STAGES)
    if name not in stages:
        raise KeyError(f"unknown stage {name!r}; stages are {list(stages)}")
    work = _work_settings(get_settings(), day)
    if not work.warehouse.exists() and _has_earlier_stage(name):
        raise StageError(
            f"no working copy {work.warehouse} for the run of {day}: clear the whole run"
            " (from begin_run) to start again from the warehouse"
        )
    ctx = RunContext(day=day, settings=work, results=dict(previous or {}))
    try:
        result = stages[name](ctx)
    except StageError:
        raise
    except Exception as exc:
        raise StageError(f"stage {name!r} failed for {day}: {exc}") from exc
    return jsonable(result)


def _has_earlier_stage(name: str) -> bool:
    from tailor.pipeline import STAGES

    return [n for n, _ in STAGES].index(name) > 0


def commit(day: dt.date, begun: Mapping[str, Any]) -> dict[str, Any]:
    """Swap the run's working copy in as the warehouse, if nobody committed since ``begin``.

    The exports the run staged are then published (moved into place, webhooks sent).
    Afterwards the working copies of other days' runs can never be committed (the
    warehouse moved on), so they are deleted.
    """
    from tailor.pipeline import abort_run, commit_run, work_dir

    s = get_settings()
    run_id = run_id_for(day)
    if begun.get("run_id") != run_id:
        raise StaleRunError(f"begin_run was for run {begun.get('run_id')!r}, not {run_id!r}")
    now = _fingerprint(s.warehouse)
    if now != begun.get("base"):
        raise StaleRunError(
            f"the warehouse {s.warehouse} changed after the run of {day} copied it"
            " (another day was committed in between); clear the whole run to start again"
            " from the current warehouse"
        )
    published = commit_run(s, run_id)  # and publishes the exports the run staged
    removed = []
    prefix, suffix = work_dir(s, "\0").name.split("\0")
    for other in s.warehouse.parent.glob(f"{prefix}*{suffix}"):
        other_id = other.name[len(prefix) : len(other.name) - len(suffix)]
        if _is_day(other_id) and other_id != run_id:
            abort_run(s, other_id)
            removed.append(other.name)
    return {
        "day": day.isoformat(),
        "warehouse": str(s.warehouse),
        "removed_stale_copies": removed,
        "exports_published": published,
    }


def _is_day(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def publish() -> str:
    """Publish the analyst snapshot from the committed warehouse."""
    from tailor.publish import publish_snapshot

    return str(publish_snapshot(get_settings()))


# --------------------------------------------------------------------------- results


def dbt_models_doc(select: str, settings: Settings | None = None) -> str:
    """A markdown table of the dbt models a stage builds (a selector of folders under
    ``models/``, as in ``tailor.pipeline.DBT_CORE_SELECT``), for the task's documentation in
    the Airflow UI. Reads file names only: cheap enough for every DAG parse."""
    s = settings or get_settings()
    models = s.dbt_project / "models"
    rows = []
    for part in select.split():
        if ":" in part:  # resource_type:seed and the like
            continue
        folder = models.joinpath(*part.split("."))
        for sql in sorted(folder.rglob("*.sql")) if folder.is_dir() else []:
            rel = sql.relative_to(models).parent.as_posix()
            rows.append(f"| `{sql.stem}` | {rel} |")
    if not rows:
        return ""
    return (
        f"\n\n**dbt models built by this task** (one in-process `dbt build --select {select}`,"
        " with their tests; per-model timings in the task's result and the run report)\n\n"
        "| model | folder |\n| --- | --- |\n" + "\n".join(rows)
    )


def publish_docs() -> str:
    """dbt docs (models, tests, lineage) as one static HTML page:
    ``<reports>/dbt_docs/index.html``."""
    from tailor.report import publish_dbt_docs

    return str(publish_dbt_docs(get_settings()))


def write_report(day: dt.date, results: Mapping[str, Any], run_id: str | None) -> str:
    """The run report of the committed day: ``<reports>/runs/<day>/index.html`` (row counts
    per layer, quarantine, validation summary, segments, RFM heatmap, model metrics,
    exports), after loading the run log into ``ops.run_log``."""
    from tailor.report import write_run_report

    path = write_run_report(
        day,
        get_settings(),
        results=dict(results),
        status="succeeded",
        run_id=run_id,
        sync_run_log=True,
    )
    return str(path)


# --------------------------------------------------------------------------- callbacks


def _event_from_context(context: Mapping[str, Any], status: str) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    logical_date = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    exc = context.get("exception")
    event: dict[str, Any] = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": status,
        "dag_id": getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None),
        "dag_run_id": getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
        "day": logical_day(logical_date).isoformat() if logical_date else None,
    }
    if status.startswith("task"):
        event["task_id"] = getattr(ti, "task_id", None)
        event["try_number"] = getattr(ti, "try_number", None)
    if exc is not None:
        event["error"] = f"{type(exc).__name__}: {exc}"
    elif status.endswith("failed") and context.get("reason"):
        event["error"] = str(context.get("reason"))
    return event


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Record a task's final failure and send the notification. Never raises: a broken
    callback must not hide the failure it reports."""
    event = _event_from_context(context, "task_failed")
    try:
        record_event(event)
    except Exception:
        log.exception("could not record the failure %s", event)
    try:
        event["notified"] = notify(event)
    except Exception:
        log.exception("could not send the failure notification for %s", event)


def on_run_failure(context: Mapping[str, Any]) -> None:
    """Record that a run failed (the task callback already notified)."""
    try:
        record_event(_event_from_context(context, "run_failed"))
    except Exception:
        log.exception("could not record the failed run")


def record_skip(day: dt.date, dag_run_id: str | None, reason: str) -> None:
    """Record that the run of ``day`` was skipped (no landing files on their way), log why
    and send the notification (a production day whose files are days late is worth a
    look). Never raises."""
    log.warning("%s", reason)
    event = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "run_skipped",
        "dag_id": DAG_ID,
        "dag_run_id": dag_run_id,
        "day": day.isoformat(),
        "task_id": "wait_for_landing",
        "reason": reason,
    }
    try:
        record_event(event)
    except Exception:
        log.exception("could not record the skipped run %s", event)
    try:
        notify({**event, "error": reason})
    except Exception:
        log.exception("could not send the notification of the skipped run %s", event)


def on_run_success(context: Mapping[str, Any]) -> None:
    try:
        record_event(_event_from_context(context, "run_succeeded"))
    except Exception:
        log.exception("could not record the successful run")


# --------------------------------------------------------------------------- local Airflow


def airflow_environment(settings: Settings | None = None, port: int = 8080) -> dict[str, str]:
    """The environment every local Airflow command needs (``scripts/airflow.sh`` exports it).

    Airflow's home sits in the project's data folder (out of git), the DAGs come from the
    repository's ``dags/``, and the API server (UI and the execution API that task
    processes report to) listens on 127.0.0.1 only.
    """
    s = settings or get_settings()
    base = f"http://127.0.0.1:{port}"
    return {
        "AIRFLOW_HOME": str(s.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(s.home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Task processes at once. Writers queue on the one-slot pool anyway; the default
        # (32 worker processes) only costs memory on a laptop or a CI runner.
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "TAILOR_HOME": str(s.home),
    }


def setup_airflow() -> None:
    """Prepare the Airflow home the environment points at: migrate its database, create the
    two one-slot pools and serialize the DAGs (``airflow dags test`` needs them
    serialized). The same as three ``airflow`` commands, in one process (each command
    pays Airflow's import time)."""
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    for argv in (
        ["db", "migrate"],
        ["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS), POOL_DESCRIPTION],
        ["pools", "set", LANDING_POOL, "1", LANDING_POOL_DESCRIPTION],
        ["dags", "reserialize"],
    ):
        args = parser.parse_args(argv)
        args.func(args)


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def main(argv: list[str] | None = None) -> int:
    """``python -m tailor.orchestration env [--port N]`` prints ``export`` lines for a shell;
    ``python -m tailor.orchestration setup`` prepares the Airflow home (run it after ``env``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tailor.orchestration")
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("env", help="print the local Airflow environment as shell exports")
    env.add_argument("--port", type=int, default=8080)
    sub.add_parser("setup", help="migrate Airflow's database, create the pool, serialize the DAGs")
    args = parser.parse_args(argv)
    if args.command == "env":
        for key, value in airflow_environment(port=args.port).items():
            print(f"export {key}={_shell_quote(value)}")
    elif args.command == "setup":
        setup_airflow()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
