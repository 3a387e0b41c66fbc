"""The run report on a real warehouse built by one nightly run of a tiny generated data set.

One ``run_day`` (generate -> load -> validate -> dbt -> ML -> exports -> publish) builds the
warehouse once for the module; tests that change data work on a copy of it. Checks what a
reader of the report relies on: the counts it prints are the warehouse's, an injected
failed expectation shows with its observed value and sample, the plots are there, nothing
personal leaks, and a warehouse with nothing in it still gives a report.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tailor import report
from tailor.warehouse import connect

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 10, 1)
ENV_VARS = (
    "TAILOR_WAREHOUSE",
    "TAILOR_SNAPSHOT",
    "TAILOR_LANDING",
    "TAILOR_EXPORTS",
    "TAILOR_GROUND_TRUTH",
    "TAILOR_REPORTS",
    "TAILOR_DUCKDB_TEMP",
    "TAILOR_FAIL_AT",
    "TAILOR_FAIL_MODE",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(settings, run context) after one nightly run of a 150-customer, one-day data set."""
    from tailor.pipeline import run_day
    from tailor.synthetic.config import DirtConfig, GeneratorConfig
    from tailor.synthetic.driver import generate

    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_DATA", str(root / "data"))
        mp.setenv("TAILOR_DUCKDB_MEMORY", "1GB")
        mp.setenv("AIRFLOW_HOME", str(root / "data" / "airflow"))
        for var in ENV_VARS:
            mp.delenv(var, raising=False)
        from tailor.settings import get_settings

        s = get_settings()
        generate(
            GeneratorConfig(
                customers=150, products=40, days=1, start=DAY, seed=7, dirt=DirtConfig().scaled(0.5)
            ),
            s.landing,
            s.ground_truth,
        )
        ctx = run_day(DAY, s)
        yield s, ctx


def _q(path: Path, sql: str, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _text(html_text: str) -> str:
    """The page's visible text, one space between cells."""
    t = re.sub(r"<style>.*?</style>|<svg.*?</svg>", " ", html_text, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", t))


def _section(html_text: str, key: str) -> str:
    m = re.search(rf'<section id="{key}">(.*?)</section>', html_text, flags=re.S)
    assert m, f"no section {key}"
    return m.group(1)


def _no_broken_sections(page: str) -> None:
    """A section that failed renders 'not available: <exception>': none may."""
    assert not re.search(r"not available: \w+(Error|Exception)", _text(page))


def _copy(s, tmp_path: Path) -> Path:
    """A private copy of the warehouse, for tests that change rows."""
    target = tmp_path / "copy.duckdb"
    shutil.copyfile(s.warehouse, target)
    return target


def test_report_prints_the_warehouse_counts_and_the_days_load(run):
    s, ctx = run
    path = report.write_run_report(DAY, s, ctx=ctx)
    assert path == s.reports / "runs" / DAY.isoformat() / "index.html"
    page = path.read_text()
    text = _text(page)

    # header: day, status, every stage's timing
    head = _section(page, "run")
    # one day of history: the propensity job skips its models, so the run is a warning
    skipped = _q(
        s.warehouse,
        "select task from ml.model_runs where run_date = ? and status in ('skipped', 'fallback')",
        [DAY],
    )
    assert skipped
    assert ("warning" if skipped else "succeeded") in head
    for name in ctx.timings:
        assert f"<td>{name}</td>" in head

    # the day's load, reconciled, per source, as in raw.load_log
    read, loaded, quarantined = _q(
        s.warehouse,
        "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from raw.load_log"
        " where _dt = ?",
        [DAY],
    )[0]
    assert read == loaded + quarantined and quarantined > 0
    assert f"read {read:,} = loaded {loaded:,} + quarantined {quarantined:,}: reconciled" in text
    load = _text(_section(page, "load"))
    for reason, n in _q(
        s.warehouse,
        "select reason_code, count(*) from raw.quarantine where _dt = ? group by 1",
        [DAY],
    ):
        assert reason in load
        assert f"{n:,}" in load

    # row counts per table, and per layer
    counts = _text(_section(page, "counts"))
    for table in ("raw.events", "marts.customers", "marts.customer_rfm", "ml.segment_profiles"):
        (n,) = _q(s.warehouse, f"select count(*) from {table}")[0]
        assert f"{table} {n:,}" in counts, table

    # validation summary: every expectation of the day is counted
    (n_exp, n_passed) = _q(
        s.warehouse,
        "select count(*), count(*) filter (where success) from ops.validation_results"
        " where run_date = ?",
        [DAY],
    )[0]
    assert f"{n_exp:,} expectations: {n_passed:,} passed" in text
    assert 'href="../../data_docs/index.html"' in page

    # segments and model runs of the day
    for name, size in _q(
        s.warehouse, "select segment_name, size from ml.segment_profiles where run_date = ?", [DAY]
    ):
        assert name in text
        assert str(size) in _section(page, "segments")
    models = _text(_section(page, "models"))
    for task, model, status in _q(
        s.warehouse, "select task, model, status from ml.model_runs where run_date = ?", [DAY]
    ):
        assert task in models and model in models and status in models
    assert "ml.recommendations" in counts

    _no_broken_sections(page)
    summary = json.loads((path.parent / "summary.json").read_text())
    assert summary["status"] == "warning"
    assert {w.split()[0] for w in summary["model_warnings"]} == {t for (t,) in skipped}
    assert summary["rows_loaded"] == loaded
    assert summary["validation"]["expectations"] == n_exp


def test_report_is_self_contained_and_prints_no_personal_data(run):
    s, ctx = run
    page = report.write_run_report(DAY, s, ctx=ctx).read_text()
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page), "no network resources"
    assert "<style>" in page
    people = _q(
        s.warehouse,
        "select email, first_name || ' ' || last_name from raw.customers where email is not null",
    )
    assert people
    for email, full_name in people:
        assert email not in page
        assert full_name not in page


def test_an_injected_failed_expectation_shows_with_its_values(run, tmp_path):
    s, _ = run
    db = _copy(s, tmp_path)
    con = connect(db, settings=s)
    try:
        con.execute(
            """
            insert into ops.validation_results (run_id, run_date, layer, suite, table_name,
                expectation, column_name, description, severity, success, observed_value,
                element_count, unexpected_count, unexpected_percent, sample_unexpected,
                validated_at)
            values ('marts-test', ?, 'marts', 'marts.customers', 'marts.customers',
                'expect_column_values_to_not_be_null', 'customer_id',
                'every customer has an id <b>really</b>', 'critical', false, '{"n": 3}',
                149, 3, 2.013, '["C0000042", "leak@example.com"]', now())
            """,
            [DAY],
        )
    finally:
        con.close()
    page = report.write_run_report(DAY, s, database=db).read_text()
    failures = _section(page, "validation")
    assert "expect_column_values_to_not_be_null(customer_id)" in failures
    assert '<span class="sev critical">critical</span>' in failures
    assert "3 of 149 (2.01%)" in failures
    assert "C0000042" in failures  # the sample as stored
    assert "leak@example.com" not in page  # but nothing that looks like an e-mail address
    assert "[email]" in failures
    assert "&lt;b&gt;really&lt;/b&gt;" in failures  # escaped, not markup
    assert "<b>really</b>" not in page
    assert re.search(r"\d+ critical failures", _text(failures))
    summary = json.loads((s.reports / "runs" / DAY.isoformat() / "summary.json").read_text())
    assert summary["validation"]["critical_failures"] >= 1


def test_a_recommendation_fallback_is_a_warning_not_a_success(run, tmp_path):
    """Popularity served instead of the chosen model: the report and the runs index say
    warning, with the reason, and show the served NDCG@10 instead of a blank."""
    s, _ = run
    db = _copy(s, tmp_path)
    reason = "als NDCG@10 0.0100 does not beat popularity 0.0200"
    con = connect(db, settings=s)
    try:
        con.execute("delete from ml.model_runs where run_date = ? and status = 'skipped'", [DAY])
        con.execute(
            "update ml.model_runs set status = 'candidate'"
            " where run_date = ? and task = 'recommendation' and status in ('chosen', 'fallback')",
            [DAY],
        )
        (n,) = con.execute(
            "update ml.model_runs set status = 'fallback', message = ?,"
            " metrics = '{\"ndcg@10\": 0.02}'"
            " where run_date = ? and task = 'recommendation' and model = 'popularity'",
            [f"served instead of als: {reason}", DAY],
        ).fetchone()
        assert n == 1
    finally:
        con.close()
    page = report.write_run_report(DAY, s, database=db, status="succeeded").read_text()
    head = _text(_section(page, "run"))
    assert "status warning" in head
    assert reason in head
    assert '<span class="st warn">fallback</span>' in _section(page, "models")
    summary = json.loads((s.reports / "runs" / DAY.isoformat() / "summary.json").read_text())
    assert summary["status"] == "warning"
    assert summary["ndcg@10"] == 0.02
    index = (s.reports / "runs" / "index.html").read_text()
    assert '<span class="st warn">warning</span>' in index


def test_report_draws_the_plots(run, tmp_path):
    s, _ = run
    db = _copy(s, tmp_path)
    before = DAY - dt.timedelta(days=1)
    con = connect(db, settings=s)
    try:
        # an earlier recommendation run, so NDCG@10 has a line over two runs; and the day's
        # own score (a one-day shop has too little history for the per-customer holdout:
        # its run serves popularity without a score)
        con.execute(
            """
            insert into ml.model_runs (run_id, model, task, run_date, status, metrics, started_at)
            values ('recommendation:x', 'popularity', 'recommendation', ?, 'chosen',
                    '{"ndcg@10": 0.05}', now()),
                   ('recommendation:y', 'ease', 'recommendation', ?, 'chosen',
                    '{"ndcg@10": 0.07}', now())
            """,
            [before, DAY],
        )
    finally:
        con.close()
    page = report.write_run_report(DAY, s, database=db).read_text()
    plots = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(plots) >= 4  # segment sizes, RFM bars, RFM heatmap, NDCG@10

    segments = _section(page, "segments")
    n_segments = _q(db, "select count(*) from ml.segment_profiles where run_date = ?", [DAY])[0][0]
    assert segments.count('class="bar"') == n_segments

    rfm = _section(page, "rfm")
    (heat,) = [p for p in re.findall(r"<svg.*?</svg>", rfm, flags=re.S) if "heatmap" in p]
    assert heat.count('class="cell"') == 25
    cells = [int(n.replace(",", "")) for n in re.findall(r"R \d, F \d: ([\d,]+) customers", heat)]
    assert len(cells) == 25
    (n_rfm,) = _q(db, "select count(*) from marts.customer_rfm")[0]
    assert sum(cells) == n_rfm

    models = _section(page, "models")
    (line,) = re.findall(r"<svg.*?</svg>", models, flags=re.S)
    assert "NDCG@10" in line
    assert 'class="series"' in line  # a line through the two runs
    assert before.isoformat() in line and DAY.isoformat() in line


def test_an_empty_warehouse_still_gives_a_report(tmp_path, tailor_env):
    s = tailor_env
    # no warehouse file at all
    page = report.write_run_report(DAY, s).read_text()
    assert page.count('class="na"') >= 8
    assert "not available" in _section(page, "models")
    # an empty DuckDB file, and one with only the raw schema
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    page = report.write_run_report(DAY, s, database=empty).read_text()
    for key in ("load", "validation", "segments", "rfm", "models", "exports", "runs"):
        assert 'class="na"' in _section(page, key), key
    _no_broken_sections(page)
    from tailor.warehouse import ensure_raw_schema

    con = connect(s.warehouse, settings=s)
    try:
        ensure_raw_schema(con)
    finally:
        con.close()
    page = report.write_run_report(DAY, s).read_text()
    assert "raw.events 0" in _text(_section(page, "counts"))
    _no_broken_sections(page)


def test_run_log_loads_idempotently_and_shows_in_the_report(tmp_path, tailor_env):
    from tailor import runlog

    s = tailor_env
    events = [
        {
            "at": "2026-10-02T02:05:00+00:00",
            "status": "task_failed",
            "dag_id": "tailor_nightly",
            "dag_run_id": "scheduled__2026-10-01",
            "day": "2026-10-01",
            "task_id": "dbt_build",
            "try_number": 1,
            "error": "StageError: boom for someone@example.org",
        },
        {
            "at": "2026-10-02T02:35:00+00:00",
            "status": "run_succeeded",
            "dag_id": "tailor_nightly",
            "dag_run_id": "scheduled__2026-10-01",
            "day": "2026-10-01",
        },
    ]
    for e in events:
        runlog.record_event(e, s)
    log = runlog.run_log_path(s)
    with open(log, "a") as f:
        f.write("not json\n")

    con = connect(s.warehouse, settings=s)
    try:
        assert runlog.load_run_log(con, log) == 2
        assert runlog.load_run_log(con, log) == 2
        assert con.execute("select count(*) from ops.run_log").fetchall() == [(2,)]
        runlog.record_event(
            {
                **events[1],
                "at": "2026-10-03T02:30:00+00:00",
                "day": "2026-10-02",
                "dag_run_id": "scheduled__2026-10-02",
            },
            s,
        )
        runlog.load_run_log(con, log)
        rows = con.execute(
            "select day, status, task_id, try_number from ops.run_log order by logged_at"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        (dt.date(2026, 10, 1), "task_failed", "dbt_build", 1),
        (dt.date(2026, 10, 1), "run_succeeded", None, None),
        (dt.date(2026, 10, 2), "run_succeeded", None, None),
    ]
    assert runlog.load_run_log(duckdb.connect(), tmp_path / "missing.jsonl") == 0

    page = report.write_run_report(DAY, s).read_text()
    runs = _text(_section(page, "runs"))
    assert "task_failed" in runs and "dbt_build" in runs and "StageError: boom" in runs
    assert "someone@example.org" not in page
    head = _text(_section(page, "run"))
    assert "succeeded" in head and "scheduled__2026-10-01" in head

    # the pipeline's report step also brings the file's new events into ops.run_log
    runlog.record_event({**events[0], "at": "2026-10-04T02:00:00+00:00"}, s)
    report.write_run_report(DAY, s, sync_run_log=True)
    assert _q(s.warehouse, "select count(*) from ops.run_log") == [(4,)]


def test_runs_index_lists_every_report_newest_first(tmp_path, tailor_env):
    s = tailor_env
    for day in (dt.date(2026, 10, 1), dt.date(2026, 10, 3), dt.date(2026, 10, 2)):
        report.write_run_report(day, s, status="succeeded")
    index = (s.reports / "runs" / "index.html").read_text()
    links = re.findall(r'href="(\d{4}-\d{2}-\d{2})/index.html"', index)
    assert links == ["2026-10-03", "2026-10-02", "2026-10-01"]
    assert not list((s.reports / "runs").rglob("*.tmp"))


def test_publish_dbt_docs_writes_one_static_page(run):
    s, _ = run
    path = report.publish_dbt_docs(s)
    assert path == s.reports / "dbt_docs" / "index.html"
    page = path.read_text()
    assert "customer_rfm" in page  # the manifest is inlined: opens from disk, no server
    assert '"MANIFEST.JSON INLINE DATA"' not in page
    again = report.write_run_report(DAY, s)
    assert 'href="../../dbt_docs/index.html"' in again.read_text()


def test_the_readme_run_log_query_works_on_the_snapshot(tailor_env):
    """`select ... from ops.run_log` in the snapshot, with the events recorded so far, before
    any report has been written (a plain `tailor run` records none: the table is empty)."""
    from tailor import orchestration
    from tailor.publish import publish_snapshot
    from tailor.warehouse import ensure_raw_schema

    s = tailor_env
    con = connect(s.warehouse, settings=s)
    try:
        ensure_raw_schema(con)
    finally:
        con.close()
    publish_snapshot(s)
    readme_query = "select logged_at, status, task_id, error from ops.run_log order by 1 desc"
    assert _q(s.snapshot, readme_query) == []
    orchestration.record_skip(DAY, "scheduled__2026-10-01", "no landing files")
    publish_snapshot(s)
    assert [r[1] for r in _q(s.snapshot, readme_query)] == ["run_skipped"]
