from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tailor.cli import main
from tailor.settings import get_settings

pytestmark = pytest.mark.unit


def test_defaults_live_inside_the_project(monkeypatch):
    for var in (
        "TAILOR_HOME",
        "TAILOR_DATA",
        "TAILOR_WAREHOUSE",
        "TAILOR_SNAPSHOT",
        "TAILOR_LANDING",
        "AIRFLOW_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    s = get_settings()
    assert (s.home / "pyproject.toml").exists()
    for path in (s.warehouse, s.snapshot, s.landing, s.exports, s.ground_truth, s.airflow_home):
        assert path.is_relative_to(s.home / "data")
    assert s.snapshot != s.warehouse


def test_environment_overrides(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TAILOR_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("TAILOR_WAREHOUSE", str(tmp_path / "w" / "x.duckdb"))
    s = get_settings()
    assert s.landing == tmp_path / "d" / "landing"
    assert s.warehouse == tmp_path / "w" / "x.duckdb"
    assert s.snapshot == tmp_path / "w" / "x_published.duckdb"


def test_paths_json_is_machine_readable(tailor_env):
    result = CliRunner().invoke(main, ["paths", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    for key in ("warehouse", "snapshot", "landing", "exports", "airflow_home", "ground_truth"):
        assert info[key]
    assert info["warehouse"] == str(tailor_env.warehouse)


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "load", "run", "sql", "paths", "publish", "summary"):
        assert command in result.output


def test_sql_without_a_snapshot_says_what_to_do(tailor_env):
    result = CliRunner().invoke(main, ["sql", "select 1"])
    assert result.exit_code != 0
    assert "make demo" in result.output


def test_run_without_landing_data_fails_clearly(tailor_env):
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code != 0
    assert "tailor generate" in result.output
