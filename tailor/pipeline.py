"""The nightly run for one logical day, stage by stage.

Each stage is a plain function of a ``RunContext``; the Airflow DAG calls the same
functions one task each, and ``tailor run`` calls them in order. A run works on a private
copy of the warehouse and only replaces the real file when every stage has passed, so a
failure at any step leaves the warehouse (and the published snapshot) as they were.
Where a run's copy lives on disk, and clearing what dead runs left, is ``tailor.runs``.

``tailor erase`` works the same way (:func:`erase_and_publish`): the erasure on a working
copy, the copy compacted and swapped in, the snapshot republished; ``tailor erase
--flush`` (:func:`flush_and_publish`) runs the pending erasures' physical part.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tailor import faults
from tailor.anomalies import held_by_anomalies
from tailor.runs import (  # the run's copy on disk; StageError etc. stay importable from here
    OutOfSpace,
    StageError,
    abort_run,
    clear_dead_runs,
    copy_out_of_space,
    fingerprint,
    free_space,
    is_out_of_space,
    remove_dead_copies,
    remove_dead_temp_files,  # noqa: F401
    run_of,  # noqa: F401
    work_dir,  # noqa: F401
    work_path,
)
from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    from tailor.privacy.erasure import ErasureResult

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    day: dt.date
    settings: Settings
    results: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


Stage = Callable[[RunContext], object]


def stage_load(ctx: RunContext) -> object:
    """Load the day's landing partitions into raw.*."""
    out: dict[str, object] = dict(load_days(ctx.settings, [ctx.day]))
    if out.pop("preloaded_days", 0):
        out["preloaded"] = True
    return out


def load_days(settings: Settings, days: list[dt.date]) -> dict[str, int]:
    """Load the landing partitions of ``days`` into raw.* through one connection (each
    day replaced in a transaction of its own); the totals of files and rows."""
    from tailor import ingest
    from tailor.warehouse import connect

    totals = {"files": 0, "read": 0, "loaded": 0, "quarantined": 0}
    con = connect(settings.warehouse, settings=settings)
    try:
        for day in days:
            if not any(
                ingest.partition_files(settings.landing, name, day) for name in ingest.SOURCES
            ):
                # A history loaded beforehand (`tailor load --from/--to`, or an export through
                # `tailor load --adapter`) is run as it stands; a day nobody loaded is an error.
                if not ingest.day_loaded(con, day):
                    raise StageError(
                        f"no landing files for {day} under {settings.landing}, "
                        "and nothing of that day in the warehouse"
                    )
                totals["preloaded_days"] = totals.get("preloaded_days", 0) + 1
                continue
            loads = ingest.load_day(con, settings.landing, day)
            totals["files"] += len(loads)
            totals["read"] += sum(x.rows_read for x in loads)
            totals["loaded"] += sum(x.rows_loaded for x in loads)
            totals["quarantined"] += sum(x.rows_quarantined for x in loads)
    finally:
        con.close()
    return totals


# The dbt layers built before the ML jobs; models that read ml.* (customer_360, the
# audiences) are built by a later stage.
DBT_SEEDS = "resource_type:seed "
DBT_CORE_SELECT = DBT_SEEDS + "staging intermediate marts.core marts.segmentation marts.ml"
DBT_AUDIENCES_SELECT = "marts.profiles marts.audiences"


def stage_dbt_build(ctx: RunContext) -> object:
    """dbt build (seeds, models and data tests) as of the day: one in-process invocation.
    The dbt unit tests check the SQL, not the day's data: CI runs them. The seeds (and
    their tests) are left out while the seed files and tables are those the last committed
    night loaded and checked."""
    from tailor import transform

    seeds_loaded = transform.seeds_loaded(ctx.settings)
    select = DBT_CORE_SELECT.replace(DBT_SEEDS, "") if seeds_loaded else DBT_CORE_SELECT
    nodes = transform.node_results(
        transform.build(ctx.day, select=select, settings=ctx.settings, unit_tests=False).result
    )
    if not seeds_loaded:
        transform.record_seeds(ctx.settings)
    slowest = sorted(nodes, key=lambda n: -n.seconds)[:10]
    return {"nodes": len(nodes), "slowest": [[n.node, round(n.seconds, 2)] for n in slowest]}


def _validate(layer: str, ctx: RunContext) -> object:
    from expectations.runner import LAYERS, validate_layer

    # the Data Docs index once a night, by its last gate (a failing gate builds it too)
    last = layer == LAYERS[-1]
    return validate_layer(layer, ctx.day, ctx.settings, docs_index=last).summary()


def stage_validate_raw(ctx: RunContext) -> object:
    """Great Expectations on the day's raw partitions; a critical failure stops the run."""
    return _validate("raw", ctx)


def stage_validate_marts(ctx: RunContext) -> object:
    """Great Expectations on the marts; a critical failure stops the run before ML."""
    return _validate("marts", ctx)


def stage_segment(ctx: RunContext) -> object:
    """Customer segments (K-Means, stable ids across nights) into ml.customer_segments."""
    from ml.pipeline import stage_segment as segment

    return segment(ctx)


def stage_score(ctx: RunContext) -> object:
    """Churn and purchase propensity, calibrated, into ml.propensity_scores."""
    from ml.pipeline import stage_score as score

    return score(ctx)


def stage_recommend(ctx: RunContext) -> object:
    """Recommendations and similar items, the best model by NDCG@10 on a temporal
    holdout, into ml.recommendations, ml.similar_items and ml.model_runs."""
    from ml.recommend import run as recommend

    return recommend(ctx)


def stage_dbt_audiences(ctx: RunContext) -> object:
    """dbt build of the models on top of the ML outputs: customer_360 and the audiences."""
    from tailor import transform

    nodes = transform.node_results(
        transform.build(
            ctx.day, select=DBT_AUDIENCES_SELECT, settings=ctx.settings, unit_tests=False
        ).result
    )
    return {"nodes": len(nodes)}


def stage_validate_ml(ctx: RunContext) -> object:
    """Great Expectations on the ML outputs and the audiences (no one without consent in
    an email audience); a critical failure stops the run before anything is exported."""
    return _validate("ml", ctx)


def stage_erase(ctx: RunContext) -> object:
    """Apply the erasure requests that arrived by the day to every table, and keep erased
    people out of the partitions just loaded; delete landing partitions past retention;
    run the pending erasures' physical part (files, compaction) when the oldest is due."""
    from tailor.privacy import erasure, physical

    return {**erasure.run(ctx), **physical.run_night(ctx)}


def stage_anomalies(ctx: RunContext) -> object:
    """The day's metric series into ops.metrics (volumes, conversion, quarantine, consent,
    recommendation coverage, audience sizes), judged against the weekly pattern and trend
    of the past weeks; anomalies into ops.anomalies, the run log and the alert webhook. A critical
    anomaly on an input metric holds the exports when config/tailor.yml says so."""
    from tailor import anomalies

    return anomalies.run(ctx)


def stage_export(ctx: RunContext) -> object:
    """Stage every enabled destination's audience export for the day; the commit publishes
    them (files moved into place, webhooks sent)."""
    from tailor import exports

    return exports.run(ctx)


STAGES: list[tuple[str, Stage]] = [
    ("load", stage_load),
    ("erase", stage_erase),
    ("validate_raw", stage_validate_raw),
    ("dbt_build", stage_dbt_build),
    ("validate_marts", stage_validate_marts),
    ("segment", stage_segment),
    ("score", stage_score),
    ("recommend", stage_recommend),
    ("dbt_audiences", stage_dbt_audiences),
    ("validate_ml", stage_validate_ml),
    ("anomalies", stage_anomalies),
    ("export", held_by_anomalies(stage_export)),
]


def begin_run(settings: Settings, run_id: str) -> Settings:
    """Start a run: copy the warehouse to a private working file and return settings
    pointing at it. Every stage of the run writes there, nowhere else.

    First, exports a committed night left unpublished or undelivered (killed after its
    commit, a webhook down) are published, and staged exports of runs that died are
    deleted (``tailor.exports.publication``). Then the leftovers of runs that died (their
    working copies and temp files) are removed, so that one crash or full disk does not
    fail every later run. A copy that fails (the disk is full, ...) is removed before the
    error is raised; a full disk is reported as :class:`OutOfSpace`, with the space
    needed and the space free."""
    from tailor.exports import publication

    real = settings.warehouse
    real.parent.mkdir(parents=True, exist_ok=True)
    work = work_path(settings, run_id)
    publication.recover(settings)
    publication.discard(settings, run_id)
    abort_run(settings, run_id)
    clear_dead_runs(settings)
    try:
        work.parent.mkdir()
        if real.exists():
            _checkpoint(real, settings)
            needed = real.stat().st_size
            free = shutil.disk_usage(work.parent).free
            if free < needed:
                raise OutOfSpace(copy_out_of_space(needed, work.parent, free))
            shutil.copyfile(real, work)
    except BaseException as exc:
        abort_run(settings, run_id)
        if is_out_of_space(exc) and not isinstance(exc, OutOfSpace):
            needed = real.stat().st_size if real.exists() else 0
            raise OutOfSpace(copy_out_of_space(needed, work.parent)) from exc
        raise
    return dataclasses.replace(settings, warehouse=work)


def _stage_error(name: str, ctx: RunContext, exc: BaseException) -> StageError:
    """The error a failed stage raises: a full disk says so, and where."""
    if not is_out_of_space(exc):
        return StageError(f"stage {name!r} failed for {ctx.day}: {exc}")
    where = {ctx.settings.warehouse.parent, ctx.settings.duckdb_temp}
    return OutOfSpace(
        f"no space left on device in stage {name!r} for {ctx.day}: "
        + ", ".join(f"{free_space(p)} free at {p}" for p in sorted(where))
        + f" ({exc})"
    )


def commit_run(settings: Settings, run_id: str) -> list[dict[str, object]]:
    """Swap the run's working file in as the warehouse (an atomic rename), its tables'
    descriptions written as comments first (``tailor.descriptions``); then remove the
    erasure requests it applied from the landing zone (kept there until now, so that a
    failed run's rerun still finds them), and publish the exports the run staged (moved
    into place, webhooks sent: ``tailor.exports.publication``). Returns what happened to
    each export published."""
    from tailor.exports import publication
    from tailor.privacy.landing import purge_committed_requests

    work = work_path(settings, run_id)
    if not work.exists():
        raise StageError(f"run {run_id}: no working warehouse at {work} to commit")
    _checkpoint(work, settings, describe=True)
    os.replace(work, settings.warehouse)
    shutil.rmtree(work.parent, ignore_errors=True)
    try:
        purge_committed_requests(settings)
    except Exception:  # committed all the same; the next night's erase stage removes them
        log.exception("could not remove the applied erasure requests from the landing zone")
    faults.maybe_fail("commit.before_publish")
    try:
        return publication.finish_run(settings, run_id)
    except Exception:  # committed all the same; the next run's start publishes them
        log.exception("could not publish the exports of run %s", run_id)
        return []


@contextmanager
def working_copy(settings: Settings, run_id: str | None = None) -> Iterator[Settings]:
    """Settings pointing at a private copy of the warehouse; swapped in only on success,
    after which the copies of runs that died are deleted."""
    from tailor.exports import publication

    run_id = run_id or str(os.getpid())
    work = begin_run(settings, run_id)
    base = fingerprint(settings.warehouse)
    committed = False
    try:
        yield work
        if fingerprint(settings.warehouse) != base:
            # e.g. the Airflow DAG committed a day meanwhile: replacing the warehouse now
            # would silently undo that day
            raise StageError(
                f"the warehouse {settings.warehouse} changed while this run worked on its"
                " copy (another run committed); nothing was written: run it again"
            )
        commit_run(settings, run_id)
        committed = True
        removed = remove_dead_copies(settings)
        if removed:
            log.info("removed the working copies of runs that died: %s", ", ".join(removed))
    finally:
        abort_run(settings, run_id)
        if not committed:  # nothing of a failed run may be published
            publication.discard(settings, run_id)


def _checkpoint(path: Path, settings: Settings, describe: bool = False) -> None:
    """Checkpoint ``path``; with ``describe``, first write the descriptions of the tables
    Tailor's jobs create (``tailor.descriptions``) as comments."""
    from tailor import descriptions
    from tailor.warehouse import connect

    con = connect(path, settings=settings)
    try:
        if describe:
            descriptions.apply(con, settings.dbt_project)
        con.execute("checkpoint")
    finally:
        con.close()


def run_day(
    day: dt.date,
    settings: Settings | None = None,
    *,
    publish: bool = True,
    report: bool = True,
    on_stage: Callable[[str, RunContext], None] | None = None,
    on_stage_done: Callable[[str, RunContext], None] | None = None,
) -> RunContext:
    """Run every stage for one logical day; publish the analyst snapshot if all pass, then
    write the run report (``<reports>/runs/<day>/index.html``). ``on_stage`` is called
    before each stage, ``on_stage_done`` after it (its result and timing in ``ctx``)."""
    s = settings or get_settings()
    with working_copy(s) as work:
        ctx = RunContext(day=day, settings=work)
        for name, stage in STAGES:
            run_stage(name, stage, ctx, on_stage, on_stage_done)
    finish_run(ctx, s, publish=publish, report=report)
    return ctx


def run_stage(
    name: str,
    stage: Stage,
    ctx: RunContext,
    on_stage: Callable[[str, RunContext], None] | None = None,
    on_stage_done: Callable[[str, RunContext], None] | None = None,
) -> None:
    """Run one stage on the run's working copy: its result and time go into ``ctx``; a
    failure raises :class:`StageError` naming the stage and the day."""
    if on_stage:
        on_stage(name, ctx)
    started = time.perf_counter()
    try:
        ctx.results[name] = stage(ctx)
        faults.maybe_fail(f"stage.{name}")
    except Exception as exc:
        raise _stage_error(name, ctx, exc) from exc
    ctx.timings[name] = time.perf_counter() - started
    if on_stage_done:
        on_stage_done(name, ctx)


def finish_run(ctx: RunContext, settings: Settings, *, publish: bool, report: bool) -> None:
    """After the commit: point ``ctx`` at the warehouse, publish the analyst snapshot and
    write the run report of ``ctx.day``."""
    s = ctx.settings = settings
    day = ctx.day
    if publish:
        from tailor.publish import PublishError, publish_snapshot

        try:
            publish_snapshot(s)
        except OSError as exc:
            why = "no space left on device" if is_out_of_space(exc) else str(exc)
            raise PublishError(
                f"{day} is committed, but the analyst snapshot {s.snapshot} could not be"
                f" published: {why} ({free_space(s.snapshot.parent)} free there);"
                " run `tailor publish` once that is fixed"
            ) from exc
    if report:
        from tailor.report import write_run_report

        try:  # the day is committed: a report failure must not look like a failed run
            ctx.results["report"] = str(write_run_report(day, s, ctx=ctx, sync_run_log=True))
        except Exception:
            log.exception("could not write the run report for %s", day)


def erase_and_publish(
    settings: Settings | None = None,
    *,
    customer_id: str | None = None,
    email: str | None = None,
    day: dt.date | None = None,
    defer: bool = False,
    force: bool = False,
) -> ErasureResult:
    """``tailor erase``: erase on a private copy of the warehouse, clean the files of this
    person and of every erasure pending (``tailor.privacy.physical``), rewrite it
    compactly (no deleted row left in free blocks), swap it in, republish the analyst
    snapshot. With ``defer`` the files and the compaction wait for the batched pass, as a
    nightly request's do. Must not run while a nightly run writes the warehouse.

    A request that is not applied (invalid, unknown, held for review) is recorded in
    ``ops.erasure_audit`` and raises :class:`ErasureNotApplied`; nothing else changes."""
    from tailor.config import load_config
    from tailor.privacy.erasure import APPLIED, ErasureNotApplied, erase
    from tailor.privacy.physical import run_pass
    from tailor.publish import publish_snapshot
    from tailor.warehouse import connect

    s = settings or get_settings()
    day = day or dt.date.today()
    deadline = load_config(s).erasure.physical_deadline_days if defer else None
    if not s.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {s.warehouse}")
    with working_copy(s, run_id=f"erase-{os.getpid()}") as work:
        con = connect(work.warehouse, settings=work)
        try:
            # one keyword argument per option (a call with many options, not repeated logic)
            result = erase(
                con,
                settings=s,
                customer_id=customer_id,
                email=email,
                day=day,
                snapshot="republished",
                force=force,
                defer_days=deadline,
            )
        finally:
            con.close()
        if result.status == APPLIED and not defer:
            run_pass(work, day, compact=True)
    if result.status != APPLIED:
        raise ErasureNotApplied(result)
    publish_snapshot(s)
    return result


def flush_and_publish(settings: Settings | None = None, day: dt.date | None = None) -> dict:
    """``tailor erase --flush``: the physical part of every pending erasure now (files,
    then the warehouse file compacted) on a private copy, swapped in; the snapshot
    republished. Must not run while a nightly run writes the warehouse."""
    from tailor.privacy.physical import run_pass
    from tailor.publish import publish_snapshot

    s = settings or get_settings()
    if not s.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {s.warehouse}")
    with working_copy(s, run_id=f"erase-{os.getpid()}") as work:
        out = run_pass(work, day or dt.date.today())
    if out["requests"]:
        publish_snapshot(s)
    return out


def run_range(
    start: dt.date,
    end: dt.date,
    settings: Settings | None = None,
    on_stage: Callable[[str, RunContext], None] | None = None,
) -> list[RunContext]:
    """Run the days night by night, in order, each a night of its own (working copy, every
    stage, commit); stop at the first failure (earlier days stay done). ``tailor run
    --nightly``; a range in one pass is ``tailor.backfill.backfill``."""
    s = settings or get_settings()
    out = []
    day = start
    while day <= end:
        out.append(run_day(day, s, publish=(day == end), on_stage=on_stage))
        day += dt.timedelta(days=1)
    return out
