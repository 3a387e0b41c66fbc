"""Looking at the data and publishing it: ``tailor paths``, ``tailor summary``,
``tailor sql`` (the snapshot, read-only), ``tailor check`` (a landing folder before
loading), ``tailor report``, ``tailor publish`` and ``tailor bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from tailor.cli import main
from tailor.cli.common import _date, console, out
from tailor.settings import get_settings


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
