"""Writing an export's files atomically, with their manifest.

An export of destination X for day D is one folder::

    <output>/dt=D/
        X.csv | X.upserts.csv | X.jsonl | X.batches.jsonl   (the data)
        X.removes.csv                                        (CSV formats)
        X.api.jsonl                                          (CRM formats: the API requests)
        manifest.json                                        (written last)

Every file is written into a hidden temporary folder beside it, fsynced, and the folder is
renamed into place; a previous export of the same day is moved aside first and deleted
after. A reader therefore sees either the old export or the new one, never a mix, and a
crash leaves at worst a hidden ``.dt=D.tmp-*`` folder that the next export removes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class WrittenFile:
    name: str
    role: str  # contacts | upserts | removes | operations | batches | api_requests
    rows: int
    bytes: int
    sha256: str
    schema: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "schema": self.schema,
        }


def data_rows(files: list[WrittenFile]) -> int:
    """Contact rows across an export's files (its API requests file is not counted)."""
    return sum(f.rows for f in files if f.role != "api_requests")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()


class ExportFolder:
    """Collects an export's files in a temporary folder and publishes them together."""

    def __init__(self, final: Path):
        self.final = final
        self.final.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.final.parent.glob(f".{self.final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.tmp = self.final.parent / f".{self.final.name}.tmp-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self.files: list[WrittenFile] = []

    def add(
        self, name: str, role: str, data: bytes, rows: int, schema: list[dict[str, str]]
    ) -> WrittenFile:
        path = self.tmp / name
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        written = WrittenFile(name, role, rows, len(data), sha256_bytes(data), schema)
        self.files.append(written)
        return written

    def path(self, name: str) -> Path:
        return self.tmp / name

    def publish(self, manifest: dict[str, Any]) -> str:
        """Write the manifest and rename the folder into place; returns the manifest's sha256."""
        data = manifest_bytes(manifest)
        with open(self.tmp / MANIFEST, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        replace_folder(self.tmp, self.final)
        return sha256_bytes(data)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def replace_folder(src: Path, final: Path) -> None:
    """Put the folder ``src`` at ``final`` with one rename (a reader sees the old folder or
    the new one, never a mix); a folder already there is moved aside first and deleted
    after. Across file systems ``src`` is copied beside ``final`` first, then renamed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    try:
        os.replace(src, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        os.replace(tmp, final)
        shutil.rmtree(src, ignore_errors=True)
    _fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text())


def verify(folder: Path) -> list[str]:
    """Problems with an export folder (files missing or not matching the manifest)."""
    problems = []
    manifest = read_manifest(folder)
    for f in manifest["files"]:
        path = folder / f["name"]
        if not path.exists():
            problems.append(f"{f['name']}: missing")
            continue
        data = path.read_bytes()
        if sha256_bytes(data) != f["sha256"]:
            problems.append(f"{f['name']}: sha256 does not match the manifest")
    return problems
