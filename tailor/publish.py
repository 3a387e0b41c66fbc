"""Publishing the read-only analyst snapshot.

DuckDB allows one writer or many readers per file, never both. So analysts never open the
warehouse the pipeline writes: after a good run the warehouse is checkpointed and copied,
and the copy is moved into place with an atomic rename. A reader that has the old snapshot
open keeps reading its old file until it reconnects.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tailor.settings import Settings, get_settings
from tailor.warehouse import connect


def publish_snapshot(settings: Settings | None = None) -> Path:
    s = settings or get_settings()
    if not s.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {s.warehouse}: run `tailor load` first")
    con = connect(s.warehouse, settings=s)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    s.snapshot.parent.mkdir(parents=True, exist_ok=True)
    tmp = s.snapshot.with_name(f".{s.snapshot.name}.{os.getpid()}.tmp")
    shutil.copyfile(s.warehouse, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, s.snapshot)
    return s.snapshot
