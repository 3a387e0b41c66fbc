"""The night's work from the command line: ``tailor load``, ``tailor run`` (one day or a
range, quiet unless -v), ``tailor anomalies`` (a history's metrics), ``tailor dbt`` and
``tailor validate``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from tailor.cli import main
from tailor.cli.common import _date, _operator_error, _progress, _range, console, out
from tailor.settings import get_settings


@main.command()
@click.option("--date", "day", help="Load one logical day (YYYY-MM-DD).")
@click.option("--from", "start", help="First day of a range.")
@click.option("--to", "end", help="Last day of a range.")
@click.option("--source", "sources", multiple=True, help="Only these sources (repeatable).")
@click.option(
    "--adapter", type=click.Choice(["online-retail", "rees46"]), help="Load a real export instead."
)
@click.option(
    "--file", "file_", type=click.Path(path_type=Path), help="The export file for --adapter."
)
def load(
    day: str | None,
    start: str | None,
    end: str | None,
    sources: tuple[str, ...],
    adapter: str | None,
    file_: Path | None,
) -> None:
    """Load landing-zone partitions (or a real export) into raw.* tables.

    Each day is replaced in one transaction: reloading changes nothing, and a failure
    leaves the warehouse as it was. Every record is loaded or quarantined with a reason.
    """
    from tailor import ingest
    from tailor.adapters import ADAPTERS, load_adapter
    from tailor.sources import SOURCES
    from tailor.warehouse import connect

    s = get_settings()
    unknown = [x for x in sources if x not in SOURCES]
    if unknown:
        raise click.BadParameter(f"unknown source(s) {unknown}; choose from {sorted(SOURCES)}")
    first, last = _range(day, start, end)
    con = connect(settings=s)
    try:
        if adapter:
            path = file_ or s.datasets / ADAPTERS[adapter].default_file
            with console.status(f"loading {path} through the {adapter} adapter"):
                loads = load_adapter(con, adapter, path)
        else:
            days = [
                d
                for d in ingest.available_days(s.landing, sources or None)
                if (first is None or d >= first) and (last is None or d <= last)
            ]
            if not days:
                raise click.ClickException(
                    f"no landing partitions to load under {s.landing}"
                    + (f" for {_span(first, last)}" if first or last else "")
                )
            loads = []
            with _progress() as progress:
                task = progress.add_task("loading days", total=len(days))
                for d in days:
                    loads += ingest.load_day(con, s.landing, d, sources or None)
                    progress.advance(task)
    except ingest.LoadError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        con.close()
    _print_loads(loads)


def _print_loads(loads) -> None:
    totals: dict[str, list[int]] = {}
    for ld in loads:
        t = totals.setdefault(ld.source, [0, 0, 0, 0])
        t[0] += 1
        t[1] += ld.rows_read
        t[2] += ld.rows_loaded
        t[3] += ld.rows_quarantined
    table = Table(title="Load")
    for col in ("source", "files", "read", "loaded", "quarantined"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name, (files, read, loaded, quarantined) in sorted(totals.items()):
        table.add_row(name, str(files), f"{read:,}", f"{loaded:,}", f"{quarantined:,}")
    out.print(table)


# Result keys not worth a progress line (ids, paths, nested detail).
_QUIET_KEYS = frozenset(
    {"run_id", "run_date", "layer", "seconds", "slowest", "data_docs", "report_file"}
)


def _stage_counts(result: object) -> str:
    """A stage's result in a few words: its counts, its status, how many warnings."""
    if not isinstance(result, dict):
        return ""
    parts = []
    statuses = {k: v["status"] for k, v in result.items() if isinstance(v, dict) and "status" in v}
    if len(statuses) > 3:  # e.g. one per destination: how many ended how
        counts = Counter(statuses.values())
        parts.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    else:
        parts += [f"{k} {status}" for k, status in statuses.items()]
    for key, value in result.items():
        if key in _QUIET_KEYS or key.endswith("seconds") or isinstance(value, bool):
            continue
        if value is None:
            continue
        if isinstance(value, int | float):
            parts.append(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value:.3g}")
        elif isinstance(value, str) and key in ("status", "model", "reason"):
            parts.append(f"{key} {value}")
        elif isinstance(value, list | tuple) and value and key != "skipped_tables":
            parts.append(f"{key} {len(value):,}")
    line = ", ".join(parts[:6])
    return line if len(line) <= 100 else line[:97] + "..."


def _day_summary(ctx) -> str:
    """One line for a night of a range: what was loaded, validated, built and exported."""
    r = ctx.results
    parts = []
    load = r.get("load") or {}
    if load:
        parts.append(
            f"loaded {load.get('loaded', 0):,} ({load.get('quarantined', 0):,} quarantined)"
        )
    checks = [r.get(n) or {} for n in ("validate_raw", "validate_marts", "validate_ml")]
    total = sum(c.get("expectations", 0) for c in checks)
    if total:
        warnings = sum(len(c.get("warnings") or []) for c in checks)
        parts.append(f"{total} checks, {warnings} warning{'' if warnings == 1 else 's'}")
    nodes = sum((r.get(n) or {}).get("nodes", 0) for n in ("dbt_build", "dbt_audiences"))
    if nodes:
        parts.append(f"dbt {nodes} nodes")
    for name in ("segment", "score", "recommend", "export"):
        text = ", ".join(_stage_counts(r.get(name)).split(", ")[:2])
        if text:
            parts.append(f"{name}: {text.removeprefix('status ')}")
    return "; ".join(parts)


def _missing_days(available: list[dt.date], first: dt.date, last: dt.date) -> list[dt.date]:
    have = set(available)
    return [
        first + dt.timedelta(days=i)
        for i in range((last - first).days + 1)
        if first + dt.timedelta(days=i) not in have
    ]


def _span(first: dt.date | None, last: dt.date | None) -> str:
    return str(first) if first == last else f"{first or '...'} .. {last or '...'}"


def _check_config(s) -> None:
    """Read both configuration files before a night starts: a broken file fails in a
    second, naming the file, line and key, not after the long stages."""
    from tailor import anomalies, exports

    anomalies.anomaly_config(s)  # the whole file, and the metric names it tunes
    exports.load_config(exports.destinations_path(s))


@main.command()
@click.option("--date", "day", help="Run one logical day (YYYY-MM-DD).")
@click.option("--from", "start", help="First day of a range (backfill).")
@click.option("--to", "end", help="Last day of a range.")
@click.option(
    "--nightly",
    is_flag=True,
    help="Run a range night by night (every stage, a commit and ML models per day) "
    "instead of in one pass.",
)
@click.option(
    "--export",
    "export",
    is_flag=True,
    help="A range in one pass: also export the audiences as of its last day "
    "(past days are never sent).",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Show every detail (dbt, Great Expectations, logs)."
)
def run(
    day: str | None, start: str | None, end: str | None, nightly: bool, export: bool, verbose: bool
) -> None:
    """Run the nightly pipeline for one day, or build a range of days (no Airflow needed).

    Without options it builds every day found in the landing zone. A range is built in
    one pass (a backfill): every day loaded and its raw partition validated, each day's
    segment-history snapshot built as of that day, then one dbt build, the gates and the
    ML models as of the last day, on one private copy of the warehouse that replaces the
    real one only when every step passed. The marts equal a night-by-night run's; the ML
    tables hold one run, as of the last day. No exports unless --export. --nightly runs
    the range night by night instead. The analyst snapshot is published at the end.

    Prints one line per stage (time and counts); the detail (dbt, Great Expectations,
    warnings) goes to <data>/logs/run-<day>.log, whose path a failure prints. -v prints it
    all instead.
    """
    from tailor import ingest

    s = get_settings()
    first, last = _range(day, start, end)
    # days with landing files, and days a history load or an adapter put in the warehouse
    available = sorted(set(ingest.available_days(s.landing)) | set(ingest.loaded_days(s.warehouse)))
    if not available:
        raise click.ClickException(
            f"no landing partitions under {s.landing} and nothing loaded:"
            " run `tailor generate` (or `tailor load`) first"
        )
    first, last = first or available[0], last or available[-1]
    if last < first:
        raise click.ClickException(f"--from {first} is after --to {last}")
    missing = _missing_days(available, first, last)
    if missing:
        raise click.ClickException(
            f"no landing files for {', '.join(map(str, missing[:5]))}"
            f"{' and more' if len(missing) > 5 else ''} under {s.landing}"
            f" (landing days there: {_span(available[0], available[-1])})"
        )
    if export and (nightly or first == last):
        raise click.UsageError("--export is for a range built in one pass; a night always exports")
    _check_config(s)
    n_days = (last - first).days + 1
    started = time.perf_counter()
    if n_days > 1 and not nightly:
        from tailor.backfill import backfill

        label = f"{first}..{last}"
        ctx = _logged(
            label,
            s.data / "logs" / f"run-{label}.log",
            verbose,
            lambda done: backfill(first, last, s, export=export, on_stage_done=done),
        )
        report = ctx.results.get("report")
        print(
            f"{label}  committed in {sum(ctx.timings.values()):.0f} s"
            + (f"; report {report}" if report else ""),
            file=sys.stderr,
            flush=True,
        )
    else:
        _run_nights(first, last, s, verbose)
    out.print(
        f"ran {n_days} day(s) {_span(first, last)} in {time.perf_counter() - started:.0f} s;"
        f" snapshot published at {s.snapshot}"
        + ("" if verbose else f"; logs in {s.data / 'logs'}"),
        soft_wrap=True,
    )


def _run_nights(first: dt.date, last: dt.date, s, verbose: bool) -> None:
    """Each day a night of its own: a line per stage for one day, per night for a range."""
    from tailor import pipeline

    n_days = (last - first).days + 1
    d = first
    while d <= last:
        ctx = _logged(
            str(d),
            s.data / "logs" / f"run-{d}.log",
            verbose,
            lambda done, d=d: pipeline.run_day(d, s, publish=(d == last), on_stage_done=done),
            per_stage=n_days == 1 or verbose,
        )
        report = ctx.results.get("report")
        night = f"{d}  committed in {sum(ctx.timings.values()):.0f} s"
        if n_days > 1:
            print(f"{night}: {_day_summary(ctx)}", file=sys.stderr, flush=True)
        else:
            print(night + (f"; report {report}" if report else ""), file=sys.stderr, flush=True)
        d += dt.timedelta(days=1)


def _logged(label: str, log_file: Path, verbose: bool, call, *, per_stage: bool = True):
    """Run ``call(on_stage_done)`` (a night or a backfill) with its detail in ``log_file``
    (or on the terminal with -v), a line per stage when ``per_stage``; a failure becomes
    one message: what failed, that nothing changed, where the detail is."""
    from tailor import pipeline, quiet

    with contextlib.ExitStack() as stack:
        term = sys.stderr if verbose else stack.enter_context(quiet.capture(log_file))

        def done(name: str, ctx: pipeline.RunContext) -> None:
            if not per_stage:
                return  # night by night over a range: one line per night
            seconds = ctx.timings.get(name, 0.0)
            counts = _stage_counts(ctx.results.get(name))
            print(f"{label}  {name:<15}{seconds:7.1f} s  {counts}", file=term, flush=True)

        try:
            return call(done)
        except Exception as exc:
            message = _operator_error(exc)
            if message is not None:  # nothing was started
                raise click.ClickException(message) from None
            from tailor.publish import PublishError

            if isinstance(exc, PublishError):
                raise click.ClickException(str(exc)) from None  # the day is committed
            message = str(exc)
            if not isinstance(exc, pipeline.StageError | click.ClickException):
                logging.getLogger(__name__).exception("the run of %s failed", label)
            raise click.ClickException(
                f"{message}\nThe warehouse and the published snapshot are unchanged."
                + ("" if verbose else f"\nDetails: {log_file}")
            ) from None


@main.command()
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day (YYYY-MM-DD).")
@click.option("--no-judge", is_flag=True, help="Only compute the metrics.")
def anomalies(start: str, end: str, no_judge: bool) -> None:
    """Compute the input metrics of the loaded days in a range in one pass (ops.metrics)
    and judge each day (ops.anomalies): the history a deployment starts from. Works on a
    private copy of the warehouse swapped in at the end; not beside a running night."""
    from rich.markup import escape

    from tailor import pipeline
    from tailor.anomalies import backfill
    from tailor.config import ConfigError

    s = get_settings()
    first, last = _date(start), _date(end)
    if last < first:
        raise click.UsageError(f"--to {last} is before --from {first}")
    if not s.warehouse.exists():
        raise click.ClickException(f"no warehouse at {s.warehouse}: run `tailor load` first")
    try:
        with pipeline.working_copy(s) as work:
            judged = backfill(work, first, last, judge=not no_judge)
    except (ConfigError, pipeline.StageError) as exc:
        raise click.ClickException(f"{exc}\nThe warehouse is unchanged.") from exc
    table = Table(title=f"Anomalies {first} .. {last}")
    for col in ("day", "judged", "learning", "anomalies", "flagged"):
        table.add_column(col)
    for day, j in judged.items():
        flagged = escape("\n".join(a.describe() for a in j.anomalies[:10]))
        table.add_row(str(day), str(j.judged), str(j.learning), str(len(j.anomalies)), flagged)
    out.print(table)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(dbt_args: tuple[str, ...]) -> None:
    """Run any dbt command on the warehouse, e.g. `tailor dbt build --select marts.core`
    or `tailor dbt docs generate` (the profile's paths come from Tailor's settings)."""
    from tailor import transform

    if not dbt_args:
        raise click.UsageError(
            "give a dbt command, e.g. `tailor dbt build` or `tailor dbt docs generate`"
        )
    try:
        transform.run_dbt(list(dbt_args))
    except transform.DbtError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option(
    "--layer",
    type=click.Choice(["raw", "marts", "ml"]),
    required=True,
    help="Which layer to validate.",
)
@click.option("--date", "day", required=True, help="The run date (YYYY-MM-DD).")
def validate(layer: str, day: str) -> None:
    """Validate one layer of the warehouse for one run date against its expectation suites.

    The suites are Great Expectations suites, their checks evaluated as SQL in DuckDB (a
    suite with an expectation type that evaluator does not know, by Great Expectations).
    Results go to ops.validation_results and Data Docs (HTML) under the reports folder.
    Exits non-zero when a critical expectation fails.
    """
    from expectations.runner import ValidationFailed, data_docs_index, validate_layer

    with console.status(f"validating {layer} for {day}"):
        try:
            report = validate_layer(layer, _date(day))
        except ValidationFailed as exc:
            raise click.ClickException(str(exc)) from exc
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
    summary = report.summary()
    out.print_json(json.dumps(summary, default=str))
    out.print(f"Data Docs: {data_docs_index()}")
