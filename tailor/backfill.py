"""A range of days built in one pass (``tailor run --from D1 --to D2``): a backfill.

Night by night, a range of N days pays N times what every night pays whatever its data
(a working copy of the warehouse, three Great Expectations gates, two dbt builds with
their tests, every ML model fitted, exports). A backfill pays it once, the way snowplow's
dbt packages process a backfill window:

1. one working copy of the warehouse for the whole range, swapped in once at the end (a
   failure at any step leaves the warehouse, the snapshot and the exports as they were);
2. every day of the range loaded (``raw.*``, quarantine), the erasure requests that
   arrived by D2 applied, each day's raw partition validated by that day's suites, every
   day in one validation run (:func:`validate_raw_range`);
3. the per-day history tables filled from their "as of" logic: for every day before D2,
   one dbt build (models only, no tests) of the models ``customer_segment_history``
   reads, as of that day, which appends that day's snapshot exactly as that night would
   have (the models are "as of" their run date: rebuilding an earlier day with later
   days loaded gives that day's tables, tests/integration/test_dbt.py);
4. one ``dbt build`` (tests included) as of D2, the marts gate, ML once as of D2, the
   audiences, the output gate, the anomaly metrics of every day of the range;
5. exports only when asked (``export=True``): the audiences as of D2, what a night-by-night
   run would leave in each destination; past days are never sent.

What differs from night by night, by nature: the ML tables (``ml.*``: segments,
propensity, recommendations, ``ml.model_runs``, ``ml.segment_transitions``) hold one run,
as of D2, instead of one per night; so do the models built on them (``customer_360``, the
audiences: ML segment ids and model choices depend on the runs before them), the output
metrics of ``ops.metrics`` (input metrics are there for every day), Great Expectations
results of the marts and ML gates (``ops.validation_results``), run reports, and export
logs. The current-state marts and the per-day segment history equal night by night's
(tests/integration/test_backfill.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailor.pipeline import (
    STAGES,
    RunContext,
    finish_run,
    load_days,
    run_stage,
    stage_dbt_build,
    stage_erase,
    working_copy,
)
from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    from expectations.runner import ValidationReport
    from expectations.suites.base import TableSuite

log = logging.getLogger(__name__)

# The models a past day's snapshot is built from: customer_segment_history and every
# model above it (staging, identity, stitched events, sessions, orders, customer
# aggregates, RFM, lifecycle), and the seeds they join (the first day only: seeds do not
# depend on the day); tests are left to the build as of D2.
HISTORY_SELECT = "+customer_segment_history"
HISTORY_MODELS = f"{HISTORY_SELECT},resource_type:model"

# The stages of a night the backfill runs once, as of the range's last day.
_ONCE = ("validate_marts", "segment", "score", "recommend", "dbt_audiences", "validate_ml")


def days_of(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def stages(start: dt.date, end: dt.date, *, export: bool = False) -> Iterator[tuple[str, Callable]]:
    """The backfill's stages in order, each a function of a ``RunContext`` whose day is
    ``end`` (the same shape as ``tailor.pipeline.STAGES``)."""
    days = days_of(start, end)
    by_name = dict(STAGES)

    def load(ctx: RunContext) -> object:
        return {"days": len(days), **load_days(ctx.settings, days)}

    def validate_raw(ctx: RunContext) -> object:
        summaries = [r.summary() for r in validate_raw_range(days, ctx.settings)]
        return {
            "days": len(days),
            "expectations": sum(s.get("expectations", 0) for s in summaries),
            "warnings": [w for s in summaries for w in s.get("warnings") or []],
        }

    def history(ctx: RunContext) -> object:
        from tailor import transform

        past = days[:-1]  # the last day's snapshot comes with the build as of D2
        with transform.holding_warehouse():  # one checkpoint for all the days, not one a day
            for i, d in enumerate(past):
                select = HISTORY_MODELS if i else HISTORY_SELECT
                transform.build(d, select=select, settings=ctx.settings, tests=False)
        return {"snapshot_days": len(past)}

    def anomalies(ctx: RunContext) -> object:
        from tailor.anomalies import backfill

        if len(days) > 1:  # the input metrics of the days before D2, each day judged
            backfill(ctx.settings, days[0], days[-2])
        return by_name["anomalies"](ctx)

    yield "load", load
    yield "erase", stage_erase
    yield "validate_raw", validate_raw
    yield "history", history
    yield "dbt_build", stage_dbt_build
    for name in _ONCE:
        yield name, by_name[name]
    yield "anomalies", anomalies
    if export:
        yield "export", by_name["export"]


@dataclass(frozen=True)
class _DaySuite:
    """A table's suite for one day of a range, under a name of its own: one validation run
    holds every day's suite of every table, keyed by suite name (as GX keys suites, data
    assets and Data Docs pages)."""

    suite: TableSuite
    day: dt.date

    @property
    def table(self) -> str:
        return f"{self.suite.table}_{self.day:%Y%m%d}"

    def suite_name(self, layer: str) -> str:
        return f"{self.suite.suite_name(layer)}_{self.day:%Y%m%d}"


def validate_raw_range(days: list[dt.date], settings: Settings) -> list[ValidationReport]:
    """The raw gate of every day of ``days`` as one validation run: each day's partitions
    checked by that day's suites (the same expectations, thresholds and baselines as its
    night's gate), all of them in one run (the raw checks in SQL), one Data Docs build.
    Each day's results replace that day's raw rows in ``ops.validation_results`` and its
    JSON report, as a night's gate does; a critical failure on any day raises
    :class:`~expectations.runner.ValidationFailed` (the first such day's report) once every
    day is recorded. Returns the days' reports, in order.

    Data Docs pages are rendered for the last day and for any day a check failed on
    (rendering was most of the time left once the checks ran in SQL); every day's results
    are in ``ops.validation_results`` and its JSON report."""
    from expectations import runner
    from expectations.suites import LAYERS as SUITES
    from expectations.suites.base import SuiteContext
    from tailor.warehouse import connect

    started = runner.utcnow()
    tag = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    def report(run_id: str, day: dt.date) -> ValidationReport:
        return runner.ValidationReport(
            run_id=run_id,
            run_date=day,
            layer="raw",
            warehouse=str(settings.warehouse),
            started_at=started,
        )

    reports = {d: report(f"raw-{d.isoformat()}-{tag}", d) for d in days}
    whole = report(f"raw-{days[0].isoformat()}..{days[-1].isoformat()}-{tag}", days[-1])
    con = connect(settings.warehouse, settings=settings)
    try:
        plans: list[tuple[Any, Any]] = []
        for d in days:
            ctx = SuiteContext(layer="raw", run_date=d, settings=settings, con=con)
            plans += [
                (_DaySuite(suite, d), plan)
                for suite, plan in runner.plan_suites(reports[d], SUITES["raw"], ctx)
            ]
        if plans:
            # Data Docs pages for the last day and for any day a check failed on; every
            # day's results are in ops.validation_results and its JSON report
            last = f"_{days[-1]:%Y%m%d}"
            runner.run_suites(
                whole,
                plans,
                settings,
                settings.warehouse,
                con=con,
                docs_index=False,
                pages=lambda v: not v.success or v.suite_name.endswith(last),
            )
        of_suite = {p.suite_name("raw"): p for p, _ in plans}
        for outcome in whole.outcomes:
            part = of_suite[outcome.suite]
            reports[part.day].outcomes.append(
                dataclasses.replace(
                    outcome, suite=part.suite.suite_name("raw"), table=part.suite.table
                )
            )
        finished = runner.utcnow()
        for r in reports.values():
            r.finished_at = finished
            r.data_docs = whole.data_docs
            runner.write_results(con, r)
    finally:
        con.close()
    for r in reports.values():
        r.report_file = str(runner.write_report_file(r, settings))
    out = list(reports.values())
    log.info(
        "raw validation for %s..%s: %d days, %d expectations, %d critical failures,"
        " %d warnings in %.1f s",
        days[0],
        days[-1],
        len(days),
        sum(len(r.outcomes) for r in out),
        sum(len(r.critical_failures) for r in out),
        sum(len(r.warnings) for r in out),
        (finished - started).total_seconds(),
    )
    failed = next((r for r in out if not r.success), None)
    if failed is not None:
        raise runner.ValidationFailed(failed)
    return out


def backfill(
    start: dt.date,
    end: dt.date,
    settings: Settings | None = None,
    *,
    export: bool = False,
    publish: bool = True,
    report: bool = True,
    on_stage: Callable[[str, RunContext], None] | None = None,
    on_stage_done: Callable[[str, RunContext], None] | None = None,
) -> RunContext:
    """Build the days ``start`` .. ``end`` in one pass on one working copy (see the
    module), commit once, then publish the analyst snapshot and write the run report of
    ``end``. Returns the context of the pass (its day is ``end``; ``results`` and
    ``timings`` per stage)."""
    if end < start:
        raise ValueError(f"--from {start} is after --to {end}")
    s = settings or get_settings()
    with working_copy(s, run_id=f"backfill-{os.getpid()}") as work:
        ctx = RunContext(day=end, settings=work)
        for name, stage in stages(start, end, export=export):
            run_stage(name, stage, ctx, on_stage, on_stage_done)
    ctx.results["range"] = {"from": start.isoformat(), "to": end.isoformat()}
    started = time.perf_counter()
    finish_run(ctx, s, publish=publish, report=report)
    ctx.timings["publish"] = time.perf_counter() - started
    return ctx
