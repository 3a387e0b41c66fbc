"""The raw and marts data-quality gates, with real Great Expectations on small DuckDB
warehouses (the ML outputs' gate: test_expectations_ml.py).

Each layer is validated once on good data (it must pass) and once on data broken in
several ways at once (it must fail, and every kind of breakage must be reported by the
right expectation with the bad values in the message). Validations are shared by the
tests of a module-scoped fixture, because GX is slow to import and to set up.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO
from tests.integration.gate_fixtures import (
    RUN_DAY,
    build_marts,
    connect,
    evaluated,
    failed,
    module_settings,
    validate,
    warehouse,
)

pytestmark = pytest.mark.integration

GOOD_DAY = dt.date(2026, 10, 14)
BAD_DAY = dt.date(2026, 10, 24)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):
    yield from module_settings(tmp_path_factory)


# --------------------------------------------------------------------------- raw data


def event(
    mid, type_="track", name="Product Viewed", ts=None, day=GOOD_DAY, anon="a-1", user=None, **props
):
    ts = ts or f"{day.isoformat()}T10:00:00Z"
    record = {
        "messageId": mid,
        "type": type_,
        "anonymousId": anon,
        "timestamp": ts,
        "receivedAt": ts,
        "properties": props or {"product_id": "P01", "price": 19.9},
    }
    if name is not None and type_ == "track":
        record["event"] = name
    if user is not None:
        record["userId"] = user
    return record


def write_partition(landing: Path, source: str, day: dt.date, name: str, text: str) -> None:
    folder = landing / source / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def ndjson(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def good_day_files(landing: Path, day: dt.date) -> None:
    late = (day - dt.timedelta(days=2)).isoformat() + "T23:00:00+02:00"  # late but allowed
    events = [
        event(f"{day}-m1", "page", None, day=day),
        event(f"{day}-m2", day=day, user="C001"),
        event(f"{day}-m3", "identify", None, day=day, user="C001"),
        event(f"{day}-m4", name="Order Completed", day=day, user="C001", order_id="O1", price=39.8),
        event(f"{day}-m5", ts=late, anon="a-2"),
    ]
    write_partition(landing, "events", day, "events.ndjson", ndjson(events))
    write_partition(
        landing,
        "customers",
        day,
        "customers.csv",
        "customer_id,email,first_name,updated_at\n"
        f"C001,ann@example.org,Ann,{day}T08:00:00Z\nC002,bob@example.org,Bob,{day}T09:00:00Z\n",
    )
    write_partition(
        landing,
        "orders",
        day,
        "orders.csv",
        f"order_id,customer_id,ordered_at,status,total\nO{day:%d}1,C001,{day}T10:05:00Z,completed,39.80\n",
    )
    write_partition(
        landing,
        "order_items",
        day,
        "order_items.csv",
        f"order_id,line_number,product_id,quantity,unit_price\nO{day:%d}1,1,P01,2,19.90\n",
    )
    consents = [
        {
            "consent_id": f"CS{day:%d}1",
            "subject_id": "C001",
            "purpose": "email_marketing",
            "granted": True,
            "consented_at": f"{day}T08:00:00Z",
        },
        {
            "consent_id": f"CS{day:%d}2",
            "subject_id": "C002",
            "purpose": " Analytics ",
            "granted": False,
            "consented_at": f"{day}T09:00:00Z",
        },
    ]
    write_partition(landing, "consents", day, "consents.ndjson", ndjson(consents))


def bad_day_files(landing: Path, day: dt.date) -> None:
    """What the loader lets through (it is syntactically valid) but the gate must stop."""
    events = [event(f"old-{i}", ts="2020-01-01T10:00:00Z", anon=f"a-{i}") for i in range(30)]
    events += [event(f"ok-{i}", day=day) for i in range(8)]
    events += [
        event("m-click", "click", None, day=day),
        event("m-undefined", day=day, user="undefined"),
        event("m-badanon", day=day, anon="bad id'"),
        event("m-noname", name=None, day=day),  # a warning only
    ]
    write_partition(landing, "events", day, "events.ndjson", ndjson(events))
    consents = [
        {
            "consent_id": "CSX1",
            "subject_id": "C001",
            "purpose": "marketing",
            "granted": True,
            "consented_at": f"{day}T08:00:00Z",
        }
    ]
    write_partition(landing, "consents", day, "consents.ndjson", ndjson(consents))


def break_contract(con, day: dt.date) -> None:
    """What the loader would have quarantined, written straight into the raw tables, and
    a load log whose history makes the day's events collapse and whose file does not
    reconcile."""
    props = '\'{"product_id": "P01", "price": -5}\''
    meta = f"date '{day}', 'b', 'events/manual', 1, now()"
    for mid, anon, user, ptext in (
        ("null", "'a-1'", "null", "null"),
        ("'m-noid'", "null", "null", "null"),
        ("'m-negprice'", "'a-1'", "null", props),
    ):
        con.execute(
            f"insert into raw.events (message_id, type, event, anonymous_id, user_id, event_timestamp, properties, _dt, _batch_id, _source_file, _line, _loaded_at) "
            f"values ({mid}, 'track', 'Product Viewed', {anon}, {user}, '{day}T10:00:00Z', {ptext}, {meta})"
        )
    for back in (1, 2, 3):
        con.execute(
            "insert into raw.load_log (_batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded, rows_quarantined, started_at, finished_at) values ('h', 'events', ?, 'events/history.ndjson', 'x', 1, 500, 500, 0, now(), now())",
            [day - dt.timedelta(days=back)],
        )
    con.execute(
        "insert into raw.load_log (_batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded, rows_quarantined, started_at, finished_at) values ('b', 'orders', ?, 'orders/dt=broken/orders.csv', 'x', 1, 10, 5, 1, now(), now())",
        [day],
    )


@pytest.fixture(scope="module")
def raw_warehouse(settings):
    from tailor.ingest import load_day

    s = warehouse(settings, "raw_gate")
    con = connect(s)
    try:
        for day in (GOOD_DAY - dt.timedelta(days=1), GOOD_DAY):
            good_day_files(s.landing, day)
            load_day(con, s.landing, day)
        bad_day_files(s.landing, BAD_DAY)
        load_day(con, s.landing, BAD_DAY)
        break_contract(con, BAD_DAY)
    finally:
        con.close()
    return s


@pytest.fixture(scope="module")
def raw_good(raw_warehouse):
    """The raw layer of a good day, validated through the pipeline stage."""
    from expectations.runner import stage
    from tailor.pipeline import RunContext

    return stage("raw")(RunContext(day=GOOD_DAY, settings=raw_warehouse))


@pytest.fixture(scope="module")
def raw_bad(raw_warehouse):
    report, exc = validate("raw", BAD_DAY, raw_warehouse)
    assert exc is not None, "the bad day passed validation"
    return report, str(exc)


# --------------------------------------------------------------------------- raw tests


def test_good_raw_day_passes(raw_good):
    assert raw_good["success"], raw_good["critical_failures"]
    assert raw_good["critical_failures"] == []
    assert raw_good["warnings"] == []
    assert raw_good["expectations"] == raw_good["passed"] > 50


def test_results_land_in_the_warehouse_and_can_be_queried(raw_good, raw_warehouse):
    con = connect(raw_warehouse)
    try:
        rows = con.execute(
            """
            select table_name, count(*), bool_and(success), count(distinct run_id)
            from ops.validation_results
            where layer = 'raw' and run_date = ?
            group by table_name order by table_name
            """,
            [GOOD_DAY],
        ).fetchall()
        check = con.execute(
            """
            select severity, observed_value, unexpected_count, element_count
            from ops.validation_results
            where run_date = ? and table_name = 'raw.events'
              and expectation = 'expect_column_values_to_be_in_set' and column_name = 'type'
            """,
            [GOOD_DAY],
        ).fetchone()
    finally:
        con.close()
    tables = {r[0]: r for r in rows}
    assert set(tables) >= {
        "raw.events",
        "raw.customers",
        "raw.orders",
        "raw.consents",
        "raw.load_log",
    }
    assert all(r[2] for r in rows), rows  # every expectation passed
    assert {r[3] for r in rows} == {1}  # one run
    assert sum(r[1] for r in rows) == raw_good["expectations"]
    assert check == ("critical", None, 0, 5)  # the good day's 5 events


def test_data_docs_and_report_file_are_written(raw_good, raw_warehouse):
    index = Path(raw_good["data_docs"])
    assert index == raw_warehouse.reports / "data_docs" / "index.html"
    html = index.read_text()
    assert "raw.events" in html
    pages = list((index.parent / "validations").rglob("*.html"))
    assert any("raw.events" in str(p) for p in pages)
    # the index lists every page without the CDN scripts GX's own tables need
    offline = html[html.index("works offline") :]
    for page in pages:
        assert f'href="{page.relative_to(index.parent).as_posix()}"' in offline
    assert ">passed<" in offline
    report = json.loads(Path(raw_good["report_file"]).read_text())
    assert report["layer"] == "raw" and report["run_date"] == GOOD_DAY.isoformat()
    assert len(report["outcomes"]) == raw_good["expectations"]


def test_validation_releases_the_warehouse(raw_good, raw_warehouse):
    # DuckDB refuses a second configuration for a file that is still open in the process:
    # this connect only works if GX closed every connection it made.
    duckdb.connect(str(raw_warehouse.warehouse), config={"threads": 1}).close()


RAW_FAILURES = [
    # (table, expectation, column, text that must be in the failure message)
    ("raw.events", "expect_table_row_count_to_be_between", None, "250 rows or more"),
    ("raw.events", "expect_column_values_to_not_be_null", "message_id", "1 of 45 unexpected"),
    ("raw.events", "expect_no_unexpected_rows", None, "m-noid"),
    ("raw.events", "expect_column_values_to_be_in_set", "type", '"click"'),
    ("raw.events", "expect_column_values_to_match_regex", "anonymous_id", "bad id'"),
    ("raw.events", "expect_column_values_to_not_be_in_set", "user_id", '"undefined"'),
    ("raw.events", "expect_column_values_to_be_between", "event_at_utc", "2020-01-01T10:00:00"),
    ("raw.events", "expect_column_values_to_be_between", "property_price", "-5.0"),
    ("raw.consents", "expect_column_values_to_be_in_set", "purpose_normalized", '"marketing"'),
    ("raw.load_log", "expect_no_unexpected_rows", None, "orders/dt=broken/orders.csv"),
]


@pytest.mark.parametrize(("table", "expectation", "column", "text"), RAW_FAILURES)
def test_bad_raw_day_fails_for_each_reason(raw_bad, table, expectation, column, text):
    report, message = raw_bad
    outcome = failed(report, table, expectation, column)
    line = outcome.describe()
    assert line in message  # the exception names the table, the expectation and the values
    assert table in line and expectation in line and text in line, line


def test_bad_raw_day_reports_warnings_without_failing_on_them(raw_bad):
    report, message = raw_bad
    warning = failed(report, "raw.events", "expect_no_unexpected_rows", severity="warning")
    assert "m-noname" in warning.describe()
    assert "m-noname" not in message  # warnings are recorded, not raised
    window = failed(
        report, "raw.events", "expect_column_values_to_be_between", "event_at_utc", "warning"
    )
    assert window.unexpected_count == 30
    passed = {(o.table, o.expectation, o.column) for o in report.outcomes if o.success}
    assert ("raw.events", "expect_column_values_to_not_be_null", "type") in passed


@pytest.mark.parametrize("day", [GOOD_DAY, BAD_DAY])
def test_raw_checks_in_sql_give_great_expectations_results(raw_warehouse, day):
    # The gates evaluate their suites in SQL (expectations/sql_checks.py): on a good day
    # and on a day broken every way the suites look for, each check's verdict, counts,
    # percentages and failing values are GX's own.
    gx_results = evaluated("raw", day, raw_warehouse, "gx")
    assert evaluated("raw", day, raw_warehouse, "sql") == gx_results
    failing = {r["type"] for rs in gx_results.values() for r in rs if not r["success"]}
    if day == BAD_DAY:  # every kind of check failed somewhere, so each was compared failing
        assert failing >= {
            "expect_table_row_count_to_be_between",
            "expect_column_values_to_not_be_null",
            "expect_no_unexpected_rows",
            "expect_column_values_to_be_in_set",
            "expect_column_values_to_not_be_in_set",
            "expect_column_values_to_match_regex",
            "expect_column_values_to_be_between",
        }, failing
    else:
        assert not failing


def test_a_suite_with_an_expectation_sql_does_not_know_is_validated_by_gx(
    raw_warehouse, monkeypatch
):
    # a check added to a suite from GX's gallery still runs: its suite goes to a GX
    # checkpoint, the other suites stay in SQL
    import dataclasses

    import great_expectations.expectations as gxe

    from expectations import runner
    from expectations.suites import LAYERS as SUITES
    from expectations.suites.base import SuiteContext

    by_gx = []
    real = runner._run_gx
    monkeypatch.setattr(
        runner, "_run_gx", lambda report, plans, *a: by_gx.extend(plans) or real(report, plans, *a)
    )
    con = connect(raw_warehouse)
    try:
        report = runner.ValidationReport(
            run_id=f"gallery-{GOOD_DAY}",
            run_date=GOOD_DAY,
            layer="raw",
            warehouse=str(raw_warehouse.warehouse),
            started_at=runner.utcnow(),
        )
        ctx = SuiteContext(layer="raw", run_date=GOOD_DAY, settings=raw_warehouse, con=con)
        plans = runner.plan_suites(report, SUITES["raw"], ctx)
        (suite, plan), *others = plans
        extra = gxe.ExpectTableColumnCountToBeBetween(min_value=1)
        plans = [
            (suite, dataclasses.replace(plan, expectations=[*plan.expectations, extra])),
            *others,
        ]
        runner.run_suites(report, plans, raw_warehouse, raw_warehouse.warehouse, con=con)
    finally:
        con.close()
    assert [s.table for s, _ in by_gx] == [suite.table]
    (gallery,) = [o for o in report.outcomes if o.expectation == extra.expectation_type]
    assert gallery.success and gallery.table == suite.table
    assert report.success
    assert len(report.outcomes) == sum(len(p.expectations) for _, p in plans)


def _offline_rows(index: Path) -> str:
    html = index.read_text()
    return html[html.index("works offline") :]


def test_the_gates_of_a_process_share_one_gx_context(raw_good, raw_warehouse, monkeypatch):
    # a night's three gates (and the nights of a range) pay GX's set-up once; validating a
    # layer again in the same process (a rerun) replaces its suites, and its results
    import great_expectations as gx

    made = []
    real = gx.get_context
    monkeypatch.setattr(gx, "get_context", lambda *a, **k: made.append(1) or real(*a, **k))
    first, _ = validate("raw", GOOD_DAY, raw_warehouse)
    again, _ = validate("raw", GOOD_DAY, raw_warehouse)
    assert len(made) <= 1
    assert first.success and again.success
    assert len(again.outcomes) == len(first.outcomes) == raw_good["expectations"]
    con = connect(raw_warehouse)
    try:
        runs = con.execute(
            "select distinct run_id from ops.validation_results where layer = 'raw' and run_date = ?",
            [GOOD_DAY],
        ).fetchall()
    finally:
        con.close()
    assert runs == [(again.run_id,)]


def test_the_data_docs_index_is_built_by_the_last_gate_or_a_failing_one(raw_good, raw_warehouse):
    from expectations.runner import ValidationFailed, validate_layer

    index = raw_warehouse.reports / "data_docs" / "index.html"
    before = index.read_bytes()
    # a passing gate that is not the night's last: its pages now, the index later
    report = validate_layer("raw", GOOD_DAY, raw_warehouse, docs_index=False)
    assert index.read_bytes() == before
    pages = list((index.parent / "validations").rglob(f"{report.run_id}/**/*.html"))
    assert pages and all("tailor_offline.css" in p.read_text() for p in pages)
    # a failing gate builds the index at once: it says why the night stopped
    with pytest.raises(ValidationFailed) as failure:
        validate_layer("raw", BAD_DAY, raw_warehouse, docs_index=False)
    offline = _offline_rows(index)
    assert failure.value.report.run_id in offline and ">FAILED<" in offline
    for page in pages:  # and lists the pages of the gates before it
        assert f'href="{page.relative_to(index.parent).as_posix()}"' in offline


def test_importing_the_runner_does_not_import_great_expectations():
    code = "import sys, expectations.runner; print('great_expectations' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- marts


def break_marts(con) -> None:
    con.execute(
        "insert into marts.customers select * from marts.customers where customer_id = 'C001'"
    )
    con.execute(
        "update marts.customers set has_email_marketing_consent = null where customer_id = 'C002'"
    )
    con.execute("update marts.customer_rfm set r_score = 7 where customer_id = 'C003'")
    con.execute("update marts.customer_rfm set monetary = -50 where customer_id <= 'C005'")
    con.execute(
        "insert into marts.customer_rfm select * replace ('C404' as customer_id) from marts.customer_rfm where customer_id = 'C006'"
    )
    con.execute("drop table marts.customer_lifecycle")
    con.execute(
        "update marts.customer_features set as_of_date = as_of_date - 1 where customer_id = 'C007'"
    )
    con.execute("update marts.customer_features set monetary = null where customer_id = 'C008'")
    con.execute(
        "insert into marts.user_item_interactions select * from marts.user_item_interactions where customer_id = 'C009' and product_id = 'P01'"
    )


@pytest.fixture(scope="module")
def marts_warehouses(settings):
    good, bad = warehouse(settings, "marts_good"), warehouse(settings, "marts_bad")
    for s in (good, bad):
        con = connect(s)
        try:
            build_marts(con)
            if s is bad:
                break_marts(con)
        finally:
            con.close()
    return good, bad


@pytest.fixture(scope="module")
def marts_good(marts_warehouses):
    return validate("marts", RUN_DAY, marts_warehouses[0])


@pytest.fixture(scope="module")
def marts_bad(marts_warehouses):
    report, exc = validate("marts", RUN_DAY, marts_warehouses[1])
    assert exc is not None, "the broken marts passed validation"
    return report, str(exc)


def test_good_marts_pass(marts_good):
    report, exc = marts_good
    assert exc is None, str(exc)
    assert report.success and not report.warnings
    assert {o.table for o in report.outcomes} == {
        "marts.customers",
        "marts.customer_rfm",
        "marts.customer_lifecycle",
        "marts.customer_features",
        "marts.orders",
        "marts.sessions",
        "marts.user_item_interactions",
        "marts.products",
    }


MARTS_FAILURES = [
    ("marts.customers", "expect_column_values_to_be_unique", "customer_id", '"C001"'),
    (
        "marts.customers",
        "expect_column_values_to_not_be_null",
        "has_email_marketing_consent",
        "1 of 21 unexpected",
    ),
    ("marts.customer_rfm", "expect_column_values_to_be_in_set", "r_score", "[7]"),
    ("marts.customer_rfm", "expect_column_values_to_be_between", "monetary", "-50.0"),
    ("marts.customer_rfm", "expect_no_unexpected_rows", None, "C404"),
    ("marts.customer_lifecycle", "expect_table_to_exist", None, "table missing"),
    ("marts.customer_features", "expect_column_values_to_be_in_set", "as_of_date", "2026-10-13"),
    (
        "marts.customer_features",
        "expect_column_values_to_not_be_null",
        "monetary",
        "1 of 20 unexpected",
    ),
    (
        "marts.user_item_interactions",
        "expect_compound_columns_to_be_unique",
        "customer_id,product_id",
        "C009",
    ),
]


@pytest.mark.parametrize(("table", "expectation", "column", "text"), MARTS_FAILURES)
def test_bad_marts_fail_for_each_reason(marts_bad, table, expectation, column, text):
    report, message = marts_bad
    line = failed(report, table, expectation, column).describe()
    assert line in message
    assert text in line, line


@pytest.mark.parametrize("which", ["good", "bad"])
def test_marts_checks_in_sql_give_great_expectations_results(marts_warehouses, which):
    # as the raw gate's: the marts gate's suites in SQL and by GX, on good and broken marts
    s = marts_warehouses[0] if which == "good" else marts_warehouses[1]
    gx_results = evaluated("marts", RUN_DAY, s, "gx")
    assert evaluated("marts", RUN_DAY, s, "sql") == gx_results
    failing = {r["type"] for rs in gx_results.values() for r in rs if not r["success"]}
    if which == "bad":
        assert failing >= {
            "expect_column_values_to_be_unique",
            "expect_compound_columns_to_be_unique",
            "expect_column_values_to_not_be_null",
            "expect_column_values_to_be_in_set",
            "expect_column_values_to_be_between",
            "expect_no_unexpected_rows",
        }, failing
    else:
        assert not failing


def test_bad_marts_fail_nothing_else(marts_bad):
    report, _ = marts_bad
    expected = {(t, e, c) for t, e, c, _ in MARTS_FAILURES}
    critical = {(o.table, o.expectation, o.column) for o in report.critical_failures}
    assert critical == expected
    # A few negative monetary values alone would only be a warning.
    assert failed(
        report, "marts.customer_rfm", "expect_column_values_to_be_between", "monetary", "warning"
    )


def test_a_suite_page_is_rendered_again_only_when_the_suite_changed(raw_good, raw_warehouse):
    from expectations.data_docs import SUITE_PAGES_RECORD
    from expectations.runner import validate_layer

    docs = raw_warehouse.reports / "data_docs"
    events = docs / "expectations" / "raw" / "events.html"
    validate_layer("raw", GOOD_DAY, raw_warehouse)  # (a day's suites say the day's limits)
    suite_pages = {p: p.stat().st_mtime_ns for p in (docs / "expectations").rglob("*.html")}
    assert events in suite_pages
    report = validate_layer("raw", GOOD_DAY, raw_warehouse)
    # the same suites: their pages stay as they were, and the new pages link to them
    assert {p: p.stat().st_mtime_ns for p in suite_pages} == suite_pages
    pages = list((docs / "validations").rglob(f"{report.run_id}/**/*.html"))
    assert pages
    for page in pages:
        links = re.findall(r'href="([^"?#]*expectations/[^"?#]*\.html)', page.read_text())
        assert links and all((page.parent / link).resolve().is_file() for link in links)
    # a page gone, or a suite that changed since its page was rendered: rendered again
    events.unlink()
    record = docs / SUITE_PAGES_RECORD
    done = json.loads(record.read_text())
    raw_pages = docs / "expectations" / "raw"  # (other tests may have left marts pages)
    changed = next(p for p in suite_pages if p != events and p.is_relative_to(raw_pages))
    name = "raw." + changed.relative_to(raw_pages).with_suffix("").as_posix()
    record.write_text(json.dumps({**done, name: "an older suite"}))
    validate_layer("raw", GOOD_DAY, raw_warehouse)
    assert events.is_file() and "tailor_offline.css" in events.read_text()
    assert changed.stat().st_mtime_ns != suite_pages[changed]
    assert json.loads(record.read_text())[name] == done[name]
