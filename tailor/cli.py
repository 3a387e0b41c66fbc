"""The ``tailor`` command line."""

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
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tailor.settings import get_settings

console = Console(stderr=True)
out = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _date(value: str | None, option: str = "--date") -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"{option} {value!r} is not a date: write it YYYY-MM-DD, e.g. 2026-10-01"
        ) from None


def _range(
    day: str | None, start: str | None, end: str | None
) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of ``--date D`` or ``--from D1 --to D2`` (None: open)."""
    if day and (start or end):
        raise click.UsageError("use either --date or --from/--to")
    if day:
        d = _date(day)
        return d, d
    first, last = _date(start, "--from"), _date(end, "--to")
    if first and last and last < first:
        raise click.ClickException(f"--from {first} is after --to {last}")
    return first, last


def _operator_error(exc: BaseException) -> str | None:
    """The message of an error an operator causes and can fix (another program holds the
    warehouse, a broken configuration file), or None for a bug."""
    known = (
        ("tailor.warehouse", "WarehouseLocked"),
        ("tailor.config", "ConfigError"),
        ("tailor.exports.config", "ConfigError"),
    )
    for module, name in known:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return str(exc)
    return None


class _Tailor(click.Group):
    """The command group: the usual operator mistakes, wherever a command meets them, end
    as one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = _operator_error(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None

    def main(self, args=None, *rest, **kwargs):
        """As the process's own command line (no ``args`` given: not a test's runner), end
        without the interpreter's teardown once the command is done (``tailor.quiet``)."""
        if args is not None or rest or kwargs.get("standalone_mode") is False:
            return super().main(args, *rest, **kwargs)
        try:
            super().main(**kwargs)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
        from tailor.quiet import exit_now

        exit_now(code)


@click.group(cls=_Tailor, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tailor: a personalization warehouse on DuckDB.

    Paths come from environment variables (TAILOR_HOME, TAILOR_WAREHOUSE, TAILOR_LANDING,
    ...); `tailor paths` shows what they resolve to.
    """


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def paths(as_json: bool) -> None:
    """Show the resolved paths (warehouse, snapshot, landing zone, exports, ...)."""
    s = get_settings()
    info = {
        "home": str(s.home),
        "warehouse": str(s.warehouse),
        "snapshot": str(s.snapshot),
        "landing": str(s.landing),
        "exports": str(s.exports),
        "ground_truth": str(s.ground_truth),
        "reports": str(s.reports),
        "airflow_home": str(s.airflow_home),
        "dbt_project": str(s.dbt_project),
        "datasets": str(s.datasets),
        "duckdb_temp": str(s.duckdb_temp),
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    table = Table(show_header=False, box=None)
    for k, v in info.items():
        table.add_row(k, v)
    out.print(table)


@main.command()
@click.option("--customers", default=5000, show_default=True, help="Customers in the CRM.")
@click.option("--products", default=800, show_default=True, help="Products in the catalog.")
@click.option("--days", default=30, show_default=True, help="Logical days of data.")
@click.option("--start", default="2026-10-01", show_default=True, help="First logical day.")
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same files).")
@click.option(
    "--dirt", default=1.0, show_default=True, help="Scale every dirt rate (0 = clean data)."
)
@click.option(
    "--incident",
    "incident_specs",
    multiple=True,
    metavar="KIND:YYYY-MM-DD[:MAGNITUDE]",
    help="Break a day (repeatable): mobile_outage, bot_spike, broken_price_feed,"
    " consent_banner_bug; listed in <ground_truth>/incidents.csv.",
)
@click.option(
    "--shape",
    type=click.Choice(["both", "events-only", "orders-only"]),  # tailor.generate.SHAPE_OMITS
    default="both",
    show_default=True,
    help="The store's shape: events and backend orders, events only, or orders only.",
)
def generate(
    customers: int,
    products: int,
    days: int,
    start: str,
    seed: int,
    dirt: float,
    incident_specs: tuple[str, ...],
    shape: str,
) -> None:
    """Generate realistic synthetic sources into the landing zone."""
    from tailor.generate import SHAPE_OMITS, DirtConfig, GeneratorConfig, omit_for_shape
    from tailor.generate import generate as run_generate
    from tailor.incidents import check_window, parse_incident

    s = get_settings()
    try:
        incidents = tuple(parse_incident(x) for x in incident_specs)
        check_window(incidents, _date(start), days)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--incident") from exc
    config = GeneratorConfig(
        customers=customers,
        products=products,
        days=days,
        start=_date(start),
        seed=seed,
        dirt=DirtConfig().scaled(dirt),
    )
    with _progress() as progress:
        task = progress.add_task("generating days", total=days)
        summary = run_generate(
            config,
            s.landing,
            s.ground_truth,
            progress=lambda done, total: progress.update(task, completed=done),
            incidents=incidents,
        )
    omit_for_shape(s.landing, shape, config.start, days)
    table = Table(title=f"Generated into {s.landing} ({shape})")
    table.add_column("source")
    table.add_column("records", justify="right")
    for name, n in sorted(summary.rows.items()):
        if name not in SHAPE_OMITS[shape]:
            table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(
        f"{summary.events:,} events in {summary.seconds:.1f} s; ground truth in {s.ground_truth}"
    )


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
    from tailor import config, exports

    config.load_config(s)
    exports.load_config(exports.destinations_path(s))


@main.command()
@click.option("--date", "day", help="Run one logical day (YYYY-MM-DD).")
@click.option("--from", "start", help="First day of a range (backfill).")
@click.option("--to", "end", help="Last day of a range.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show every detail (dbt, Great Expectations, logs)."
)
def run(day: str | None, start: str | None, end: str | None, verbose: bool) -> None:
    """Run the nightly pipeline for one day or a range of days (no Airflow needed).

    Without options it runs every day found in the landing zone, in order. Each day runs
    on a private copy of the warehouse that replaces the real one only when every stage
    passed; the analyst snapshot is published after the last day.

    Prints one line per stage (time and counts); the detail (dbt, Great Expectations,
    warnings) goes to <data>/logs/run-<day>.log, whose path a failure prints. -v prints it
    all instead.
    """
    from tailor import ingest, pipeline, quiet

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
    _check_config(s)
    n_days = (last - first).days + 1
    started = time.perf_counter()
    d = first
    while d <= last:
        log_file = s.data / "logs" / f"run-{d}.log"
        with contextlib.ExitStack() as stack:
            term = sys.stderr if verbose else stack.enter_context(quiet.capture(log_file))

            def done(name: str, ctx: pipeline.RunContext, term=term) -> None:
                if n_days > 1 and not verbose:
                    return  # a range: one line per night
                seconds = ctx.timings.get(name, 0.0)
                counts = _stage_counts(ctx.results.get(name))
                print(f"{ctx.day}  {name:<15}{seconds:7.1f} s  {counts}", file=term, flush=True)

            try:
                ctx = pipeline.run_day(d, s, publish=(d == last), on_stage_done=done)
            except Exception as exc:
                message = _operator_error(exc)
                if message is not None:  # nothing was started
                    raise click.ClickException(message) from None
                from tailor.publish import PublishError

                if isinstance(exc, pipeline.PublishError | PublishError):
                    raise click.ClickException(str(exc)) from None  # the day is committed
                message = str(exc)
                if not isinstance(exc, pipeline.StageError | click.ClickException):
                    logging.getLogger(__name__).exception("the run of %s failed", d)
                raise click.ClickException(
                    f"{message}\nThe warehouse and the published snapshot are unchanged."
                    + ("" if verbose else f"\nDetails: {log_file}")
                ) from None
        report = ctx.results.get("report")
        night = f"{d}  committed in {sum(ctx.timings.values()):.0f} s"
        if n_days > 1:
            print(f"{night}: {_day_summary(ctx)}", file=sys.stderr, flush=True)
        else:
            print(night + (f"; report {report}" if report else ""), file=sys.stderr, flush=True)
        d += dt.timedelta(days=1)
    out.print(
        f"ran {n_days} day(s) {_span(first, last)} in {time.perf_counter() - started:.0f} s;"
        f" snapshot published at {s.snapshot}"
        + ("" if verbose else f"; logs in {s.data / 'logs'}"),
        soft_wrap=True,
    )


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
    """Validate one layer of the warehouse for one run date with Great Expectations.

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


def _ml_command(stage_name: str, day: str | None, config) -> None:
    from ml import recommend
    from ml.pipeline import latest_feature_day, score_report, segment_report
    from tailor import pipeline
    from tailor.warehouse import connect

    s = get_settings()
    if not s.warehouse.exists():
        raise click.ClickException(f"no warehouse at {s.warehouse}: run `tailor run` first")
    if day is None:
        con = connect(s.warehouse, read_only=True, settings=s)
        try:
            run_day = latest_feature_day(con)
        finally:
            con.close()
        if run_day is None:
            raise click.ClickException("marts.customer_features is empty: run `tailor run` first")
    else:
        run_day = _date(day)
    from ml.pipeline import stage_score, stage_segment

    stage, report_of = {
        "segment": (stage_segment, segment_report),
        "score": (stage_score, score_report),
        "recommend": (recommend.run, recommend.report),
    }[stage_name]
    with console.status(f"{stage_name} as of {run_day}"), pipeline.working_copy(s) as work:
        stage(pipeline.RunContext(day=run_day, settings=work), config)
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        report = report_of(con, run_day)
    finally:
        con.close()
    out.print(report.to_string(index=False))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option("--k-min", type=click.IntRange(2), help="Fewest segments tried (default: config).")
@click.option("--k-max", type=click.IntRange(2), help="Most segments tried (default: config).")
def segment(day: str | None, k_min: int | None, k_max: int | None) -> None:
    """Segment customers (K-Means with stable ids) into ml.customer_segments."""
    from ml.pipeline import segmentation_config

    _ml_command("segment", day, segmentation_config(get_settings(), k_min, k_max))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option(
    "--horizon-days",
    type=click.IntRange(1, 730),
    help="Score this horizon, added beside the others (default: config/tailor.yml's horizons).",
)
def score(day: str | None, horizon_days: int | None) -> None:
    """Churn and purchase propensity scores into ml.propensity_scores."""
    from ml.pipeline import propensity_config

    _ml_command("score", day, propensity_config(get_settings(), horizon_days))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option("--k", default=10, show_default=True, help="Recommendations per customer.")
def recommend(day: str | None, k: int) -> None:
    """Recommendations (best model by NDCG@10 on a temporal holdout, popularity as the
    fallback) into ml.recommendations, ml.similar_items and ml.model_runs."""
    from ml.recommend import RecommendConfig

    _ml_command("recommend", day, RecommendConfig(k=k))


@main.command()
@click.option("--date", "day", required=True, help="The run date (YYYY-MM-DD).")
@click.option(
    "--destination",
    "destinations",
    multiple=True,
    help="Only this destination (repeatable; disabled ones too). Default: every enabled one.",
)
@click.option(
    "--no-send", is_flag=True, help="Write the files but do not call webhook destinations."
)
def export(day: str, destinations: tuple[str, ...], no_send: bool) -> None:
    """Export audiences to the destinations of config/destinations.yml (TAILOR_DESTINATIONS).

    Reads marts.audiences as built for the day, keeps out everyone without the
    destination's consent purpose, erased people and the A/B control group, applies the
    frequency cap, and writes each destination's files atomically with a manifest under
    the exports folder (logged in ops.export_log), once the warehouse has committed them.
    Rerunning a day gives the same bytes.
    """
    from tailor import exports, pipeline
    from tailor.publish import publish_snapshot

    s = get_settings()
    run_day = _date(day)
    if not s.warehouse.exists():
        raise click.ClickException(f"no warehouse at {s.warehouse}: run `tailor run` first")
    try:
        with console.status(f"exporting {run_day}"), pipeline.working_copy(s) as work:
            results = exports.export_all(
                run_day, work, destinations=list(destinations) or None, send=not no_send
            )
    except (exports.ExportError, exports.ConfigError, KeyError) as exc:
        raise click.ClickException(f"{exc}\nThe warehouse is unchanged.") from exc
    exports.refresh_status(results, s)  # published at the commit: staged -> succeeded, ...
    publish_snapshot(s)
    table = Table(
        "destination",
        "status",
        "rows",
        "adds",
        "updates",
        "removes",
        "no consent",
        "capped",
        "output",
    )
    for r in results:
        c = r.counts
        table.add_row(
            r.destination,
            r.status,
            f"{sum(f.rows for f in r.files):,}",
            *(
                f"{c.get(k, 0):,}"
                for k in ("adds", "updates", "removes", "excluded_no_consent", "excluded_capped")
            ),
            r.output_dir,
        )
    out.print(table)


@main.command()
@click.option("--email", help="The person's email address.")
@click.option("--customer-id", help="The person's customer id.")
@click.option("--date", "day", help="The day the erasure counts as (default: today).")
@click.option(
    "--keep-landing",
    is_flag=True,
    help="Leave the delivered landing files as they are (suppression still keeps the "
    "person out of every reload).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Apply even above the blast-radius limits (TAILOR_ERASURE_MAX_ROWS / "
    "TAILOR_ERASURE_MAX_SHARE), after reviewing a request held for review.",
)
def erase(
    email: str | None, customer_id: str | None, day: str | None, keep_landing: bool, force: bool
) -> None:
    """Erase a person (the right to be forgotten) from every table, the landing zone, the
    local export copies and the published snapshot; queue a remove for every destination
    that holds them; write an audit record (ops.erasure_audit). Do not run it while a
    nightly run is writing the warehouse.

    An email must be an email address and a customer id must be known to the warehouse;
    a request that would touch more rows than the limits allow is held for review. Such
    requests are recorded in ops.erasure_audit and change nothing else."""
    from tailor import privacy

    if bool(email) == bool(customer_id):
        raise click.UsageError("give exactly one of --email or --customer-id")
    s = get_settings()
    try:
        with console.status("erasing"):
            result = privacy.erase_and_publish(
                s,
                customer_id=customer_id,
                email=email,
                day=_date(day),
                purge_landing_files=not keep_landing,
                force=force,
            )
    except privacy.ErasureNotApplied as exc:
        raise click.ClickException(
            f"the erasure was not applied, {exc}\n(recorded in ops.erasure_audit as "
            f"{exc.result.status}, audit id {exc.result.audit_id})"
        ) from exc
    except (FileNotFoundError, privacy.PrivacyKeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.print_json(
        json.dumps(
            {
                "audit_id": result.audit_id,
                "subject_hash": result.subject_hash,
                "identifiers": result.identity.counts(),
                "rows_removed": result.rows_removed,
                "rows_anonymized": result.rows_anonymized,
                "tables": {t.table: t.rows_removed + t.rows_anonymized for t in result.tables},
                "landing_records": result.landing_records,
                "export_rows_redacted": result.export_rows,
                "other_files_redacted": result.other_files,
                "destinations_notified": result.destinations_notified,
            }
        )
    )


@main.command("report")
@click.option("--date", "day", help="The logical day (YYYY-MM-DD); default: the last landing day.")
@click.option("--snapshot", "use_snapshot", is_flag=True, help="Read the published snapshot.")
@click.option("--dbt-docs", is_flag=True, help="Also publish the dbt docs as one static page.")
def report_cmd(day: str | None, use_snapshot: bool, dbt_docs: bool) -> None:
    """Write the run report <reports>/runs/<day>/index.html (row counts, quarantine,
    validation, segments, RFM, model metrics, exports) and the index of all runs."""
    from tailor import ingest, report

    s = get_settings()
    d = _date(day) or next(reversed(ingest.available_days(s.landing)), None)
    if d is None:
        raise click.UsageError("give --date YYYY-MM-DD (no landing days found)")
    if dbt_docs:
        with console.status("dbt docs generate --static"):
            out.print(f"dbt docs: {report.publish_dbt_docs(s)}")
    path = report.write_run_report(d, s, database=s.snapshot if use_snapshot else None)
    out.print(f"report: {path}\nall runs: {path.parent.parent / 'index.html'}")


@main.command(
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("bench_args", nargs=-1, type=click.UNPROCESSED)
def bench(bench_args: tuple[str, ...]) -> None:
    """Benchmarks at scale (benchmarks/README.md): generate data of a size, run the nightly
    pipeline stage by stage, the DuckDB lower bound and a plain pandas version, and record
    time, rows/s and peak memory. E.g. `tailor bench --size 1m`; `tailor bench --help`."""
    import subprocess

    s = get_settings()
    cmd = [sys.executable, "-m", "benchmarks.run", *bench_args]
    sys.exit(subprocess.run(cmd, cwd=s.home, check=False).returncode)


@main.command()
def publish() -> None:
    """Publish the read-only analyst snapshot: the warehouse's tables without contact
    data (TAILOR_SNAPSHOT_PII=full keeps it), in a storage format DuckDB 1.4 and later
    read, replaced atomically."""
    from tailor import publish as snapshot

    path = snapshot.publish_snapshot()
    contents = "every column as it is" if snapshot.full_pii() else "no contact data"
    out.print(
        f"published {path} ({contents}; DuckDB storage {snapshot.STORAGE_VERSION},"
        f" read by {snapshot.READERS})"
    )


def duckdb_cli() -> Path | None:
    """The DuckDB CLI installed with the project (the ``duckdb-cli`` package), else one on
    the PATH."""
    import shutil

    beside = Path(sys.executable).parent / "duckdb"
    if beside.exists():
        return beside
    found = shutil.which("duckdb")
    return Path(found) if found else None


@main.command()
@click.argument("query", required=False)
@click.option(
    "--warehouse", "use_warehouse", is_flag=True, help="Read the live warehouse, not the snapshot."
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
def sql(query: str | None, use_warehouse: bool, as_csv: bool) -> None:
    """Run a read-only SQL query against the published snapshot; without a query, open
    the DuckDB shell on it (read-only). CSV output is safe to open in a spreadsheet: text
    that would run as a formula gets a leading quote."""
    import subprocess

    import duckdb

    from tailor import csvsafe
    from tailor.warehouse import connect

    s = get_settings()
    target = s.warehouse if use_warehouse else s.snapshot
    if not target.exists():
        raise click.ClickException(
            f"no database at {target}: run `make demo` (or `tailor publish`) first"
        )
    if query is None:
        shell = duckdb_cli()
        if shell is None:
            raise click.ClickException(
                "the DuckDB CLI is not installed: run `make install` (it comes with the "
                'project), or give a query: tailor sql "select ..."'
            )
        sys.exit(subprocess.run([str(shell), "-readonly", str(target)], check=False).returncode)
    con = connect(target, read_only=True, settings=s)
    try:
        rel = con.sql(query)
        if rel is None:
            return
        if as_csv:
            writer = csvsafe.writer(sys.stdout)
            writer.writerow(rel.columns)
            writer.writerows(rel.fetchall())
        else:
            out.print(rel)
    except duckdb.Error as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        con.close()


@main.command()
@click.option("--snapshot", "use_snapshot", is_flag=True, help="Summarize the published snapshot.")
def summary(use_snapshot: bool) -> None:
    """Where the tables are, their row counts, the quarantine and the load reconciliation."""
    from tailor.warehouse import connect, table_counts

    s = get_settings()
    target = s.snapshot if use_snapshot else s.warehouse
    if not target.exists():
        raise click.ClickException(f"no database at {target}")
    con = connect(target, read_only=True, settings=s)
    try:
        table = Table(title=f"Tables in {target}")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for schema, name, n in table_counts(con):
            table.add_row(f"{schema}.{name}", f"{n:,}")
        out.print(table)
        reasons = con.execute(
            "select source, reason_code, count(*) from raw.quarantine group by all order by 1, 2"
        ).fetchall()
        if reasons:
            q = Table(title="Quarantine (raw.quarantine)")
            for col in ("source", "reason", "records"):
                q.add_column(col, justify="right" if col == "records" else "left")
            for src, code, n in reasons:
                q.add_row(src, code, f"{n:,}")
            out.print(q)
        read, loaded, quarantined = con.execute(
            "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from raw.load_log"
        ).fetchone()
        ok = read == loaded + quarantined
        out.print(
            f"load_log: read {read or 0:,} = loaded {loaded or 0:,} + quarantined {quarantined or 0:,}"
            f" [{'green' if ok else 'red'}]{'reconciled' if ok else 'MISMATCH'}[/]"
        )
    finally:
        con.close()
    out.print(f'Analysts: tailor sql "select * from raw.load_log limit 5"  (snapshot {s.snapshot})')


@main.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check_landing(path: Path | None) -> None:
    """Check a landing folder (default: the landing zone) or one landing file against the
    contract before loading it: what will load, what will be quarantined and why (file and
    line), and what is missing for which feature. Never writes to the warehouse; exits 1
    when there is a problem."""
    from tailor.check import check

    report = check(path or get_settings().landing)
    click.echo(report.render())
    if not report.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
