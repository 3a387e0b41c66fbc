"""Quiet commands: the detail goes to a log file, the terminal gets one line per step.

A night prints thousands of lines of detail (dbt's node by node, Great Expectations',
Tailor's own log records, library warnings), written by Python code and by native
extensions alike. :func:`capture` points the process's standard output and error (file
descriptors 1 and 2, so every writer is covered) at a log file for the duration of the
work, and hands back a stream on the real terminal for the lines meant for the user.

:func:`exit_now` ends a command-line process once its work is done and flushed, without
the interpreter's final teardown: there the DuckDB extension (a nanobind module) reports
~40 lines of "nanobind: leaked ..." for objects other libraries still hold at exit (dbt's
adapter, SQLAlchemy's pool). Nothing is lost by skipping it: files are flushed and the
``atexit`` handlers (logging's among them) have run.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

DETAIL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def capture(log_file: Path) -> Iterator[TextIO]:
    """Send everything written to stdout and stderr (and Python's log records from INFO up)
    to ``log_file`` (appended) until the block ends; yield a text stream on the original
    terminal (stderr) for progress lines."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    saved = (os.dup(1), os.dup(2))
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(DETAIL_FORMAT))
    root = logging.getLogger()
    old_level = root.level
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        root.addHandler(handler)
        root.setLevel(min(old_level, logging.INFO) if old_level else logging.INFO)
        logging.captureWarnings(True)
        yield terminal
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)
        terminal.close()


def exit_now(code: int) -> None:
    """End the process with ``code`` after the ``atexit`` handlers and a flush of every
    stream, skipping the interpreter's teardown (see the module doc)."""
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
