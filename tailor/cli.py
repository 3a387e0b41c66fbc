"""The ``tailor`` command line."""

from __future__ import annotations

import datetime as dt
import json
import sys
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


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    if day and (start or end):
        raise click.UsageError("use either --date or --from/--to")
    con = connect(settings=s)
    try:
        if adapter:
            path = file_ or s.datasets / ADAPTERS[adapter].default_file
            with console.status(f"loading {path} through the {adapter} adapter"):
                loads = load_adapter(con, adapter, path)
        else:
            first = _date(day or start)
            last = _date(day or end)
            days = [
                d
                for d in ingest.available_days(s.landing, sources or None)
                if (first is None or d >= first) and (last is None or d <= last)
            ]
            if not days:
                raise click.ClickException(f"no landing partitions to load under {s.landing}")
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


@main.command()
@click.option("--date", "day", help="Run one logical day (YYYY-MM-DD).")
@click.option("--from", "start", help="First day of a range (backfill).")
@click.option("--to", "end", help="Last day of a range.")
def run(day: str | None, start: str | None, end: str | None) -> None:
    """Run the nightly pipeline for one day or a range of days (no Airflow needed).

    Without options it runs every day found in the landing zone, in order. Each day runs
    on a private copy of the warehouse that replaces the real one only when every stage
    passed; the analyst snapshot is published after the last day.
    """
    from tailor import ingest, pipeline

    s = get_settings()
    if day and (start or end):
        raise click.UsageError("use either --date or --from/--to")
    available = ingest.available_days(s.landing)
    first = _date(day or start) or (available[0] if available else None)
    last = _date(day or end) or (available[-1] if available else None)
    if first is None or last is None:
        raise click.ClickException(
            f"no landing partitions under {s.landing}: run `tailor generate` first"
        )
    if last < first:
        raise click.UsageError(f"--to {last} is before --from {first}")
    n_days = (last - first).days + 1
    with _progress() as progress:
        days_task = progress.add_task("days", total=n_days)
        stage_task = progress.add_task("stage", total=len(pipeline.STAGES))

        def on_stage(name: str, ctx: pipeline.RunContext) -> None:
            done = [n for n, _ in pipeline.STAGES].index(name)
            progress.update(stage_task, completed=done, description=f"{ctx.day} {name}")

        try:
            d = first
            while d <= last:
                pipeline.run_day(d, s, publish=(d == last), on_stage=on_stage)
                progress.update(stage_task, completed=len(pipeline.STAGES))
                progress.advance(days_task)
                d += dt.timedelta(days=1)
        except pipeline.StageError as exc:
            raise click.ClickException(
                f"{exc}\nThe warehouse and the published snapshot are unchanged."
            ) from exc
    out.print(f"ran {n_days} day(s) {first} .. {last}; snapshot published at {s.snapshot}")


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
@click.option("--k-min", default=4, show_default=True, help="Smallest number of segments tried.")
@click.option("--k-max", default=10, show_default=True, help="Largest number of segments tried.")
def segment(day: str | None, k_min: int, k_max: int) -> None:
    """Segment customers (K-Means with stable ids) into ml.customer_segments."""
    from ml.segmentation import SegmentationConfig

    _ml_command("segment", day, SegmentationConfig(k_range=(k_min, k_max)))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option("--horizon-days", default=7, show_default=True, help="Days ahead the models predict.")
def score(day: str | None, horizon_days: int) -> None:
    """Churn and purchase propensity scores into ml.propensity_scores."""
    from ml.propensity import PropensityConfig

    _ml_command("score", day, PropensityConfig(horizon_days=horizon_days))


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
