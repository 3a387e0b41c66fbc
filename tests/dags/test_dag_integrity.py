"""DAG integrity: the nightly DAG imports cleanly and has the shape the runbook promises.

The DAG is loaded in a fresh interpreter (as Airflow's DAG processor does), which also
shows what importing the DAG file pulls in. The probe loads it twice: with the default
environment and with the schedule options overridden.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tailor.orchestration import LANDING_POOL, WAREHOUSE_POOL
from tailor.pipeline import STAGES
from tailor.sources import SOURCES
from tests.conftest import REPO

pytestmark = pytest.mark.dags

DAG_FILE = REPO / "dags" / "tailor_nightly.py"
# Imported inside tasks only: a DAG file that imports them slows every parse of every DAG.
HEAVY_MODULES = (
    "duckdb",
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "sklearn",
    "dbt",
    "great_expectations",
    "ml",
    "expectations",
)
OVERRIDES = {
    "TAILOR_SCHEDULE_CRON": "30 4 * * *",
    "TAILOR_CATCHUP": "true",
    "TAILOR_START_DATE": "2026-09-15",
    "TAILOR_DAG_RETRIES": "5",
    "TAILOR_LANDING_SOURCES": "events,orders",
}

PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
import airflow.sdk  # noqa: F401  (Airflow's own import time is not the DAG file's)
from airflow.dag_processing.dagbag import DagBag
airflow_seconds = time.perf_counter() - t0
before = set(sys.modules)

def describe():
    t = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1], known_pools={"default_pool", *sys.argv[2].split(",")})
    seconds = time.perf_counter() - t
    dag = bag.dags.get("tailor_nightly")
    out = {"import_errors": {str(k): v for k, v in bag.import_errors.items()}, "seconds": seconds}
    if dag is None:
        return out
    dag.check_cycle()
    tasks = {}
    for task in dag.tasks:
        tasks[task.task_id] = {
            "type": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            "pool": task.pool,
            "retries": task.retries,
            "backoff": task.retry_exponential_backoff,
            "retry_delay": task.retry_delay.total_seconds(),
            "execution_timeout": task.execution_timeout.total_seconds() if task.execution_timeout else None,
            "on_failure_callback": bool(task.on_failure_callback),
            "trigger_rule": str(task.trigger_rule),
            "doc_md": task.doc_md or "",
            "outlets": sorted(getattr(o, "name", str(o)) for o in task.outlets),
            "mode": getattr(task, "mode", None),
            "timeout": getattr(task, "timeout", None),
            "poke_interval": getattr(task, "poke_interval", None),
        }
    out.update(
        tags=sorted(dag.tags),
        doc_md=dag.doc_md or "",
        max_active_runs=dag.max_active_runs,
        catchup=dag.catchup,
        timetable=type(dag.timetable).__name__,
        summary=dag.timetable.expression,
        start_date=dag.start_date.isoformat(),
        dagrun_timeout=dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
        on_failure_callback=bool(dag.on_failure_callback),
        on_success_callback=bool(dag.on_success_callback),
        topological=[t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else None,
        tasks=tasks,
    )
    return out

default = describe()
new_modules = sorted(m.split(".")[0] for m in set(sys.modules) - before)
os.environ.update(json.loads(sys.argv[3]))
overridden = describe()
print("PROBE" + json.dumps({
    "default": default,
    "overridden": overridden,
    "airflow_seconds": airflow_seconds,
    "new_top_level_modules": sorted(set(new_modules)),
    "all_modules": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAILOR_", "AIRFLOW__")) and k != "AIRFLOW_HOME"
    }
    env.update(
        TAILOR_HOME=str(REPO),
        TAILOR_DATA=str(home / "data"),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(DAG_FILE),
            f"{WAREHOUSE_POOL},{LANDING_POOL}",
            json.dumps(OVERRIDES),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("PROBE")]
    assert proc.returncode == 0 and lines, proc.stderr[-6000:]
    return json.loads(lines[-1][len("PROBE") :])


@pytest.fixture(scope="module")
def dag(probe) -> dict:
    assert probe["default"]["import_errors"] == {}
    assert "tasks" in probe["default"], "tailor_nightly not found in dags/"
    return probe["default"]


STAGE_IDS = [name for name, _ in STAGES]
EXPECTED_ORDER = [
    "wait_for_landing",
    "begin_run",
    *STAGE_IDS,
    "commit_run",
    "publish_snapshot",
    "publish_dbt_docs",
    "write_report",
]


def test_dag_imports_without_errors(probe):
    assert probe["default"]["import_errors"] == {}
    assert probe["overridden"]["import_errors"] == {}


def test_every_pipeline_stage_is_a_task_in_order(dag):
    tasks = dag["tasks"]
    assert sorted(tasks) == sorted(EXPECTED_ORDER)
    # A single chain: each task's only successor is the next one (commit_run also reads
    # begin_run's result).
    for earlier, later in zip(EXPECTED_ORDER, EXPECTED_ORDER[1:], strict=False):
        assert later in tasks[earlier]["downstream"], (earlier, later)
    assert set(tasks["commit_run"]["upstream"]) == {"begin_run", STAGE_IDS[-1]}
    assert dag["topological"] in (None, EXPECTED_ORDER)


def test_no_cycles(dag):
    graph = {tid: t["downstream"] for tid, t in dag["tasks"].items()}
    visiting, done = set(), set()

    def visit(node):
        assert node not in visiting, f"cycle through {node}"
        if node in done:
            return
        visiting.add(node)
        for nxt in graph[node]:
            visit(nxt)
        visiting.remove(node)
        done.add(node)

    for node in graph:
        visit(node)


def test_commit_and_publish_run_only_when_everything_before_succeeded(dag):
    for task in dag["tasks"].values():
        assert task["trigger_rule"] in ("all_success", "TriggerRule.ALL_SUCCESS")


def test_documentation_and_tags(dag):
    assert "logical day" in dag["doc_md"].lower()
    assert len(dag["doc_md"]) > 500
    assert {"tailor", "nightly"} <= set(dag["tags"])
    assert all(t["doc_md"] for t in dag["tasks"].values())


def test_the_dbt_tasks_list_their_models(dag):
    core = dag["tasks"]["dbt_build"]["doc_md"]
    for model in ("stg_tracking__events", "int_identity_graph", "customers", "customer_rfm"):
        assert f"| `{model}` |" in core
    assert "`audiences`" not in core
    late = dag["tasks"]["dbt_audiences"]["doc_md"]
    assert "| `customer_360` |" in late and "| `audiences` |" in late


def test_schedule_defaults(dag):
    assert dag["timetable"] == "CronDataIntervalTimetable"
    assert dag["summary"] == "0 2 * * *"
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert dag["dagrun_timeout"] and dag["dagrun_timeout"] > 0
    assert dag["on_failure_callback"] and dag["on_success_callback"]


def test_schedule_options_come_from_the_environment(probe):
    over = probe["overridden"]
    assert over["summary"] == "30 4 * * *"
    assert over["catchup"] is True
    assert over["start_date"].startswith("2026-09-15")
    assert over["max_active_runs"] == 1
    assert {t["retries"] for t in over["tasks"].values()} == {5}
    assert "events, orders" in over["tasks"]["wait_for_landing"]["doc_md"]


def test_retries_timeouts_and_failure_callbacks(dag):
    for task_id, task in dag["tasks"].items():
        assert task["retries"] >= 1, task_id
        assert task["backoff"] and task["backoff"] > 1, task_id
        assert task["retry_delay"] > 0, task_id
        assert task["execution_timeout"] and task["execution_timeout"] > 0, task_id
        assert task["on_failure_callback"], task_id


def test_every_warehouse_writer_is_in_the_one_slot_pool(dag):
    writers = [tid for tid in dag["tasks"] if tid != "wait_for_landing"]
    assert {dag["tasks"][tid]["pool"] for tid in writers} == {WAREHOUSE_POOL}
    # The sensor touches only the landing zone; it does not hold the writer's slot.
    assert dag["tasks"]["wait_for_landing"]["pool"] == LANDING_POOL


def test_landing_sensor_gives_up(dag):
    sensor = dag["tasks"]["wait_for_landing"]
    # Poke mode: Airflow 3.3 can fail a rescheduled sensor on a stale executor event.
    assert sensor["mode"] == "poke"
    assert 0 < sensor["timeout"] <= 24 * 3600
    assert sensor["poke_interval"] > 0
    # The task's own timeout must not cut the wait short.
    assert sensor["execution_timeout"] > sensor["timeout"]


def test_main_tables_are_assets(dag):
    outlets = dag["tasks"]["commit_run"]["outlets"]
    assert {f"tailor.raw.{name}" for name in SOURCES} <= set(outlets)
    assert dag["tasks"]["publish_snapshot"]["outlets"] == ["tailor.snapshot"]


def test_dag_file_imports_nothing_heavy(probe):
    loaded = set(probe["all_modules"])
    assert not loaded & set(HEAVY_MODULES), sorted(loaded & set(HEAVY_MODULES))
    assert not set(probe["new_top_level_modules"]) & set(HEAVY_MODULES)


def test_dag_file_parses_fast(probe):
    # Airflow's own import time excluded; the DAG processor gives a file 30 s by default.
    assert probe["default"]["seconds"] < 10, probe["default"]["seconds"]
