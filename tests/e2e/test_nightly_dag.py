"""The nightly DAG run for real with ``airflow dags test`` on a small generated data set.

One Airflow home and one successful run of the first day are shared by the module (each
``airflow`` command pays several seconds of start-up); the failure test works on a copy
of that run's data folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tailor.pipeline import STAGES
from tests.e2e.conftest import DAYS, Timer, airflow_env, dags_test, generate, setup_airflow, sha256

pytestmark = pytest.mark.e2e

STAGE_NAMES = [name for name, _ in STAGES]


def _query(path: Path, sql: str, *params):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _run_log(data: Path) -> list[dict]:
    from tailor.runlog import RUN_LOG_NAME

    path = data / "runs" / RUN_LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    setup_airflow(airflow_env(home / "unused-data", home))
    return home


@pytest.fixture(scope="module")
def first_day(tmp_path_factory, airflow_home):
    """Generated landing files for three days and one successful run of the first."""
    data = tmp_path_factory.mktemp("nightly") / "data"
    env = airflow_env(data, airflow_home)
    generate(env)
    timer = Timer()
    proc = dags_test(env, DAYS[0])
    return {"data": data, "env": env, "proc": proc, "seconds": timer.seconds}


def test_nightly_run_loads_the_day_and_publishes_the_snapshot(first_day):
    data: Path = first_day["data"]
    warehouse = data / "warehouse" / "tailor.duckdb"
    snapshot = data / "warehouse" / "tailor_published.duckdb"
    assert warehouse.exists() and snapshot.exists()

    # Only the logical day was loaded, and every record read is loaded or quarantined.
    days = _query(warehouse, "select distinct _dt from raw.load_log order by 1")
    assert [str(d) for (d,) in days] == [DAYS[0]]
    read, loaded, quarantined = _query(
        warehouse,
        "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from raw.load_log",
    )[0]
    assert loaded > 0 and read == loaded + quarantined
    logged_events = _query(
        warehouse, "select sum(rows_loaded) from raw.load_log where source = 'events'"
    )[0][0]
    events = _query(warehouse, "select count(*) from raw.events where _dt = ?", DAYS[0])[0][0]
    assert events == logged_events > 1000

    # Analysts see exactly what was committed.
    for table in ("raw.events", "raw.orders", "raw.customers", "raw.load_log"):
        sql = f"select count(*) from {table}"
        assert _query(snapshot, sql) == _query(warehouse, sql), table
    if "dbt_build" in STAGE_NAMES:
        assert _query(snapshot, "select count(*) from marts.customers")[0][0] > 0

    # The run is in the run log, and no working copy is left behind.
    events_logged = _run_log(data)
    assert [e["status"] for e in events_logged] == ["run_succeeded"]
    assert events_logged[0]["day"] == DAYS[0]
    assert not list((data / "warehouse").glob(".*.run-*"))
    print(f"dags test {DAYS[0]} took {first_day['seconds']:.1f} s")


def test_failed_stage_leaves_warehouse_and_snapshot_untouched(
    first_day, airflow_home, tmp_path, webhook
):
    data = tmp_path / "data"
    shutil.copytree(first_day["data"], data)
    warehouse = data / "warehouse" / "tailor.duckdb"
    snapshot = data / "warehouse" / "tailor_published.duckdb"
    before = (sha256(warehouse), sha256(snapshot))

    env = airflow_env(
        data,
        airflow_home,
        TAILOR_FAIL_AT="load.before_commit",
        TAILOR_ALERT_WEBHOOK=webhook.url,
    )
    timer = Timer()
    proc = dags_test(env, DAYS[1], check=False)
    failed_seconds = timer.seconds
    assert proc.returncode != 0

    # Nothing analysts or the next run see has changed.
    assert (sha256(warehouse), sha256(snapshot)) == before
    assert _query(snapshot, "select count(*) from raw.events where _dt = ?", DAYS[1]) == [(0,)]

    # The failure was recorded (after the retry) and the webhook was told.
    log = [e for e in _run_log(data) if e["day"] == DAYS[1]]
    assert [e["status"] for e in log] == ["task_failed", "run_failed"]
    assert log[0]["task_id"] == "load"
    assert log[0]["try_number"] == 2
    assert "injected failure at load.before_commit" in log[0]["error"]
    assert [body["event"]["task_id"] for body in webhook.received] == ["load"]
    assert "load" in webhook.received[0]["text"]

    # Running the day again (a retry of the whole run) starts from a fresh copy and
    # commits and publishes the day.
    env.pop("TAILOR_FAIL_AT")
    timer = Timer()
    dags_test(env, DAYS[1])
    rerun_seconds = timer.seconds
    loaded = _query(snapshot, "select _dt, count(*) from raw.events group by 1 order by 1")
    assert [str(d) for d, _ in loaded] == list(DAYS[:2])
    assert [e["status"] for e in _run_log(data) if e["day"] == DAYS[1]][-1] == "run_succeeded"
    assert not list((data / "warehouse").glob(".*.run-*"))
    print(f"failing run took {failed_seconds:.1f} s, rerun {rerun_seconds:.1f} s")
