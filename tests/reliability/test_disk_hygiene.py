"""A full disk or a dead run does not block the nights after it.

A run works on a copy of the warehouse. When the disk fills up while copying, the user is
told so (space needed, space free, where) without a traceback, the half-written copy is
gone, and the next run goes through. What a killed run left (its copy, DuckDB's spill
files, a half-published snapshot) is removed when the next run starts, whether or not
that run gets to its commit.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import duckdb
import pytest
from click.testing import CliRunner

from tailor import pipeline
from tailor.cli import main
from tailor.warehouse import connect
from tests.reliability.segment import product_views, write_events

pytestmark = pytest.mark.reliability

DAY = dt.date(2026, 10, 14)
COPY_FULL = re.compile(
    r"no space left on device: the warehouse copy needs [\d.,]+ GB at (?P<at>\S+), [\d.,]+ GB free"
)


@pytest.fixture
def night(tailor_env, monkeypatch):
    """A warehouse with a first day in it, the next day's landing files, and a night of
    only the load stage (the hygiene is the same whatever the stages do)."""
    s = tailor_env
    monkeypatch.setattr(pipeline, "STAGES", [("load", pipeline.stage_load)])
    for i, day in enumerate((DAY - dt.timedelta(days=1), DAY)):
        write_events(s.landing, day, product_views(day, 20, tag=f"ajs{i}"))
    pipeline.run_day(DAY - dt.timedelta(days=1), s, report=False)
    return s


def _tailor(*args: str):
    return CliRunner().invoke(main, list(args))


def _events(s) -> int:
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()


def _working_copies(s) -> list[str]:
    return sorted(p.name for p in s.warehouse.parent.glob(".*.run-*"))


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_disk_full_while_copying_is_reported_and_leaves_nothing(night, monkeypatch):
    s = night
    before = _events(s)

    def full_disk(src, dst, *args, **kwargs):
        with open(dst, "wb") as f:  # a part of the copy is written, then the disk is full
            f.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", full_disk)
        failed = _tailor("run", "--date", DAY.isoformat())
    assert failed.exit_code != 0
    assert not isinstance(failed.exception, OSError), "a traceback instead of a message"
    found = COPY_FULL.search(failed.output)
    assert found, failed.output
    assert found["at"].startswith(str(s.warehouse.parent))
    assert _working_copies(s) == []
    assert _events(s) == before

    again = _tailor("run", "--date", DAY.isoformat())
    assert again.exit_code == 0, again.output
    assert _events(s) == before + 20
    assert _working_copies(s) == []


def test_too_little_free_space_is_found_before_copying(night, monkeypatch):
    s = night
    size = s.warehouse.stat().st_size

    def no_copy(*args, **kwargs):
        raise AssertionError("copied although the disk is too small")

    monkeypatch.setattr(shutil, "copyfile", no_copy)
    small = SimpleNamespace(total=10 * size, used=9 * size, free=size // 2)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: small)
    with pytest.raises(pipeline.OutOfSpace) as full:
        pipeline.run_day(DAY, s, report=False)
    assert COPY_FULL.search(str(full.value)), str(full.value)
    assert _working_copies(s) == []


def test_disk_full_inside_a_stage_is_reported(night, monkeypatch):
    s = night

    def load(ctx):
        pipeline.stage_load(ctx)
        raise duckdb.IOException(
            f'IO Error: Could not write file "{ctx.settings.warehouse}.wal": No space left on device'
        )

    monkeypatch.setattr(pipeline, "STAGES", [("load", load)])
    failed = _tailor("run", "--date", DAY.isoformat())
    assert failed.exit_code != 0
    assert "no space left on device in stage 'load'" in failed.output
    assert "GB free at" in failed.output
    assert "unchanged" in failed.output
    assert _working_copies(s) == []


def test_what_dead_runs_left_is_removed_when_the_next_run_starts(night, monkeypatch):
    s = night
    dead = _dead_pid()
    copy = s.warehouse.parent / f".{s.warehouse.stem}.run-{dead}"
    copy.mkdir()
    shutil.copy(s.warehouse, copy / s.warehouse.name)
    spill = s.duckdb_temp / f"duckdb_temp_{dead}_0_storage_DEFAULT-0.tmp"
    spill.write_bytes(b"\0" * 65536)
    snapshot_part = s.snapshot.with_name(f".{s.snapshot.name}.{dead}.tmp")
    snapshot_part.write_bytes(b"\0" * 65536)
    # a live process's files, and files that are not temp files, stay
    live_spill = s.duckdb_temp / f"duckdb_temp_{os.getpid()}_7_owner"
    live_spill.write_bytes(b"")
    notes = s.warehouse.parent / "notes.tmp"
    notes.write_text("mine")

    # the next run fails before its commit: its start has cleaned up all the same
    monkeypatch.setenv("TAILOR_FAIL_AT", "stage.load")
    failed = _tailor("run", "--date", DAY.isoformat())
    assert failed.exit_code != 0
    assert "injected failure at stage.load" in failed.output
    assert not copy.exists()
    assert not spill.exists()
    assert not snapshot_part.exists()
    assert live_spill.exists() and notes.exists()
    assert _working_copies(s) == []
