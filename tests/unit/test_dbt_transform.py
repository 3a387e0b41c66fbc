"""tailor.transform: how dbt is invoked, and what a failure says."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from tailor import transform
from tailor.settings import get_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path):
    data = tmp_path / "data"
    return dataclasses.replace(
        get_settings(),
        data=data,
        warehouse=data / "warehouse" / "tailor.duckdb",
        duckdb_temp=data / "tmp" / "duckdb",
        duckdb_memory_limit="512MB",
    )


class FakeRunner:
    """Stands in for dbtRunner: records the arguments and the profile's environment."""

    calls: list[tuple[list[str], dict[str, str]]] = []
    result = SimpleNamespace(success=True, result=SimpleNamespace(results=[]), exception=None)

    def invoke(self, args):
        import os

        env = {
            k: os.environ.get(k, "")
            for k in ("TAILOR_WAREHOUSE", "TAILOR_DUCKDB_MEMORY", "TAILOR_DUCKDB_TEMP")
        }
        FakeRunner.calls.append((list(args), env))
        return FakeRunner.result


@pytest.fixture
def fake_dbt(monkeypatch):
    import dbt.cli.main

    FakeRunner.calls = []
    FakeRunner.result = SimpleNamespace(
        success=True, result=SimpleNamespace(results=[]), exception=None
    )
    monkeypatch.setattr(dbt.cli.main, "dbtRunner", FakeRunner)
    return FakeRunner


def test_build_passes_run_date_paths_and_environment(settings, fake_dbt, monkeypatch):
    monkeypatch.delenv("TAILOR_WAREHOUSE", raising=False)
    transform.build(
        dt.date(2026, 10, 14), full_refresh=True, select="staging marts.core", settings=settings
    )
    ((args, env),) = fake_dbt.calls
    assert args[0] == "build"
    assert args[args.index("--select") + 1 : args.index("--select") + 3] == [
        "staging",
        "marts.core",
    ]
    assert "--full-refresh" in args and "--indirect-selection" in args
    assert args[args.index("--project-dir") + 1] == str(settings.dbt_project)
    assert args[args.index("--profiles-dir") + 1] == str(settings.dbt_project)
    assert args[args.index("--target-path") + 1] == str(settings.data / "dbt" / "target")
    assert '"tailor__run_date": "2026-10-14"' in args[args.index("--vars") + 1]
    assert env == {
        "TAILOR_WAREHOUSE": str(settings.warehouse),
        "TAILOR_DUCKDB_MEMORY": "512MB",
        "TAILOR_DUCKDB_TEMP": str(settings.duckdb_temp),
    }
    assert settings.duckdb_temp.is_dir()
    # the caller's environment is restored afterwards
    import os

    assert "TAILOR_WAREHOUSE" not in os.environ


def test_build_without_tests_excludes_them(settings, fake_dbt):
    transform.build(settings=settings, tests=False)
    ((args, _),) = fake_dbt.calls
    assert "--vars" not in args  # no run date: the project uses the latest landing day
    assert args.count("--exclude-resource-type") == 2


def test_a_failed_invocation_names_the_failed_nodes(settings, fake_dbt):
    def node(uid, status, message):
        return SimpleNamespace(
            node=SimpleNamespace(unique_id=uid), status=status, message=message, execution_time=0.1
        )

    fake_dbt.result = SimpleNamespace(
        success=False,
        exception=None,
        result=SimpleNamespace(
            results=[
                node("model.tailor.sessions", "success", "OK"),
                node(
                    "test.tailor.unique_customers_customer_id",
                    "fail",
                    "Got 3 results, configured to fail if != 0",
                ),
                node("model.tailor.customer_rfm", "error", "Binder Error: column x not found"),
                node("model.tailor.customer_features", "skipped", ""),
            ]
        ),
    )
    with pytest.raises(transform.DbtError) as err:
        transform.build(settings=settings)
    text = str(err.value)
    assert "unique_customers_customer_id [fail]: Got 3 results" in text
    assert "model.tailor.customer_rfm [error]: Binder Error" in text
    assert "customer_features" not in text  # skipped because of the error, not a cause
    assert [n for n, _, _ in err.value.failures] == [
        "test.tailor.unique_customers_customer_id",
        "model.tailor.customer_rfm",
    ]


def test_a_missing_project_is_reported(settings, tmp_path):
    s = dataclasses.replace(settings, dbt_project=tmp_path / "nowhere")
    with pytest.raises(transform.DbtError, match="no dbt project"):
        transform.run_dbt(["build"], settings=s)
