from __future__ import annotations

import os
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
)


@pytest.fixture
def tailor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point every Tailor path at a fresh temporary folder and return the settings."""
    from tailor.settings import get_settings

    data = tmp_path / "data"
    monkeypatch.setenv("TAILOR_HOME", str(REPO))
    monkeypatch.setenv("TAILOR_DATA", str(data))
    for var in TAILOR_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(data / "airflow"))
    monkeypatch.setenv("TAILOR_DUCKDB_MEMORY", "2GB")
    return get_settings()


def require_dataset(relative: str) -> Path:
    path = DATASETS / relative
    if not path.exists():
        pytest.skip(
            f"public data set not found at {path} (tests expect ../shared/datasets beside the checkout)"
        )
    return path
