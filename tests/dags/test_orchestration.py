"""The functions the DAG's tasks call (tailor.orchestration), without Airflow.

They carry the run's guarantees: every task of a run finds the same working copy, a
commit never overwrites a day committed in between, and recording a failure never fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import duckdb
import pytest

from tailor import orchestration as orch
from tailor import pipeline, runlog
from tests.conftest import REPO

pytestmark = pytest.mark.dags

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)


def _write_events(landing, day: dt.date, n: int, tag: str) -> None:
    folder = landing / "events" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "messageId": f"{tag}-{i}",
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": f"anon-{i}",
                "timestamp": f"{day.isoformat()}T12:00:00Z",
                "properties": {"product_id": "P000001", "price": 5},
            }
        )
        for i in range(n)
    ]
    (folder / "events.ndjson").write_text("\n".join(lines) + "\n")


def _events(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select _dt, count(*) from raw.events group by 1 order by 1").fetchall()
    finally:
        con.close()


def _run(day: dt.date) -> None:
    """What the DAG does for one day, task by task."""
    begun = orch.begin(day)
    for name, _ in pipeline.STAGES:
        orch.run_stage(name, day)
    orch.commit(day, begun)
    orch.publish()


# --------------------------------------------------------------------------- logical day


@pytest.mark.parametrize(
    ("logical_date", "day"),
    [
        (dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.UTC), D1),  # a scheduled run for D1
        (dt.datetime(2026, 10, 1, tzinfo=dt.UTC), D1),  # `airflow dags test tailor_nightly D1`
        (dt.datetime(2026, 10, 1, 22, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4))), D2),
        ("2026-10-01T02:00:00+00:00", D1),
        (D1, D1),
    ],
)
def test_logical_day_is_the_utc_date_of_the_logical_date(logical_date, day):
    assert orch.logical_day(logical_date) == day


def test_run_id_is_the_same_in_every_process():
    assert orch.run_id_for(D1) == "2026-10-01"


def test_options_default_and_override(monkeypatch):
    for var in ("TAILOR_SCHEDULE_CRON", "TAILOR_CATCHUP", "TAILOR_DAG_RETRIES"):
        monkeypatch.delenv(var, raising=False)
    opts = orch.DagOptions.from_env()
    assert (opts.cron, opts.catchup, opts.retries) == ("0 2 * * *", False, 2)
    monkeypatch.setenv("TAILOR_SCHEDULE_CRON", "15 3 * * *")
    monkeypatch.setenv("TAILOR_CATCHUP", "yes")
    monkeypatch.setenv("TAILOR_LANDING_SOURCES", "events, orders")
    opts = orch.DagOptions.from_env()
    assert (opts.cron, opts.catchup, opts.landing_sources) == (
        "15 3 * * *",
        True,
        ("events", "orders"),
    )


# --------------------------------------------------------------------------- the run


def test_landing_ready_waits_for_the_days_partition(tailor_env):
    assert not orch.landing_ready(D1)
    _write_events(tailor_env.landing, D1, 3, "a")
    assert orch.landing_ready(D1)
    assert not orch.landing_ready(D1, ("events", "orders"))


def test_a_run_waits_while_the_previous_day_is_running(tailor_env):
    _write_events(tailor_env.landing, D2, 3, "a")
    assert not orch.ready_to_start(D2, previous_run=("backfill__2026-10-01", "running"))
    for state in ("success", "failed", None):
        assert orch.ready_to_start(D2, previous_run=("backfill__2026-10-01", state))
    assert orch.ready_to_start(D2, previous_run=None)
    assert not orch.ready_to_start(D1, previous_run=None)  # no landing files yet


def test_the_schedule_begins_at_the_first_landing_day(tailor_env, monkeypatch):
    monkeypatch.delenv("TAILOR_START_DATE", raising=False)
    _write_events(tailor_env.landing, dt.date(2026, 11, 5), 1, "a")
    _write_events(tailor_env.landing, dt.date(2026, 11, 6), 1, "b")
    assert orch.DagOptions.from_env().start_date == dt.datetime(2026, 11, 5, tzinfo=dt.UTC)
    monkeypatch.setenv("TAILOR_START_DATE", "2026-11-06")
    assert orch.DagOptions.from_env().start_date == dt.datetime(2026, 11, 6, tzinfo=dt.UTC)


def test_a_day_whose_files_are_not_on_their_way_is_skipped_at_once(tailor_env):
    """Unpausing the DAG schedules today's date; a demo data set holds past days only."""
    with pytest.raises(orch.NoLandingDataError, match="landing zone holds no day"):
        orch.ready_to_start(D1, max_lag_days=1)
    _write_events(tailor_env.landing, D1, 3, "a")
    _write_events(tailor_env.landing, dt.date(2026, 10, 3), 3, "c")
    today = dt.date(2026, 12, 2)
    with pytest.raises(orch.NoLandingDataError, match="newest landed day is 2026-10-03") as exc:
        orch.ready_to_start(today, max_lag_days=1)
    assert "skipped" in str(exc.value) and "2026-12-02" in str(exc.value)
    with pytest.raises(orch.NoLandingDataError, match="later days have landed"):
        orch.ready_to_start(D2, max_lag_days=1)
    # the day after the newest landed day is on its way: waited for as before
    assert not orch.ready_to_start(dt.date(2026, 10, 4), max_lag_days=1)
    assert orch.ready_to_start(D1, max_lag_days=1)
    orch.record_skip(today, "scheduled__2026-12-02", "no files")
    assert runlog.read_run_log()[-1]["status"] == "run_skipped"


def test_tasks_of_a_run_share_the_working_copy_and_commit_publishes(tailor_env):
    s = tailor_env
    _write_events(s.landing, D1, 20, "d1")
    begun = orch.begin(D1)
    assert begun["warehouse"] == str(pipeline.work_path(s, "2026-10-01"))
    result = orch.run_stage("load", D1)
    assert result["loaded"] == 20
    # Nothing visible before the commit.
    assert not s.warehouse.exists() and not s.snapshot.exists()
    orch.commit(D1, begun)
    orch.publish()
    assert _events(s.warehouse) == _events(s.snapshot) == [(D1, 20)]
    assert not pipeline.work_dir(s, "2026-10-01").exists()


def test_a_whole_run_retried_starts_from_a_fresh_copy(tailor_env):
    s = tailor_env
    _write_events(s.landing, D1, 20, "d1")
    _run(D1)
    _write_events(s.landing, D2, 5, "d2")
    orch.begin(D2)
    orch.run_stage("load", D2)
    work = pipeline.work_path(s, "2026-10-02")
    assert _events(work) == [(D1, 20), (D2, 5)]
    orch.begin(D2)  # clearing the run re-runs begin_run
    assert _events(work) == [(D1, 20)]


def test_commit_refuses_a_copy_older_than_the_warehouse(tailor_env):
    s = tailor_env
    _write_events(s.landing, D1, 20, "d1")
    _write_events(s.landing, D2, 5, "d2")
    _run(D1)
    # The run for D2 fails after loading; meanwhile D1 is run again and committed.
    begun = orch.begin(D2)
    orch.run_stage("load", D2)
    _run(D1)
    before = s.warehouse.read_bytes()
    with pytest.raises(orch.StaleRunError, match="clear the whole run"):
        orch.commit(D2, begun)
    assert s.warehouse.read_bytes() == before
    # The stale copy was thrown away by D1's commit; D2 starts again from the warehouse.
    assert not pipeline.work_dir(s, "2026-10-02").exists()
    _run(D2)
    assert _events(s.snapshot) == [(D1, 20), (D2, 5)]


def test_commit_checks_the_run_id(tailor_env):
    _write_events(tailor_env.landing, D1, 2, "d1")
    begun = orch.begin(D1)
    with pytest.raises(orch.StaleRunError):
        orch.commit(D2, begun)


def test_a_later_stage_without_working_copy_says_how_to_recover(tailor_env, monkeypatch):
    monkeypatch.setattr(pipeline, "STAGES", [*pipeline.STAGES, ("later", lambda ctx: {"ok": True})])
    with pytest.raises(pipeline.StageError, match="clear the whole run"):
        orch.run_stage("later", D1)


def test_stage_sees_earlier_results_and_returns_json(tailor_env, monkeypatch):
    seen = {}

    def later(ctx):
        seen.update(ctx.results)
        return {"day": ctx.day, "path": ctx.settings.warehouse, "n": 1}

    monkeypatch.setattr(pipeline, "STAGES", [*pipeline.STAGES, ("later", later)])
    _write_events(tailor_env.landing, D1, 2, "d1")
    orch.begin(D1)
    loaded = orch.run_stage("load", D1)
    out = orch.run_stage("later", D1, {"load": loaded})
    assert seen == {"load": loaded}
    assert out["day"] == "2026-10-01" and out["path"] == str(
        pipeline.work_path(tailor_env, "2026-10-01")
    )
    assert out["path"].endswith(f".run-2026-10-01/{tailor_env.warehouse.name}")
    json.dumps(out)


def test_failing_stage_raises_stage_error_naming_stage_and_day(tailor_env, monkeypatch):
    monkeypatch.setenv("TAILOR_FAIL_AT", "load.before_commit")
    _write_events(tailor_env.landing, D1, 2, "d1")
    orch.begin(D1)
    with pytest.raises(pipeline.StageError, match="'load' failed for 2026-10-01"):
        orch.run_stage("load", D1)


# --------------------------------------------------------------------------- callbacks


class _Hook:
    def __init__(self, status: int = 204):
        received: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _context(task_id="load", exc=None):
    ti = SimpleNamespace(
        task_id=task_id, dag_id="tailor_nightly", run_id="scheduled__x", try_number=3
    )
    dag_run = SimpleNamespace(
        dag_id="tailor_nightly",
        run_id="scheduled__x",
        logical_date=dt.datetime(2026, 10, 1, 2, tzinfo=dt.UTC),
    )
    return {"ti": ti, "dag_run": dag_run, "exception": exc}


def test_task_failure_is_recorded_and_posted(tailor_env, monkeypatch):
    hook = _Hook()
    monkeypatch.setenv("TAILOR_ALERT_WEBHOOK", hook.url)
    try:
        orch.on_task_failure(_context(exc=RuntimeError("boom")))
    finally:
        hook.close()
    (event,) = runlog.read_run_log()
    assert event["status"] == "task_failed"
    assert (event["day"], event["task_id"], event["try_number"]) == ("2026-10-01", "load", 3)
    assert event["error"] == "RuntimeError: boom"
    (body,) = hook.received
    assert "load" in body["text"] and "boom" in body["text"]
    assert body["event"]["task_id"] == "load"


def test_failure_callback_never_raises(tailor_env, monkeypatch, tmp_path):
    # The data folder is a file (nothing can be written) and the webhook refuses.
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    monkeypatch.setenv("TAILOR_DATA", str(blocked))
    monkeypatch.setenv("TAILOR_ALERT_WEBHOOK", "http://127.0.0.1:9/nothing-listens-here")
    orch.on_task_failure(_context(exc=RuntimeError("boom")))
    orch.on_run_failure({"dag_run": _context()["dag_run"], "reason": "task_failure"})


def test_without_webhook_nothing_is_sent(tailor_env, monkeypatch):
    monkeypatch.delenv("TAILOR_ALERT_WEBHOOK", raising=False)
    assert runlog.notify({"status": "task_failed"}) is False


def test_run_outcomes_are_recorded(tailor_env):
    dag_run = _context()["dag_run"]
    orch.on_run_success({"dag_run": dag_run, "reason": "success"})
    orch.on_run_failure({"dag_run": dag_run, "reason": "task_failure"})
    events = runlog.read_run_log()
    assert [e["status"] for e in events] == ["run_succeeded", "run_failed"]
    assert "error" not in events[0] and events[1]["error"] == "task_failure"
    assert all("task_id" not in e for e in events)


# --------------------------------------------------------------------------- local Airflow


def test_airflow_environment(tailor_env):
    env = orch.airflow_environment(tailor_env, port=18080)
    assert env["AIRFLOW_HOME"] == str(tailor_env.airflow_home)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__PORT"] == "18080" and env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_env_command_prints_shell_exports(tailor_env, tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "tailor.orchestration", "env", "--port", "18080"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    ).stdout
    shown = subprocess.run(
        ["bash", "-c", f'{printed}\nprintf "%s\\n" "$AIRFLOW_HOME" "$AIRFLOW__API__BASE_URL"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert shown[:2] == [str(tailor_env.airflow_home), "http://127.0.0.1:18080"]
