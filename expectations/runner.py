"""Validate one layer of the warehouse for one run date with Great Expectations.

::

    from expectations.runner import validate_layer, ValidationFailed

    report = validate_layer("raw", date(2026, 10, 14))      # raises ValidationFailed on a
    report.warnings                                         # critical failure

What one call does:

1. plans each table's suite (:mod:`expectations.suites`): the batch, usually the run date's
   partition, and the expectations with their severities. A table that does not exist is
   a critical failure in ``raw`` and ``marts`` and a skipped table (a warning) in ``ml``;
2. runs every suite as plain SQL in DuckDB (:mod:`expectations.sql_checks`), into GX's
   result objects; a suite holding an expectation type that module does not know goes to
   one GX Checkpoint against the warehouse file instead, in SQL inside DuckDB
   (:mod:`expectations.duckdb_source`). Then it builds the Data Docs site
   (``<reports>/data_docs/index.html``) with the result. Values from data in the results
   (failure samples, failing rows, exception messages) are HTML-escaped before GX renders
   the pages, whose templates insert many of them as they are. Like the JSON report, the
   pages stay when the run then fails and its working copy is thrown away: they are what
   says why a gate stopped the night, so they can show records the warehouse never kept;
3. writes one row per expectation to ``ops.validation_results`` in the same warehouse
   (replacing that layer's rows for the run date, so a rerun does not pile up), and the
   whole report as JSON to ``<reports>/validation/<run date>/<layer>.json`` (which survives
   a failed pipeline run, whose working copy of the warehouse is thrown away);
4. raises :class:`ValidationFailed` when a ``critical`` expectation failed; the message
   names the table, the expectation and sample failing values. ``warning`` failures are
   only recorded (``report.warnings``).

The GX context is ephemeral (suites, data source and checkpoint are rebuilt from code on
every call) and made once per process (:func:`gx_context`), so a night's three gates pay
its set-up once; only validation results (``<data>/gx/validations``) and Data Docs persist.
Each gate renders its own validation pages, and the page of a suite only when the suite
changed (:func:`expectations.data_docs.suite_pages_to_render`): suites come from code and
are the same night after night. The Data Docs index, which lists every stored result and
so costs more as the history grows, is rebuilt by the night's last gate (``docs_index``)
or by a gate that fails, not by every gate.

This module imports Great Expectations only when a validation runs, so that importing it
(the pipeline, the CLI, the DAG) stays cheap.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expectations.data_docs import (  # noqa: F401  (data_docs_index: part of this module's API)
    DATA_DOCS_HISTORY,
    data_docs_index,
    escape_for_data_docs,
    localize_data_docs,
    record_suite_pages,
    suite_fingerprint,
    suite_pages_to_render,
    write_offline_index,
)
from tailor.runlog import jsonable
from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    import duckdb

    from expectations.suites.base import SuitePlan, TableSuite

log = logging.getLogger(__name__)

LAYERS = ("raw", "marts", "ml")
RESULTS_TABLE = "ops.validation_results"
DATA_DOCS_SITE = "tailor"
SAMPLE_SIZE = 10

RESULTS_DDL = f"""
create table if not exists {RESULTS_TABLE} (
    run_id varchar not null,            -- one validation run of one layer
    run_date date not null,             -- the logical day validated
    layer varchar not null,             -- raw | marts | ml
    suite varchar not null,             -- <layer>.<table>
    table_name varchar not null,        -- schema.table validated
    expectation varchar not null,       -- GX expectation type (expect_table_to_exist: the table is missing)
    column_name varchar,                -- the column (or columns) checked, if any
    description varchar,                -- what the expectation means
    severity varchar not null,          -- critical | warning
    success boolean not null,
    observed_value json,                -- GX's observed value (row count, unexpected rows, ...)
    element_count bigint,               -- rows checked
    unexpected_count bigint,            -- rows (or groups) that failed
    unexpected_percent double,
    sample_unexpected json,             -- up to 10 failing values, or failing rows as objects
    exception varchar,                  -- why the expectation could not be evaluated
    validated_at timestamp not null     -- UTC
)
"""


class ValidationFailed(RuntimeError):
    """A critical expectation failed; ``report`` holds every result."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.failure_message())


@dataclass
class ExpectationOutcome:
    """One expectation's result (one row of ``ops.validation_results``)."""

    suite: str
    table: str
    expectation: str
    severity: str
    success: bool
    column: str | None = None
    description: str | None = None
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample: list[Any] = field(default_factory=list)
    exception: str | None = None

    @property
    def name(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation

    def describe(self) -> str:
        """One line: table, expectation, what was found, sample failing values."""
        head = f"{self.table}: {self.name} [{self.severity}]"
        if self.description:
            head += f" - {self.description}"
        if self.success:
            return f"{head}: passed"
        if self.exception:
            return f"{head}: could not be evaluated: {self.exception}"
        found = []
        if self.unexpected_count is not None:
            of = f" of {self.element_count:,}" if self.element_count is not None else ""
            pct = (
                f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            )
            found.append(f"{self.unexpected_count:,}{of} unexpected{pct}")
        elif self.observed_value is not None:
            found.append(f"observed {_short(self.observed_value)}")
        if self.sample:
            found.append(f"sample: {_short(self.sample)}")
        return f"{head}: failed; " + "; ".join(found) if found else f"{head}: failed"


@dataclass
class ValidationReport:
    run_id: str
    run_date: dt.date
    layer: str
    warehouse: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    skipped_tables: list[str] = field(default_factory=list)
    data_docs: str | None = None
    report_file: str | None = None

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def success(self) -> bool:
        """True when no critical expectation failed (warnings allowed)."""
        return not self.critical_failures

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def failure_message(self) -> str:
        failures = self.critical_failures
        lines = [
            f"{self.layer} validation for {self.run_date} failed: {len(failures)} critical "
            f"expectation(s) failed (run {self.run_id})"
        ]
        lines += [f"  - {o.describe()}" for o in failures]
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """Plain JSON types, for the run report and the pipeline's stage results."""
        return {
            "run_id": self.run_id,
            "run_date": self.run_date.isoformat(),
            "layer": self.layer,
            "success": self.success,
            "expectations": len(self.outcomes),
            "passed": sum(o.success for o in self.outcomes),
            "critical_failures": [o.describe() for o in self.critical_failures],
            "warnings": [o.describe() for o in self.warnings],
            "skipped_tables": list(self.skipped_tables),
            "seconds": round(self.seconds, 2) if self.seconds is not None else None,
            "data_docs": self.data_docs,
            "report_file": self.report_file,
        }

    def to_json(self) -> str:
        doc = self.summary()
        doc["outcomes"] = [jsonable(asdict(o)) for o in self.outcomes]
        doc["warehouse"] = self.warehouse
        doc["started_at"] = self.started_at.isoformat()
        doc["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return json.dumps(doc, indent=2, default=str)


# --------------------------------------------------------------------------- API


def validate_layer(
    layer: str,
    run_date: dt.date,
    settings: Settings | None = None,
    *,
    docs_index: bool = True,
) -> ValidationReport:
    """Validate ``layer`` (raw | marts | ml) of the warehouse for ``run_date``.

    Returns the report; raises :class:`ValidationFailed` (with the report) when a critical
    expectation failed. Results are written to ``ops.validation_results`` either way.
    ``docs_index=False`` renders this validation's Data Docs pages but leaves the site's
    index to a later gate of the same night (a failure rebuilds it all the same).
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; choose from {', '.join(LAYERS)}")
    s = settings or get_settings()
    if not s.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {s.warehouse}: load some data first")

    from expectations.duckdb_source import gate_database
    from expectations.suites import LAYERS as SUITES
    from expectations.suites.base import SuiteContext
    from tailor.warehouse import connect, session

    started = utcnow()
    report = ValidationReport(
        run_id=f"{layer}-{run_date.isoformat()}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        run_date=run_date,
        layer=layer,
        warehouse=str(s.warehouse),
        started_at=started,
    )
    with gate_database(layer, s) as database:
        con = connect(database, settings=s)
        try:
            ctx = SuiteContext(layer=layer, run_date=run_date, settings=s, con=con)
            plans = plan_suites(report, SUITES[layer], ctx)
            if plans:
                run_suites(report, plans, s, database, con=con, docs_index=docs_index)
            report.finished_at = utcnow()
            if database == s.warehouse:
                write_results(con, report)
        finally:
            con.close()
    if database != s.warehouse:  # a Spark build's copy: the results go to the warehouse
        with session(s.warehouse, settings=s) as out:
            write_results(out, report)
    report.report_file = str(write_report_file(report, s))
    log.info(
        "%s validation for %s: %d expectations, %d critical failures, %d warnings in %.1f s",
        layer,
        run_date,
        len(report.outcomes),
        len(report.critical_failures),
        len(report.warnings),
        report.seconds or 0.0,
    )
    if not report.success:
        raise ValidationFailed(report)
    return report


def stage(layer: str) -> Callable[[Any], dict[str, Any]]:
    """A pipeline stage validating ``layer`` for the run's day on the run's warehouse.

    The stage takes a ``tailor.pipeline.RunContext`` and returns the report's summary
    (plain JSON: it becomes the stage's result / XCom); a critical failure raises
    :class:`ValidationFailed`, which stops the run before the next stage.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; choose from {', '.join(LAYERS)}")

    def run(ctx: Any) -> dict[str, Any]:
        return validate_layer(layer, ctx.day, ctx.settings).summary()

    run.__name__ = run.__qualname__ = f"stage_validate_{layer}"
    run.__doc__ = f"Validate the {layer} layer for the run's day (Great Expectations)."
    return run


# --------------------------------------------------------------------------- planning


def plan_suites(
    report: ValidationReport, suites: Iterable[TableSuite], ctx: Any
) -> list[tuple[TableSuite, SuitePlan]]:
    plans = []
    for suite in suites:
        name = suite.suite_name(report.layer)
        if not ctx.exists(suite.table):
            skip = suite.if_missing == "skip"
            if skip:
                report.skipped_tables.append(suite.table)
            report.outcomes.append(
                ExpectationOutcome(
                    suite=name,
                    table=suite.table,
                    expectation="expect_table_to_exist",
                    severity="warning" if skip else "critical",
                    success=False,
                    description=(
                        "table missing: not built yet, its checks were skipped"
                        if skip
                        else "table missing: the layer must have it"
                    ),
                    observed_value="missing",
                )
            )
            continue
        try:
            plans.append((suite, suite.plan(ctx)))
        except Exception as exc:  # a suite that cannot even be planned is a failed gate
            report.outcomes.append(
                ExpectationOutcome(
                    suite=name,
                    table=suite.table,
                    expectation="plan_suite",
                    severity="critical",
                    success=False,
                    description="the suite could be planned",
                    exception=f"{type(exc).__name__}: {exc}",
                )
            )
    return plans


# --------------------------------------------------------------------------- running


# The process's GX context, under the folders its results and pages go to (one entry).
_CONTEXT: dict[tuple[str, str], Any] = {}


def gx_context(settings: Settings):
    """The process's ephemeral GX context whose validation results and Data Docs go to disk:
    made on the first call, reused by every later gate whose settings put them in the same
    folders (the suites, data source and checkpoint of each validation replace those of the
    same name, see :func:`_run_gx`)."""
    results_dir = settings.data / "gx" / "validations"
    docs_dir = settings.reports / "data_docs"
    results_dir.mkdir(parents=True, exist_ok=True)
    docs_dir.mkdir(parents=True, exist_ok=True)
    key = (str(results_dir), str(docs_dir))
    context = _CONTEXT.get(key)
    if context is None:
        context = _new_gx_context(results_dir, docs_dir)
        _CONTEXT.clear()
        _CONTEXT[key] = context
    return context


def _new_gx_context(results_dir: Path, docs_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    import expectations.duckdb_source  # noqa: F401  (registers the tailor_duckdb data source)

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars={"globally": False, "metric_calculations": False},
    )
    config.stores[config.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(results_dir),
        },
    }
    config.data_docs_sites = {
        DATA_DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "validation_results_limit": DATA_DOCS_HISTORY,
            },
        }
    }
    return gx.get_context(project_config=config, mode="ephemeral")


def _forget(
    context: Any, layer: str, suite_names: Iterable[str], *, datasource: bool = True
) -> None:
    """Remove from the process's context what an earlier validation of ``layer`` left (its
    validation definitions and suites; with ``datasource``, its checkpoint and data source
    too), so the new ones can be added under the same names (the Data Docs paths carry the
    suite names). Removed from the stores by key: reading them back would rebuild objects
    whose data asset is gone."""
    stores = [(context.checkpoint_store, f"tailor_{layer}")] if datasource else []
    for name in suite_names:
        stores += [(context.validation_definition_store, name), (context.expectations_store, name)]
    for store, name in stores:
        key = store.get_key(name=name)
        if store.has_key(key):
            store.remove_key(key)
    if datasource and f"tailor_{layer}" in context.data_sources.all():
        context.data_sources.delete(f"tailor_{layer}")


def run_suites(
    report: ValidationReport,
    plans: list[tuple[TableSuite, SuitePlan]],
    settings: Settings,
    database: Path,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    docs_index: bool = True,
    pages: Callable[[Any], bool] | None = None,
) -> None:
    """Validate every planned suite, add the outcomes to ``report``, store the results and
    render their Data Docs pages: every result's, or those ``pages`` accepts (a GX suite
    validation result).

    A suite whose every expectation :mod:`expectations.sql_checks` knows is evaluated in
    SQL on ``con``: all of Tailor's suites. A suite holding any other expectation type
    (one added to a suite from GX's gallery, say) is validated by a GX checkpoint on
    ``database``, as is every suite when there is no ``con``."""
    import great_expectations as gx

    from expectations import sql_checks

    context = gx_context(settings)
    tables = {suite.suite_name(report.layer): suite.table for suite, _ in plans}
    in_sql: list[tuple[TableSuite, SuitePlan]] = []
    in_gx: list[tuple[TableSuite, SuitePlan]] = []
    for planned in plans:
        ok = con is not None and sql_checks.supported(planned[1].expectations)
        (in_sql if ok else in_gx).append(planned)
    run_results: dict[Any, Any] = {}
    shown: dict[Any, Any] = {}
    fingerprints: dict[str, str] = {}
    to_render: list[str] = []
    if in_gx:  # first: it sets its suites up anew in the context, leaving the others be
        results, gx_fingerprints = _run_gx(report, in_gx, settings, database)
        run_results.update(results)
        fingerprints.update(gx_fingerprints)
        shown.update({k: v for k, v in results.items() if pages is None or pages(v)})
        names = {v.suite_name for v in shown.values()}
        to_render += suite_pages_to_render(
            settings, {n: f for n, f in gx_fingerprints.items() if n in names}
        )
    if in_sql:
        assert con is not None
        results = _run_sql(report, in_sql, con)
        run_results.update(results)
        sql_shown = {k: v for k, v in results.items() if pages is None or pages(v)}
        shown.update(sql_shown)
        expectations = {s.suite_name(report.layer): p.expectations for s, p in in_sql}
        suites = {
            v.suite_name: gx.ExpectationSuite(
                name=v.suite_name, expectations=expectations[v.suite_name]
            )
            for v in sql_shown.values()
        }
        sql_fingerprints = {n: suite_fingerprint(s.to_json_dict()) for n, s in suites.items()}
        fingerprints.update(sql_fingerprints)
        pending = suite_pages_to_render(settings, sql_fingerprints)
        _forget(context, report.layer, pending, datasource=False)
        for name in pending:
            context.suites.add(suites[name])
        to_render += pending
    for validation in run_results.values():
        suite_name = validation.suite_name
        for r in validation.results:
            report.outcomes.append(_outcome(suite_name, tables.get(suite_name, suite_name), r))
    # GX's page templates put many values in the page as they are (the unexpected values
    # table among them): the pages are rendered from stored results whose data is escaped.
    for key, validation in shown.items():
        escape_for_data_docs(validation)
        context.validation_results_store.set(key, validation)
    _build_data_docs(report, context, shown, to_render, fingerprints, settings, docs_index)


def _run_sql(
    report: ValidationReport,
    plans: list[tuple[TableSuite, SuitePlan]],
    con: duckdb.DuckDBPyConnection,
) -> dict[Any, Any]:
    """Each suite evaluated in SQL (:func:`expectations.sql_checks.evaluate`), as GX's
    validation results keyed as a checkpoint keys them."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from expectations import sql_checks

    run_id = RunIdentifier(run_name=report.run_id, run_time=report.started_at)
    datasource = f"tailor_{report.layer}"
    t0 = time.perf_counter()
    run_results: dict[Any, Any] = {}
    for suite, plan in plans:
        name = suite.suite_name(report.layer)
        results = sql_checks.evaluate(con, plan.query, plan.expectations)
        passed = sum(bool(r.success) for r in results)
        batch_id = f"{datasource}-{suite.table}"
        validation = ExpectationSuiteValidationResult(
            success=passed == len(results),
            results=results,
            suite_name=name,
            statistics={
                "evaluated_expectations": len(results),
                "successful_expectations": passed,
                "unsuccessful_expectations": len(results) - passed,
                "success_percent": 100.0 * passed / len(results) if results else None,
            },
            meta={
                "active_batch_definition": {
                    "batch_identifiers": {},
                    "data_asset_name": suite.table,
                    "data_connector_name": "sql",
                    "datasource_name": datasource,
                },
                "batch_spec": {"data_asset_name": suite.table, "query": plan.query},
                "run_id": run_id.to_json_dict(),
                "validation_time": report.started_at.isoformat(),
                "evaluated_by": "tailor sql_checks",
            },
            batch_id=batch_id,
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
            run_id=run_id,
            batch_identifier=batch_id,
        )
        run_results[key] = validation
    log.debug("%d suites evaluated in SQL in %.1f s", len(plans), time.perf_counter() - t0)
    return run_results


def _run_gx(
    report: ValidationReport,
    plans: list[tuple[TableSuite, SuitePlan]],
    settings: Settings,
    database: Path,
) -> tuple[dict[Any, Any], dict[str, str]]:
    """Every suite validated by one GX checkpoint: (results by key, suite fingerprints)."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    from tailor.warehouse import duckdb_config

    context = gx_context(settings)
    _forget(context, report.layer, (suite.suite_name(report.layer) for suite, _ in plans))
    datasource = context.data_sources.add_tailor_duckdb(
        name=f"tailor_{report.layer}",
        connection_string=f"duckdb:///{database}",
        duckdb_config=duckdb_config(settings),
    )
    fingerprints: dict[str, str] = {}
    try:
        definitions = []
        for suite, plan in plans:
            name = suite.suite_name(report.layer)
            asset = datasource.add_query_asset(name=suite.table, query=plan.query)
            batch = asset.add_batch_definition_whole_table(f"{report.layer} {report.run_date}")
            gx_suite = context.suites.add(
                gx.ExpectationSuite(name=name, expectations=plan.expectations)
            )
            fingerprints[name] = suite_fingerprint(gx_suite.to_json_dict())
            definitions.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
                )
            )
        # Data Docs are built once for the whole checkpoint below, not by an
        # UpdateDataDocsAction, which rebuilds the site (index included) once per table.
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"tailor_{report.layer}",
                validation_definitions=definitions,
                actions=[],
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": SAMPLE_SIZE,
                },
            )
        )
        t0 = time.perf_counter()
        result = checkpoint.run(
            run_id=RunIdentifier(run_name=report.run_id, run_time=report.started_at)
        )
        log.debug("checkpoint ran in %.1f s", time.perf_counter() - t0)
    finally:
        datasource.dispose()
    return dict(result.run_results), fingerprints


def _build_data_docs(
    report: ValidationReport,
    context: Any,
    run_results: Mapping[Any, Any],
    suites: Iterable[str],
    fingerprints: Mapping[str, str],
    settings: Settings,
    docs_index: bool,
) -> None:
    """The pages of this validation's results and of the suites in ``suites``; the index
    too when ``docs_index`` or the validation failed."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    suites = list(suites)
    t0 = time.perf_counter()
    written_after = time.time() - 2  # file times are coarser than the clock
    # the index lists every stored result: once a night (the last gate), or when a gate
    # fails, since its pages are what says why the night stopped
    build_index = docs_index or not report.success
    # a suite page is rendered again only when its suite changed (or the page is gone)
    context.build_data_docs(
        site_names=[DATA_DOCS_SITE],
        resource_identifiers=[
            *run_results.keys(),
            *(ExpectationSuiteIdentifier(name=name) for name in suites),
        ],
        build_index=build_index,
    )
    record_suite_pages(settings, {name: fingerprints[name] for name in suites})
    log.debug("data docs built in %.1f s", time.perf_counter() - t0)
    if build_index:
        write_offline_index(settings)
    localize_data_docs(settings, since=written_after)
    index = data_docs_index(settings)
    report.data_docs = str(index) if index.exists() else None


def _outcome(suite: str, table: str, r: Any) -> ExpectationOutcome:
    config = r.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or (
        ",".join(kwargs["column_list"]) if kwargs.get("column_list") else None
    )
    res: Mapping[str, Any] = r.result or {}
    severity = getattr(config.severity, "value", config.severity) or "critical"
    sample = res.get("partial_unexpected_list")
    if sample is None:
        sample = (res.get("details") or {}).get("unexpected_rows")
    unexpected = res.get("unexpected_count")
    if unexpected is None and config.type in (
        "unexpected_rows_expectation",
        "expect_no_unexpected_rows",
    ):
        unexpected = res.get("observed_value")
    return ExpectationOutcome(
        suite=suite,
        table=table,
        expectation=config.type,
        severity=str(severity),
        success=bool(r.success),
        column=column,
        description=config.description,
        observed_value=jsonable(res.get("observed_value")),
        element_count=res.get("element_count"),
        unexpected_count=unexpected,
        unexpected_percent=res.get("unexpected_percent"),
        sample=jsonable(list(sample or [])[:SAMPLE_SIZE]),
        exception=_exception(r.exception_info),
    )


def _exception(info: Any) -> str | None:
    """The first exception message GX recorded for an expectation, if it raised."""
    if not info:
        return None
    if isinstance(info, Mapping) and "raised_exception" in info:
        infos: Iterable[Any] = [info]
    elif isinstance(info, Mapping):
        infos = info.values()
    else:
        infos = [info]
    for item in infos:
        item = item if isinstance(item, Mapping) else getattr(item, "to_json_dict", lambda: {})()
        if item.get("raised_exception"):
            return str(item.get("exception_message") or "unknown error").splitlines()[0][:500]
    return None


# --------------------------------------------------------------------------- recording


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ops")
    con.execute(RESULTS_DDL)


def write_results(con: duckdb.DuckDBPyConnection, report: ValidationReport) -> None:
    """Replace the layer's rows for the run date with this report's, in one transaction."""
    ensure_results_table(con)
    validated_at = report.finished_at or utcnow()
    rows = [
        [
            report.run_id,
            report.run_date,
            report.layer,
            o.suite,
            o.table,
            o.expectation,
            o.column,
            o.description,
            o.severity,
            o.success,
            None if o.observed_value is None else json.dumps(o.observed_value, default=str),
            o.element_count,
            o.unexpected_count,
            o.unexpected_percent,
            json.dumps(o.sample, default=str) if o.sample else None,
            o.exception,
            validated_at,
        ]
        for o in report.outcomes
    ]
    con.execute("begin transaction")
    try:
        con.execute(
            f"delete from {RESULTS_TABLE} where run_date = ? and layer = ?",
            [report.run_date, report.layer],
        )
        if rows:
            con.executemany(f"insert into {RESULTS_TABLE} values ({', '.join(['?'] * 17)})", rows)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def write_report_file(report: ValidationReport, settings: Settings) -> Path:
    path = settings.reports / "validation" / report.run_date.isoformat() / f"{report.layer}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    report.report_file = str(path)
    tmp.write_text(report.to_json())
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- helpers


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
