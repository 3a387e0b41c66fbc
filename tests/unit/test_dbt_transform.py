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
    """Stands in for dbtRunner: records the arguments and the profile's environment, and
    the manifest each invocation was given; a ``parse`` returns a new manifest object."""

    calls: list[tuple[list[str], dict[str, str]]] = []
    manifests: list[object] = []
    result = SimpleNamespace(success=True, result=SimpleNamespace(results=[]), exception=None)

    def __init__(self, manifest=None):
        self.manifest = manifest

    def invoke(self, args):
        import os

        env = {
            k: os.environ.get(k, "")
            for k in ("TAILOR_WAREHOUSE", "TAILOR_DUCKDB_MEMORY", "TAILOR_DUCKDB_TEMP")
        }
        FakeRunner.calls.append((list(args), env))
        FakeRunner.manifests.append(self.manifest)
        if args[0] == "parse":
            return SimpleNamespace(success=True, result=object(), exception=None)
        return FakeRunner.result


@pytest.fixture
def fake_dbt(monkeypatch):
    import dbt.cli.main

    FakeRunner.calls = []
    FakeRunner.manifests = []
    monkeypatch.setattr(transform, "_MANIFEST", {})
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
    (parse, _), (args, env) = fake_dbt.calls
    assert parse[0] == "parse" and "--vars" not in parse  # the run date is not parsed
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
    (_, _), (args, _) = fake_dbt.calls
    assert "--vars" not in args  # no run date: the project uses the latest landing day
    assert args.count("--exclude-resource-type") == 2


def test_nightly_builds_skip_unit_tests_but_keep_data_tests(settings, fake_dbt):
    transform.build(dt.date(2026, 10, 14), settings=settings, unit_tests=False)
    (_, _), (args, _) = fake_dbt.calls
    excluded = [args[i + 1] for i, a in enumerate(args) if a == "--exclude-resource-type"]
    assert excluded == ["unit_test"]


def test_the_project_is_parsed_once_for_many_nights(settings, fake_dbt):
    for day in (14, 15, 16):
        transform.build(dt.date(2026, 10, day), settings=settings, tests=False)
    commands = [args[0] for args, _ in fake_dbt.calls]
    assert commands == ["parse", "build", "build", "build"]
    parsed = fake_dbt.manifests[1]
    assert parsed is not None and fake_dbt.manifests[1:] == [parsed] * 3
    dates = [args[args.index("--vars") + 1] for args, _ in fake_dbt.calls[1:]]
    assert [
        d.endswith(f'"2026-10-{day}"}}') for d, day in zip(dates, (14, 15, 16), strict=True)
    ] == [True] * 3
    # other vars are part of the parse: changing them parses again
    transform.build(dt.date(2026, 10, 17), settings=settings, vars={"tailor__lookback_days": 5})
    assert [args[0] for args, _ in fake_dbt.calls[4:]] == ["parse", "build"]
    assert (
        '"tailor__lookback_days": 5'
        in fake_dbt.calls[4][0][fake_dbt.calls[4][0].index("--vars") + 1]
    )


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
