"""Writing the run reports: ``<reports>/runs/<day>/index.html`` with its ``summary.json``
(read with ``gather``, rendered with ``sections`` into ``templates/page.html``), and
``<reports>/runs/index.html``, every run newest first. Files are replaced atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.files import atomic_write as _atomic_write
from tailor.report.gather import _run_log_path
from tailor.report.markup import esc, fmt, na, render_template, status_class, table
from tailor.report.sections import RUNS_DIR, ReportData, _Builder
from tailor.runlog import load_run_log
from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    import duckdb

SUMMARY_FILE = "summary.json"
_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _page(title: str, header: str, nav: str, body: str) -> str:
    """The page template: ``title`` is text; ``header``, ``nav`` and ``body`` are markup
    built from escaped values."""
    return render_template(
        "page.html", text={"title": title}, markup={"header": header, "nav": nav, "body": body}
    )


def render_run_report(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    settings: Settings | None = None,
    *,
    timings: Mapping[str, float] | None = None,
    results: Mapping[str, Any] | None = None,
    status: str | None = None,
    run_id: str | None = None,
    database: Path | None = None,
    out_dir: Path | None = None,
) -> ReportData:
    """Read what the report shows from an open connection (only reads)."""
    s = settings or get_settings()
    out_dir = out_dir or report_dir(s, day)
    return _Builder(
        con,
        day,
        s,
        out_dir,
        timings=timings,
        results=results,
        status=status,
        run_id=run_id,
        database=database,
    ).build()


def report_html(data: ReportData) -> str:
    nav = " ".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in data.sections)
    nav += ' <a href="../index.html">all runs</a>'
    body = "".join(
        f'<section id="{s.key}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in data.sections
    )
    status = data.summary.get("status", "unknown")
    return _page(
        f"Tailor run {data.day} ({status})",
        f"Tailor nightly run · {esc(data.day)} · {esc(status)}",
        nav,
        body,
    )


def report_dir(settings: Settings, day: dt.date) -> Path:
    return settings.reports / RUNS_DIR / day.isoformat()


def atomic_write(path: Path, text: str | bytes) -> Path:
    """Write a file so that readers see the old or the new content, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _atomic_write(path, text)


def write_run_report(
    day: dt.date,
    settings: Settings | None = None,
    *,
    ctx: Any = None,
    results: Mapping[str, Any] | None = None,
    status: str | None = None,
    run_id: str | None = None,
    database: Path | str | None = None,
    sync_run_log: bool = False,
) -> Path:
    """Write ``<reports>/runs/<day>/index.html`` (and ``summary.json``) and refresh the
    runs index; returns the report's path.

    ``ctx`` is the pipeline's ``RunContext`` (stage results and timings); from Airflow pass
    the stage ``results`` (XComs) instead. ``database`` defaults to the warehouse. With
    ``sync_run_log`` and the warehouse as the database, the run log file is first loaded
    into ``ops.run_log``: a short write, so only where the pipeline holds the writer slot
    (after commit, in the warehouse pool). Never from a shell beside a run: the write would
    change the warehouse between the run's begin and commit and its commit would be
    refused as stale. Without it the database is only read (the recent runs still come
    from the run log file).
    """
    from tailor.warehouse import connect

    s = settings or (ctx.settings if ctx is not None else None) or get_settings()
    db = Path(database) if database is not None else s.warehouse
    timings = dict(getattr(ctx, "timings", {}) or {})
    all_results = dict(getattr(ctx, "results", {}) or {})
    all_results.update(results or {})
    if sync_run_log and db == s.warehouse and db.exists():
        log_path = _run_log_path(s)
        if log_path.exists():
            con = connect(db, settings=s)
            try:
                load_run_log(con, log_path)
            finally:
                con.close()
    out_dir = report_dir(s, day)
    if db.exists():
        con = connect(db, read_only=True, settings=s)
    else:
        import duckdb

        con = duckdb.connect(":memory:")  # no warehouse yet: every section says so
    try:
        data = render_run_report(
            con,
            day,
            s,
            timings=timings,
            results=all_results,
            status=status,
            run_id=run_id,
            database=db,
            out_dir=out_dir,
        )
    finally:
        con.close()
    data.summary["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    path = atomic_write(out_dir / "index.html", report_html(data))
    atomic_write(out_dir / SUMMARY_FILE, json.dumps(data.summary, indent=2, default=str))
    write_runs_index(s)
    return path


def write_runs_index(settings: Settings | None = None) -> Path:
    """``<reports>/runs/index.html``: every run report, newest day first."""
    s = settings or get_settings()
    root = s.reports / RUNS_DIR
    rows = []
    days = sorted(
        (p for p in root.glob("*") if _DAY_DIR.match(p.name) and (p / "index.html").exists()),
        key=lambda p: p.name,
        reverse=True,
    )
    for p in days:
        summary: dict[str, Any] = {}
        with contextlib.suppress(ValueError, OSError):
            summary = json.loads((p / SUMMARY_FILE).read_text())
        v = summary.get("validation") or {}
        status = str(summary.get("status") or "unknown")
        cls = status_class(status)
        crit = v.get("critical_failures")
        rows.append(
            (
                f'<a href="{esc(p.name)}/index.html">{esc(p.name)}</a>',
                f'<span class="st {cls}">{esc(status)}</span>',
                summary.get("rows_loaded", ""),
                summary.get("rows_quarantined", ""),
                "" if not v else f"{fmt(v.get('passed'))}/{fmt(v.get('expectations'))}",
                f'<span class="{"bad" if crit else ""}">{esc(crit if v else "")}</span>',
                v.get("warnings", "") if v else "",
                len(summary.get("segments") or {}) or "",
                summary.get("ndcg@10", ""),
                str(summary.get("generated_at", "")).replace("T", " ")[:16],
            )
        )
    body = (
        table(
            [
                "day",
                "status",
                "rows loaded",
                "quarantined",
                "expectations passed",
                "critical failures",
                "warnings",
                "segments",
                "NDCG@10 (served)",
                "report written (UTC)",
            ],
            rows,
            numeric=[2, 3, 4, 5, 6, 7, 8],
            raw=[0, 1, 5],
        )
        if rows
        else na("no run reports yet")
    )
    links = []
    for label, path in (
        ("dbt docs", s.reports / "dbt_docs" / "index.html"),
        ("Data Docs", s.reports / "data_docs" / "index.html"),
    ):
        if path.exists():
            links.append(f'<a href="{esc(os.path.relpath(path, root))}">{esc(label)}</a>')
    html_text = _page(
        "Tailor run reports",
        "Tailor run reports",
        " ".join(links),
        f"<section><h2>Runs, newest first</h2>{body}</section>",
    )
    return atomic_write(root / "index.html", html_text)
