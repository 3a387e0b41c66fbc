"""Replacing a file so that readers see the old content or the new, never a part: the data
goes to a hidden temporary file in the same folder, is fsynced, and is renamed over the old
file in one step (a crash leaves at most the temporary file)."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, tag: str = "") -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through ``.<name>.<tag><pid>.tmp``."""
    tmp = path.with_name(f".{path.name}.{tag}{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
