"""A run's working copy of the warehouse on disk, and what runs that died left behind.

A run (``tailor run``, ``tailor erase``, an Airflow DAG run) works on a private copy of
the warehouse in a folder beside it (:func:`work_dir`, :func:`work_path`); it replaces the
real file only when every stage has passed (``tailor.pipeline.commit_run``). This module
holds what needs nothing above it: where a run's copy lives, which run a settings object
points at (:func:`run_of`), throwing a copy away (:func:`abort_run`), telling a full disk
from other errors (:func:`is_out_of_space`, :class:`OutOfSpace`), and removing the copies
and temp files of processes that are gone (:func:`clear_dead_runs`). Starting, committing
and orchestrating a run (exports, erasure requests) is ``tailor.pipeline``'s.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
from pathlib import Path

from tailor.settings import Settings

log = logging.getLogger(__name__)


class StageError(RuntimeError):
    """A stage failed; the message names the stage and the day."""


class OutOfSpace(StageError):
    """The disk is full (or too full for the warehouse copy): the message says where and
    how much is free."""


def work_dir(settings: Settings, run_id: str) -> Path:
    """The folder of a run's working copy, beside the warehouse."""
    real = settings.warehouse
    return real.with_name(f".{real.stem}.run-{run_id}")


def work_path(settings: Settings, run_id: str) -> Path:
    """A run's working copy: the warehouse's own file name in the run's folder, so DuckDB
    names its catalog as it names the warehouse's (dbt's parsed project, which carries the
    catalog name, then serves every run; see ``tailor.transform.parsed_manifest``)."""
    return work_dir(settings, run_id) / settings.warehouse.name


def run_of(settings: Settings) -> str | None:
    """The run whose working copy ``settings`` point at; None for the warehouse itself."""
    prefix = work_dir(settings, "").name  # the working copy keeps the warehouse's file name
    folder = settings.warehouse.parent.name
    return folder[len(prefix) :] or None if folder.startswith(prefix) else None


GB = 1024**3
# how errors say the disk is full: the OS (ENOSPC, EDQUOT) and DuckDB, whose temp files
# are limited to max_temp_directory_size (by default 90 % of the disk's free space)
_NO_SPACE = ("no space left on device", "disk quota exceeded", "max_temp_directory_size")


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(s in str(current).lower() for s in _NO_SPACE):
            return True
        current = current.__cause__ or current.__context__
    return False


def _gb(n: int) -> str:
    return f"{n / GB:,.2f} GB"


def free_space(path: Path) -> str:
    """Free space on the disk holding ``path`` (or the nearest folder that exists)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        return _gb(shutil.disk_usage(path).free)
    except OSError:
        return "unknown"


def copy_out_of_space(needed: int, where: Path, free: int | None = None) -> str:
    return (
        f"no space left on device: the warehouse copy needs {_gb(needed)} at {where},"
        f" {_gb(free) if free is not None else free_space(where)} free"
    )


def abort_run(settings: Settings, run_id: str) -> None:
    """Throw a run's working file (and its folder) away; the warehouse keeps its last good
    state."""
    shutil.rmtree(work_dir(settings, run_id), ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_dead_copies(settings: Settings) -> list[str]:
    """Delete the working copies of runs whose process is gone (killed, out of memory):
    each is as large as the warehouse and, the warehouse having moved on, can never be
    committed. Only copies named after a process id (``tailor run``, ``tailor erase``) are
    considered, and only when no process with that id is running; the Airflow DAG's copies
    are named after their day and cleared by its own commit. Returns the names removed."""
    prefix = work_dir(settings, "").name
    removed = []
    for path in sorted(settings.warehouse.parent.glob(f"{prefix}*")):
        # <prefix><id>/ (a run's folder) or <prefix><id>.duckdb[.wal] (older layout)
        run_id = path.name[len(prefix) :].split(".")[0]
        pid = run_id.removeprefix("erase-")
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


# DuckDB (2.x) names its spill files after the process: duckdb_temp_<pid>_...
_DUCKDB_TEMP = re.compile(r"^duckdb_temp_(\d+)_")
# Tailor's temp files beside the warehouse and the snapshot are named after the file and
# end in the writer's pid: .<file>.<pid>.tmp, .<file>.compact-<pid> (and its .wal)
_SIDE_TEMP = r"^\.{file}\..*?(\d+)(\.tmp|\.wal)?$"


def remove_dead_temp_files(settings: Settings) -> list[str]:
    """Delete the temp files of processes that are gone: DuckDB's spill files in the temp
    folder and Tailor's half-written files beside the warehouse and the snapshot (a
    snapshot being published, a warehouse being compacted). Files are only deleted when
    the process id in their name is not running. Returns the paths removed."""
    candidates = [(settings.duckdb_temp, _DUCKDB_TEMP)]
    for path in (settings.warehouse, settings.snapshot):
        candidates.append((path.parent, re.compile(_SIDE_TEMP.format(file=re.escape(path.name)))))
    removed = []
    for folder, pattern in candidates:
        try:
            entries = sorted(folder.iterdir())
        except OSError:  # no such folder yet
            continue
        for path in entries:
            match = pattern.match(path.name)
            if not match or not path.is_file() or pid_alive(int(match.group(1))):
                continue
            path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed


def clear_dead_runs(settings: Settings) -> list[str]:
    """Remove what runs that died left behind (working copies, temp files): at the start
    of every run, so that space a crash took is free again before the copy is made."""
    removed = remove_dead_copies(settings) + remove_dead_temp_files(settings)
    if removed:
        log.info("removed what runs that died left behind: %s", ", ".join(removed))
    return removed


def fingerprint(path: Path) -> dict[str, int] | None:
    """Which file sits at ``path``: a commit replaces it (new inode), a write changes it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
