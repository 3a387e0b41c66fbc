"""Run the dbt project (``dbt_project/``) in-process against the warehouse.

dbt is invoked through ``dbtRunner`` inside this Python process, so its start-up (imports,
project parsing) is paid once per invocation rather than once per model. The profile in
``dbt_project/profiles.yml`` reads its paths from the environment; :func:`run_dbt` sets
them from Tailor's settings, so dbt opens the same DuckDB file with the same configuration
as :func:`tailor.warehouse.connect` (DuckDB refuses two configurations for one file in one
process).

dbt's ``target/`` and ``logs/`` go under ``<settings.data>/dbt/`` so that several
warehouses (tests, demos) never share compiled state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult

# Subcommands that take no --target-path.
NO_TARGET_PATH = frozenset({"debug", "deps", "init", "clean"})

# dbt statuses that mean a node did not do its job.
FAILED_STATUSES = frozenset({"error", "fail", "runtime error", "skipped"})


class DbtError(RuntimeError):
    """A dbt invocation failed; ``failures`` lists (node, status, message)."""

    def __init__(
        self, command: str, failures: list[tuple[str, str, str]], cause: BaseException | None = None
    ):
        self.command = command
        self.failures = failures
        self.cause = cause
        lines = [f"dbt {command} failed"]
        for node, status, message in failures:
            lines.append(f"  - {node} [{status}]: {message}")
        if cause is not None and not failures:
            lines.append(f"  {type(cause).__name__}: {cause}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class NodeResult:
    node: str
    status: str
    message: str
    seconds: float


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The environment the profile reads (see dbt_project/profiles.yml)."""
    settings.duckdb_temp.mkdir(parents=True, exist_ok=True)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return {
        "TAILOR_WAREHOUSE": str(settings.warehouse),
        "TAILOR_DUCKDB_MEMORY": settings.duckdb_memory_limit,
        "TAILOR_DUCKDB_TEMP": str(settings.duckdb_temp),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def node_results(result: Any) -> list[NodeResult]:
    """(node, status, message, seconds) for each node of a dbtRunnerResult.result."""
    nodes = []
    for r in getattr(result, "results", None) or []:
        node = getattr(r, "node", None)
        name = getattr(node, "unique_id", None) or getattr(node, "name", None) or "?"
        status = str(getattr(r, "status", "")).lower()
        status = status.split(".")[-1]
        nodes.append(
            NodeResult(
                name,
                status,
                str(getattr(r, "message", "") or ""),
                float(getattr(r, "execution_time", 0) or 0),
            )
        )
    return nodes


def release_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after a command.

    Until it is closed the file stays locked by this process, and Tailor could not open
    it read-only (DuckDB refuses a second configuration for one file in one process).
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if env is not None:
            env.close()


def run_dbt(
    args: list[str], settings: Settings | None = None, vars: dict | None = None
) -> dbtRunnerResult:
    """Run one dbt command (``["build", "--select", "marts"]``) against the warehouse.

    ``vars`` become ``--vars`` (JSON). Returns dbt's ``dbtRunnerResult`` (``.success``,
    ``.result`` with one entry per node); raises :class:`DbtError` naming every failed
    node and its message when the invocation does not succeed.
    """
    from dbt.cli.main import dbtRunner

    s = settings or get_settings()
    project = s.dbt_project
    if not (project / "dbt_project.yml").exists():
        raise DbtError(" ".join(args), [], FileNotFoundError(f"no dbt project at {project}"))
    work = s.data / "dbt"
    work.mkdir(parents=True, exist_ok=True)
    full_args = list(args)
    flags = {
        "--project-dir": str(project),
        "--profiles-dir": str(project),
        "--log-path": str(work / "logs"),
    }
    if args and args[0] not in NO_TARGET_PATH:
        flags["--target-path"] = str(work / "target")
    for flag, value in flags.items():
        if flag not in full_args:
            full_args += [flag, value]
    if vars:
        full_args += ["--vars", json.dumps(vars, default=str)]
    with _environment(dbt_environment(s)):
        try:
            res = dbtRunner().invoke(full_args)
        finally:
            release_warehouse()
    if res.success:
        return res
    nodes = node_results(res.result)
    failures = [
        (n.node, n.status, n.message)
        for n in nodes
        if n.status in FAILED_STATUSES and n.status != "skipped"
    ]
    if not failures:
        failures = [(n.node, n.status, n.message) for n in nodes if n.status in FAILED_STATUSES]
    raise DbtError(" ".join(args), failures, res.exception)


def build(
    run_date: dt.date | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    *,
    exclude: str | None = None,
    settings: Settings | None = None,
    vars: dict | None = None,
    tests: bool = True,
) -> dbtRunnerResult:
    """``dbt build`` (seeds, models, data tests, unit tests) as of ``run_date``.

    Without a run date the project uses the latest landing day of raw events or orders.
    ``select`` / ``exclude`` are dbt selectors (space-separated, e.g. ``"staging marts.core"``);
    with either, only the tests whose every parent is built run (indirect selection
    "cautious"), so a test that also reads an unbuilt model is left out.
    ``tests=False`` builds seeds and models only, e.g. when backfilling many days.
    """
    args = ["build"]
    if not tests:
        args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    if select:
        args += ["--select", *select.split()]
    if exclude:
        args += ["--exclude", *exclude.split()]
    if select or exclude:
        args += ["--indirect-selection", "cautious"]
    if full_refresh:
        args.append("--full-refresh")
    all_vars = dict(vars or {})
    if run_date is not None:
        all_vars["tailor__run_date"] = run_date.isoformat()
    return run_dbt(args, settings=settings, vars=all_vars or None)


def docs_generate(settings: Settings | None = None) -> Path:
    """Generate dbt docs; returns the folder holding index.html."""
    s = settings or get_settings()
    run_dbt(["docs", "generate"], settings=s)
    return s.data / "dbt" / "target"
