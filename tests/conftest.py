from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("TAILOR_DATASETS", REPO.parent / "shared" / "datasets"))


# Variables that would point a test's Tailor somewhere else than its temporary folder.
TAILOR_ENV_VARS = (
    "TAILOR_WAREHOUSE",
    "TAILOR_SNAPSHOT",
    "TAILOR_LANDING",
    "TAILOR_EXPORTS",
    "TAILOR_GROUND_TRUTH",
    "TAILOR_REPORTS",
    "TAILOR_DUCKDB_TEMP",
    "TAILOR_FAIL_AT",
    "TAILOR_FAIL_MODE",
    "TAILOR_SNAPSHOT_PII",
    "TAILOR_PRIVACY_KEY",
)


def point_tailor_at(mp: pytest.MonkeyPatch, data: Path) -> None:
    """Every Tailor path under ``data``; the caller's overrides (paths, faults, snapshot
    settings) removed."""
    mp.setenv("TAILOR_HOME", str(REPO))
    mp.setenv("TAILOR_DATA", str(data))
    for var in TAILOR_ENV_VARS:
        mp.delenv(var, raising=False)
    mp.setenv("AIRFLOW_HOME", str(data / "airflow"))
    mp.setenv("TAILOR_DUCKDB_MEMORY", "2GB")


@pytest.fixture
def tailor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point every Tailor path at a fresh temporary folder and return the settings."""
    return use_data_folder(monkeypatch, tmp_path / "data")


def use_data_folder(mp: pytest.MonkeyPatch, data: Path):
    """Point every Tailor path at ``data`` (through ``mp``) and return the settings."""
    from tailor.settings import get_settings

    point_tailor_at(mp, data)
    return get_settings()


def require_dataset(relative: str) -> Path:
    path = DATASETS / relative
    if not path.exists():
        pytest.skip(
            f"public data set not found at {path} (tests expect ../shared/datasets beside the checkout)"
        )
    return path


def run_cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`tailor <args>` in a new process, as a user runs it (the environment the test's
    settings point at, plus ``env``); output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "tailor.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        timeout=timeout,
    )
