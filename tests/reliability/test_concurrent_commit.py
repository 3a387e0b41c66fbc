"""Two writers racing: a run must not overwrite a day another run committed meanwhile."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tailor import pipeline

pytestmark = pytest.mark.reliability


def _tag(path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select tag from t").fetchone()[0]
    finally:
        con.close()


def _warehouse(path, tag: str) -> None:
    con = duckdb.connect(str(path))
    con.execute("create or replace table t as select ? as tag", [tag])
    con.close()


def test_a_run_refuses_to_commit_over_a_newer_warehouse(tailor_env):
    s = tailor_env
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    _warehouse(s.warehouse, "before")
    with (
        pytest.raises(pipeline.StageError, match="another run committed"),
        pipeline.working_copy(s, run_id="cli") as work,
    ):
        _warehouse(work.warehouse, "cli run")
        # meanwhile the DAG commits its day: a new file takes the warehouse's place
        other = s.warehouse.with_name("other.duckdb")
        shutil.copyfile(s.warehouse, other)
        _warehouse(other, "dag run")
        other.replace(s.warehouse)
    assert _tag(s.warehouse) == "dag run"
    assert not pipeline.work_dir(s, "cli").exists()


def test_an_undisturbed_run_commits(tailor_env):
    s = tailor_env
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    _warehouse(s.warehouse, "before")
    with pipeline.working_copy(s, run_id="cli") as work:
        _warehouse(work.warehouse, "cli run")
    assert _tag(s.warehouse) == "cli run"


def test_a_committed_run_removes_the_copies_of_runs_that_died(tailor_env):
    import subprocess
    import sys

    s = tailor_env
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    _warehouse(s.warehouse, "before")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = gone.stdout.strip()  # a process id nobody runs under any more
    killed = pipeline.work_path(s, dead)  # e.g. `tailor run` killed by the OOM killer
    killed_erase = pipeline.work_path(s, f"erase-{dead}")
    older_layout = s.warehouse.with_name(f".{s.warehouse.stem}.run-{dead}.duckdb")
    running = pipeline.work_path(s, "1")  # pid 1 is always running
    dag_day = pipeline.work_path(s, "2026-10-02")  # the DAG's copies are its own business
    for path in (killed, killed_erase, running, dag_day):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"copy")
    older_layout.write_bytes(b"copy")

    with pipeline.working_copy(s, run_id="cli") as work:
        _warehouse(work.warehouse, "cli run")

    assert _tag(s.warehouse) == "cli run"
    assert not killed.parent.exists() and not killed_erase.parent.exists()
    assert not older_layout.exists()
    assert running.exists() and dag_day.exists()
