"""Run the dbt project (``dbt_project/``) in-process against the warehouse.

dbt is invoked through ``dbtRunner`` inside this Python process, so its start-up (imports,
project parsing) is paid once per invocation rather than once per model. The profile in
``dbt_project/profiles.yml`` reads its paths from the environment; :func:`run_dbt` sets
them from Tailor's settings, so dbt opens the same DuckDB file with the same configuration
as :func:`tailor.warehouse.connect` (DuckDB refuses two configurations for one file in one
process).

The engine is the dbt output named by ``TAILOR_DBT_TARGET`` (``duckdb`` by default,
``spark`` for a local Spark session; see :mod:`tailor.engines`): every invocation passes it
as ``--target``, and a build on Spark first exports the DuckDB source tables as Parquet.

dbt's ``target/`` and ``logs/`` go under ``<settings.data>/dbt/`` so that several
warehouses (tests, demos) never share compiled state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor import engines
from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult
    from dbt.contracts.graph.manifest import Manifest

# Subcommands that take no --target-path.
NO_TARGET_PATH = frozenset({"debug", "deps", "init", "clean"})

# Subcommands that take no --target.
NO_TARGET = frozenset({"deps", "init", "clean"})

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
        **engines.spark_environment(settings),
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


# How many :func:`holding_warehouse` blocks are open: while any is, a dbt command leaves
# the database open for the next one.
_HELD = 0


@contextlib.contextmanager
def holding_warehouse() -> Iterator[None]:
    """Keep dbt-duckdb's database open from one dbt command to the next inside the block,
    and close it once at the end. Closing checkpoints the file (about 0.8 s on the demo's
    warehouse), which a run of many builds in a row (a backfill's per-day snapshots) need
    not pay between them; nothing else may open the warehouse inside the block."""
    global _HELD
    _HELD += 1
    try:
        yield
    finally:
        _HELD -= 1
        if not _HELD:
            release_warehouse()


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    vars: dict | None = None,
    *,
    manifest: Manifest | None = None,
) -> dbtRunnerResult:
    """Run one dbt command (``["build", "--select", "marts"]``) against the warehouse.

    ``vars`` become ``--vars`` (JSON). ``manifest``: a parsed project to run instead of
    parsing it again (see :func:`parsed_manifest`). Returns dbt's ``dbtRunnerResult``
    (``.success``, ``.result`` with one entry per node); raises :class:`DbtError` naming
    every failed node and its message when the invocation does not succeed.
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
    if args and args[0] not in NO_TARGET:
        try:
            flags["--target"] = engines.dbt_target(s)
        except engines.EngineError as exc:
            raise DbtError(" ".join(args), [], exc) from None
    for flag, value in flags.items():
        if flag not in full_args:
            full_args += [flag, value]
    if vars:
        full_args += ["--vars", json.dumps(vars, default=str)]
    with _environment(dbt_environment(s)):
        try:
            res = dbtRunner(manifest=manifest).invoke(full_args)
        finally:
            if not _HELD:
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


RUN_DATE_VAR = "tailor__run_date"

# The Parquet sources a Spark build declares (tailor.engines.export_sources); like the run
# date, read when the build runs, never part of the parse.
PARQUET_SOURCES_VAR = "tailor__parquet_sources"
RUN_TIME_VARS = frozenset({RUN_DATE_VAR, PARQUET_SOURCES_VAR})

# The project as parsed by this process, with the key it was parsed under (one entry).
_MANIFEST: dict[tuple, Manifest] = {}

# What a parse reads besides the vars and the profile's environment.
_PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")


def _project_state(project: Path) -> tuple:
    """(path, size, mtime) of every project file a parse reads: any edit changes it."""
    files = []
    for part in _PROJECT_PARTS:
        top = project / part
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            if path.is_file():
                st = path.stat()
                files.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(files)


def parse_settings(settings: Settings) -> Settings:
    """``settings`` with the warehouse replaced by a stand-in path for dbt to parse against.

    A parse never opens the database, but dbt keys its saved parse (``partial_parse.msgpack``)
    on the profile, path included, and every run works on its own copy of the warehouse
    (``tailor.pipeline.work_path``): parsed against the copy, each process would parse the
    project in full (~10 s). The stand-in stays the same from run to run and has the
    warehouse's file name, hence the catalog name the parsed nodes carry (every working
    copy has that file name too); a new process then re-reads the saved parse instead.
    """
    return dataclasses.replace(
        settings, warehouse=settings.data / "dbt" / "parse" / settings.warehouse.name
    )


def parsed_manifest(settings: Settings, vars: dict | None = None) -> Manifest:
    """The dbt project parsed once per process and reused while nothing it depends on
    changes (project files, vars, the warehouse's file name and DuckDB settings); a new
    process re-reads dbt's saved parse of the same state (see :func:`parse_settings`).

    ``tailor__run_date`` must not be among ``vars``: the run date is read when a model is
    compiled, not when the project is parsed, so one parse serves every night a process
    builds. Passing it as ``--vars`` to a parsing invocation would change dbt's parse
    state every night and cost a full re-parse (~10 s) each time.
    """
    if vars and RUN_TIME_VARS & set(vars):
        raise ValueError(f"parse the project without {', '.join(sorted(RUN_TIME_VARS))}")
    stand_in = parse_settings(settings)
    key = (
        str(settings.dbt_project),
        settings.dbt_target,
        tuple(sorted(dbt_environment(stand_in).items())),
        json.dumps(vars or {}, sort_keys=True, default=str),
        _project_state(settings.dbt_project),
    )
    manifest = _MANIFEST.get(key)
    if manifest is None:
        # --no-write-json: nothing reads target/manifest.json, and writing it costs ~2 s
        manifest = run_dbt(
            ["parse", "--no-write-json"], settings=stand_in, vars=vars or None
        ).result
        _MANIFEST.clear()
        _MANIFEST[key] = manifest
    return manifest


def build(
    run_date: dt.date | None = None,
    full_refresh: bool = False,
    select: str | None = None,
    *,
    exclude: str | None = None,
    settings: Settings | None = None,
    vars: dict | None = None,
    tests: bool = True,
    unit_tests: bool | None = None,
) -> dbtRunnerResult:
    """``dbt build`` (seeds, models, data tests, unit tests) as of ``run_date``.

    Without a run date the project uses the latest landing day of raw events or orders.
    ``select`` / ``exclude`` are dbt selectors (space-separated, e.g. ``"staging marts.core"``);
    with either, only the tests whose every parent is built run (indirect selection
    "cautious"), so a test that also reads an unbuilt model is left out.
    ``tests=False`` builds seeds and models only, e.g. when backfilling many days.
    ``unit_tests`` (default: as ``tests``) runs the dbt unit tests, which check the SQL's
    logic on fixed inputs and do not read the warehouse: CI runs them, a night need not.

    The project is parsed once per process (:func:`parsed_manifest`) and the run date
    given to the build alone, so a process building many nights parses once.
    """
    s = settings or get_settings()
    if unit_tests is None:
        unit_tests = tests
    # nothing reads dbt's manifest.json / run_results.json (the result comes back in
    # process), and serializing them costs seconds a build
    args = ["build", "--no-write-json"]
    if not tests:
        args += ["--exclude-resource-type", "test"]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if select:
        args += ["--select", *select.split()]
    if exclude:
        args += ["--exclude", *exclude.split()]
    if select or exclude:
        args += ["--indirect-selection", "cautious"]
    if full_refresh:
        args.append("--full-refresh")
    manifest = parsed_manifest(s, {k: v for k, v in (vars or {}).items() if k not in RUN_TIME_VARS})
    all_vars = dict(vars or {})
    if run_date is not None:
        all_vars[RUN_DATE_VAR] = run_date.isoformat()
    if engines.is_spark(s):
        try:
            engines.check_spark_session(s)
        except engines.EngineError as exc:
            raise DbtError(" ".join(args), [], exc) from None
        all_vars[PARQUET_SOURCES_VAR] = engines.export_sources(s)
    return run_dbt(args, settings=s, vars=all_vars or None, manifest=manifest)


def docs_generate(settings: Settings | None = None) -> Path:
    """Generate dbt docs; returns the folder holding index.html."""
    s = settings or get_settings()
    run_dbt(["docs", "generate"], settings=s)
    return s.data / "dbt" / "target"


# The seeds a night's build last loaded: the fingerprint of their files and tables (in the
# schema the analyst snapshot never copies, beside the other state only the pipeline reads).
SEED_STATE_TABLE = ("private", "dbt_seed_state")


def _seed_relations(settings: Settings) -> list[tuple[str, str]]:
    """(schema, table) of every seed of the project, as the parsed project names them."""
    manifest = parsed_manifest(settings)
    return sorted(
        (node.schema, node.alias)
        for node in manifest.nodes.values()
        if node.resource_type == "seed"
    )


def seed_fingerprint(settings: Settings) -> str | None:
    """A digest of what the seeds' load depends on and what it left: the seed files (CSV
    and properties), ``dbt_project.yml`` (their column types) and the content of every
    seed table in the warehouse. None when a seed table is missing (a fresh warehouse)."""
    import hashlib

    from tailor.sqlsafe import quote_ident
    from tailor.warehouse import session

    digest = hashlib.sha256()
    project = settings.dbt_project
    for path in [project / "dbt_project.yml", *sorted((project / "seeds").rglob("*"))]:
        if path.is_file():
            digest.update(f"{path.relative_to(project)}\0".encode())
            digest.update(path.read_bytes())
    with session(settings.warehouse, settings=settings) as con:
        tables = set(
            con.execute(
                "select schema_name, table_name from duckdb_tables()"
                " where database_name = current_database()"
            ).fetchall()
        )
        for schema, table in _seed_relations(settings):
            if (schema, table) not in tables:
                return None
            rows, content = con.execute(
                f"select count(*), sum(hash(t))::varchar from"
                f" {quote_ident(schema)}.{quote_ident(table)} t"
            ).fetchall()[0]
            digest.update(f"{schema}.{table}\0{rows}\0{content}\0".encode())
    return digest.hexdigest()


def seeds_loaded(settings: Settings) -> bool:
    """Whether the warehouse's seed tables are those a build loaded from the seed files as
    they are now (nothing changed either side since): a night may then leave them, and
    their tests, as they are. Always False on Spark, whose tables are elsewhere."""
    if engines.is_spark(settings):
        return False
    from tailor.consent import has_table
    from tailor.sqlsafe import quote_ident
    from tailor.warehouse import session

    schema, table = SEED_STATE_TABLE
    with session(settings.warehouse, settings=settings) as con:
        recorded = (
            con.execute(
                f"select fingerprint from {quote_ident(schema)}.{quote_ident(table)}"
            ).fetchall()
            if has_table(con, schema, table)
            else []
        )
    return bool(recorded) and recorded[0][0] == seed_fingerprint(settings)


def record_seeds(settings: Settings) -> None:
    """Note in the warehouse the seeds a build has just loaded (see :func:`seeds_loaded`)."""
    if engines.is_spark(settings):
        return
    from tailor.sqlsafe import quote_ident
    from tailor.warehouse import session

    fingerprint = seed_fingerprint(settings)
    schema, table = SEED_STATE_TABLE
    name = f"{quote_ident(schema)}.{quote_ident(table)}"
    with session(settings.warehouse, settings=settings) as con:
        con.execute(f"create schema if not exists {quote_ident(schema)}")
        con.execute(f"create or replace table {name} (fingerprint varchar)")
        if fingerprint is not None:
            con.execute(f"insert into {name} values (?)", [fingerprint])
