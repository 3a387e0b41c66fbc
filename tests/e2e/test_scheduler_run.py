"""The nightly DAG through a real scheduler: ``scripts/airflow_standalone.sh`` on a free
localhost port, a two-day backfill created through the REST API and polled until it
finishes, compared with ``tailor run`` over the same days; and what a new user does right
after ``make airflow``: unpause (the schedule's run for today's date, which has no data,
ends at once as skipped) and trigger a landed day, which completes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from tailor.orchestration import WAREHOUSE_POOL
from tests.conftest import REPO
from tests.e2e.conftest import BIN, DAYS, Timer, airflow_env, generate, run

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT = 300
RUN_TIMEOUT = 1500
# Two days are enough to show the second waiting for the first.
BACKFILL = DAYS[:2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, url: str, token: str | None = None, body: dict | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _post(url: str, token: str, body: dict, attempts: int = 10):
    """POST, again while Airflow answers 503: with the SQLite metadata database of
    `airflow standalone`, a scheduler write at the same moment makes the request fail with
    "Database is locked" (503) and its transaction roll back."""
    for attempt in range(attempts):
        try:
            return _request("POST", url, token, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == attempts - 1:
                raise
            time.sleep(3)
    raise AssertionError("unreachable")


def _wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.URLError, ConnectionError, OSError, KeyError):
            value = predicate()
            if value:
                return value
        time.sleep(2)
    tail = log.read_text()[-6000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n--- standalone log\n{tail}")


@contextlib.contextmanager
def _standalone(tmp_path, **extra: str):
    data = tmp_path / "data"
    port = _free_port()
    env = airflow_env(
        data,
        data / "airflow",
        port=port,
        **extra,
        # Never collide with another Airflow's log servers (8793, 8794 by default).
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()),
        AIRFLOW__CORE__PARALLELISM="2",
    )
    generate(env)
    log = tmp_path / "standalone.log"
    timer = Timer()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(REPO / "scripts" / "airflow_standalone.sh"), str(port)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(
            lambda: (
                _request("GET", f"{base}/api/v2/monitor/health")["scheduler"]["status"] == "healthy"
            ),
            STARTUP_TIMEOUT,
            "the scheduler",
            log,
        )
        password_file = data / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(password_file.read_text())["admin"]
        token = _wait_for(
            lambda: _request(
                "POST", f"{base}/auth/token", body={"username": "admin", "password": password}
            )["access_token"],
            STARTUP_TIMEOUT,
            "a token from the API server",
            log,
        )
        _wait_for(
            lambda: _request("GET", f"{base}/api/v2/dags/tailor_nightly", token),
            STARTUP_TIMEOUT,
            "the DAG to be parsed",
            log,
        )
        yield {
            "base": base,
            "token": token,
            "data": data,
            "env": env,
            "log": log,
            "startup": timer.seconds,
        }
    finally:
        # The whole process group: standalone and the components it started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            time.sleep(2)
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def standalone(tmp_path):
    # Only the runs this test creates: no scheduled run for yesterday.
    with _standalone(tmp_path, AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False") as started:
        yield started


@pytest.fixture
def scheduled_standalone(tmp_path):
    # As `make airflow` starts it: the schedule on, its start from the landing zone.
    with _standalone(tmp_path) as started:
        yield started


def _tables(path: Path) -> dict[str, list[tuple]]:
    """Every raw table's rows without the load timestamps (they differ between runs), and
    the row count of every table the later stages build."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() order by all"
        ).fetchall()
        for schema, name in tables:
            if (schema, name) == ("ops", "run_log"):
                continue  # Airflow's task events; `tailor run` records only failures
            if schema != "raw":
                out[f"{schema}.{name}"] = con.execute(
                    f'select count(*) from "{schema}"."{name}"'
                ).fetchall()
                continue
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from duckdb_columns()"
                    " where schema_name = 'raw' and table_name = ? order by column_index",
                    [name],
                ).fetchall()
                if c not in ("_loaded_at", "started_at", "finished_at")
            ]
            cols = ", ".join(f'"{c}"::varchar' for c in columns)
            out[f"raw.{name}"] = con.execute(
                f"select {cols} from raw.{name} order by all"
            ).fetchall()
        return out
    finally:
        con.close()


def test_backfill_through_the_rest_api_matches_tailor_run(standalone, tmp_path):
    base, token, data = standalone["base"], standalone["token"], standalone["data"]
    dags = f"{base}/api/v2/dags/tailor_nightly"
    _request("PATCH", dags, token, {"is_paused": False})
    timer = Timer()
    # The UI's default of 10 runs at once: the runs still commit one after the other.
    backfill = _post(
        f"{base}/api/v2/backfills",
        token,
        {
            "dag_id": "tailor_nightly",
            "from_date": f"{BACKFILL[0]}T00:00:00Z",
            "to_date": f"{BACKFILL[-1]}T23:59:59Z",
            "max_active_runs": 10,
        },
    )
    assert backfill["dag_id"] == "tailor_nightly"

    def finished():
        runs = _request("GET", f"{dags}/dagRuns?limit=50", token)["dag_runs"]
        if len(runs) == len(BACKFILL) and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        return None

    runs = _wait_for(finished, RUN_TIMEOUT, "the backfill to finish", standalone["log"])
    assert sorted(r["logical_date"][:10] for r in runs) == list(BACKFILL)
    tis = [
        ti
        for r in runs
        for ti in _request("GET", f"{dags}/dagRuns/{r['dag_run_id']}/taskInstances", token)[
            "task_instances"
        ]
    ]
    assert {r["state"] for r in runs} == {"success"}, {
        (t["dag_run_id"], t["task_id"]): t["state"] for t in tis if t["state"] != "success"
    }

    # Every task that opens the warehouse ran in the one-slot pool, never two at once,
    # and each day's run went from begin_run to publish_snapshot without another day's
    # writer in between.
    writers = sorted(
        (t for t in tis if t["task_id"] != "wait_for_landing"), key=lambda t: t["start_date"]
    )
    assert {t["pool"] for t in writers} == {WAREHOUSE_POOL}
    for earlier, later in zip(writers, writers[1:], strict=False):
        assert earlier["end_date"] <= later["start_date"]
    order = [t["dag_run_id"] for t in writers]
    blocks = [run_id for i, run_id in enumerate(order) if i == 0 or order[i - 1] != run_id]
    assert blocks == [r["dag_run_id"] for r in sorted(runs, key=lambda r: r["logical_date"])]
    backfill_seconds = timer.seconds

    # The same days through `tailor run`, without Airflow, give the same tables.
    other = tmp_path / "cli"
    shutil.copytree(data / "landing", other / "landing")
    env = airflow_env(other, other / "airflow")
    run(env, str(BIN / "tailor"), "run", "--nightly", "--from", BACKFILL[0], "--to", BACKFILL[-1])
    airflow_tables = _tables(data / "warehouse" / "tailor_published.duckdb")
    assert airflow_tables == _tables(other / "warehouse" / "tailor_published.duckdb")
    assert len(airflow_tables["raw.events"]) > 1000
    print(
        f"standalone up in {standalone['startup']:.1f} s,"
        f" backfill of {len(BACKFILL)} days took {backfill_seconds:.1f} s"
    )


def test_unpause_then_trigger_a_landed_day_completes(scheduled_standalone):
    """Unpausing schedules a run for yesterday by the clock, long after the generated days:
    it must end at once as skipped, not hold the only run slot for hours, so the demo's
    next day, triggered right away, completes with no manual step."""
    base, token, data = (scheduled_standalone[k] for k in ("base", "token", "data"))
    # the demo so far: its first day, run without Airflow
    run(scheduled_standalone["env"], str(BIN / "tailor"), "run", "--date", DAYS[0])
    dags = f"{base}/api/v2/dags/tailor_nightly"
    _request("PATCH", dags, token, {"is_paused": False})
    day = DAYS[1]
    _post(f"{dags}/dagRuns", token, {"logical_date": f"{day}T02:00:00Z"})
    timer = Timer()

    def finished():
        runs = _request("GET", f"{dags}/dagRuns?limit=50", token)["dag_runs"]
        scheduled = [r for r in runs if r["run_type"] == "scheduled"]
        mine = [r for r in runs if r["logical_date"][:10] == day]
        done = all(r["state"] in ("success", "failed") for r in runs)
        return runs if scheduled and mine and done else None

    runs = _wait_for(finished, RUN_TIMEOUT, "both runs to finish", scheduled_standalone["log"])
    states = {r["logical_date"][:10]: r["state"] for r in runs}
    tasks = {
        (r["logical_date"][:10], t["task_id"]): t["state"]
        for r in runs
        for t in _request("GET", f"{dags}/dagRuns/{r['dag_run_id']}/taskInstances", token)[
            "task_instances"
        ]
    }
    run_log = data / "runs" / "run_log.jsonl"
    assert set(states.values()) == {"success"}, (
        states,
        {k: v for k, v in tasks.items() if v not in ("success", "skipped")},
        run_log.read_text()[-3000:] if run_log.exists() else "",
    )
    (scheduled,) = [r for r in runs if r["run_type"] == "scheduled"]
    assert scheduled["logical_date"][:10] > DAYS[-1]  # today by the clock: no data
    sensor = _request(
        "GET", f"{dags}/dagRuns/{scheduled['dag_run_id']}/taskInstances/wait_for_landing", token
    )
    assert sensor["state"] == "skipped"
    skipped = [
        json.loads(line)
        for line in (data / "runs" / "run_log.jsonl").read_text().splitlines()
        if '"run_skipped"' in line
    ]
    assert skipped and "nothing is on its way" in skipped[0]["reason"]

    con = duckdb.connect(str(data / "warehouse" / "tailor_published.duckdb"), read_only=True)
    try:
        days = con.execute("select distinct _dt::varchar from raw.events").fetchall()
    finally:
        con.close()
    assert sorted(days) == [(DAYS[0],), (day,)]
    print(
        f"standalone up in {scheduled_standalone['startup']:.1f} s, day done in {timer.seconds:.1f} s"
    )
