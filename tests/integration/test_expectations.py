"""The data-quality gates, with real Great Expectations on small DuckDB warehouses.

Each layer is validated once on good data (it must pass) and once on data broken in
several ways at once (it must fail, and every kind of breakage must be reported by the
right expectation with the bad values in the message). Validations are shared by the
tests of a module-scoped fixture, because GX is slow to import and to set up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

GOOD_DAY = dt.date(2026, 10, 14)
BAD_DAY = dt.date(2026, 10, 24)
RUN_DAY = dt.date(2026, 10, 14)  # marts and ML
K = 10

# Variables tailor_env resets; the module fixture does the same for the whole module.
TAILOR_VARS = (
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
def settings(tmp_path_factory: pytest.TempPathFactory):
    """``tailor_env`` at module scope: every Tailor path in a fresh temporary folder."""
    from tailor.settings import get_settings

    data = tmp_path_factory.mktemp("gx") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_HOME", str(REPO))
        mp.setenv("TAILOR_DATA", str(data))
        for var in TAILOR_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("AIRFLOW_HOME", str(data / "airflow"))
        mp.setenv("TAILOR_DUCKDB_MEMORY", "2GB")
        mp.setenv("TAILOR_DESTINATIONS", str(write_destinations(data, "good", email_only=True)))
        yield get_settings()


def warehouse(settings, name: str):
    """Settings pointing at another warehouse file in the same data folder."""
    # (never a schema name: DuckDB names the catalog after the file)
    return dataclasses.replace(settings, warehouse=settings.data / "warehouse" / f"{name}.duckdb")


def connect(s):
    from tailor.warehouse import connect

    return connect(s.warehouse, settings=s)


def validate(layer: str, day: dt.date, s):
    """(report, exception): the report whether or not the validation failed."""
    from expectations.runner import ValidationFailed, validate_layer

    try:
        return validate_layer(layer, day, s), None
    except ValidationFailed as exc:
        return exc.report, exc


def failed(
    report, table: str, expectation: str, column: str | None = None, severity: str = "critical"
):
    """The failed outcome of one expectation (asserting there is exactly one)."""
    found = [
        o
        for o in report.outcomes
        if o.table == table
        and o.expectation == expectation
        and (column is None or o.column == column)
        and o.severity == severity
        and not o.success
    ]
    assert len(found) == 1, (
        table,
        expectation,
        column,
        [o.describe() for o in report.outcomes if not o.success],
    )
    return found[0]


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


def test_importing_the_runner_does_not_import_great_expectations():
    code = "import sys, expectations.runner; print('great_expectations' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- marts


def build_marts(con, day: dt.date = RUN_DAY) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        f"""
        create or replace table marts.customers as
        select 'C' || lpad(i::varchar, 3, '0') as customer_id,
               i % 4 <> 0 as has_email_marketing_consent, false as has_sms_marketing_consent,
               i % 5 <> 0 as has_personalization_consent, true as has_analytics_consent,
               date '{day}' as as_of_date
        from range(1, 21) t(i)
        """
    )
    con.execute(
        f"""
        create or replace table marts.customer_rfm as
        select customer_id, date '{day}' as as_of_date, i * 3 as recency_days, 1 + i % 3 as frequency,
               10.0 * i as monetary, 1 + i % 5 as r_score, 1 + (i + 1) % 5 as f_score,
               1 + (i + 2) % 5 as m_score, 1 + (i + 3) % 5 as fm_score,
               (1 + i % 5)::varchar || (1 + (i + 1) % 5)::varchar || (1 + (i + 2) % 5)::varchar as rfm_code,
               'Loyal' as rfm_segment
        from (select customer_id, row_number() over (order by customer_id) as i from marts.customers)
        where i <= 10
        """
    )
    con.execute(
        f"create or replace table marts.customer_lifecycle as select customer_id, date '{day}' as as_of_date, 'active' as lifecycle_stage from marts.customers"
    )
    con.execute(
        f"create or replace table marts.customer_features as select customer_id, date '{day}' as as_of_date, 3 as recency_days, 1 as frequency, 10.0 as monetary from marts.customers"
    )
    con.execute(
        "create or replace table marts.orders as select 'O' || i as order_id, case when i = 3 then null else 'C001' end as customer_id, 'completed' as status from range(5) t(i)"
    )
    con.execute(
        "create or replace table marts.sessions as select 's' || i as session_id, timestamp '2026-10-14 10:00' as started_at, 60 * i as duration_seconds from range(5) t(i)"
    )
    con.execute(
        """
        create or replace table marts.products as
        select 'P' || lpad(i::varchar, 2, '0') as product_id, 10.0 + i as price, true as is_active,
               'Home > Kitchen' as category_path
        from range(1, 16) t(i)
        """
    )
    # Every customer bought P01 and the product of its own number (P02..P15, cycling).
    con.execute(
        """
        create or replace table marts.user_item_interactions as
        select c.customer_id, p.product_id, 1.5 as interaction_score, 1 as purchase_count
        from marts.customers c
        join marts.products p
          on p.product_id = 'P01'
          or p.product_id = 'P' || lpad((2 + (right(c.customer_id, 3)::int % 14))::varchar, 2, '0')
        """
    )


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


def test_bad_marts_fail_nothing_else(marts_bad):
    report, _ = marts_bad
    expected = {(t, e, c) for t, e, c, _ in MARTS_FAILURES}
    critical = {(o.table, o.expectation, o.column) for o in report.critical_failures}
    assert critical == expected
    # A few negative monetary values alone would only be a warning.
    assert failed(
        report, "marts.customer_rfm", "expect_column_values_to_be_between", "monetary", "warning"
    )


# --------------------------------------------------------------------------- ML outputs


def build_ml(con, day: dt.date = RUN_DAY) -> None:
    from tailor.warehouse import ensure_raw_schema

    con.execute("create schema if not exists ml")
    segment = "select customer_id, 1 + right(customer_id, 1)::int % 3 as segment_id, 'Segment' as segment_name, 0.5 as distance, 'seg' as run_id"
    con.execute(
        f"create or replace table ml.customer_segments as {segment}, date '{day}' as run_date from marts.customer_features"
    )
    # An older run with fewer customers: the gate looks at the run date's rows only.
    con.execute(
        f"insert into ml.customer_segments {segment}, date '{day}' - 1 from marts.customer_features limit 3"
    )
    con.execute(
        f"""
        create or replace table ml.propensity_scores as
        select customer_id, model, (right(customer_id, 2)::int / 21.0) as score,
               1 + right(customer_id, 2)::int % 10 as decile, 'p' as run_id, date '{day}' as run_date
        from marts.customer_features, (values ('churn'), ('purchase')) m(model)
        """
    )
    # K products per customer, none of them bought.
    con.execute(
        f"""
        create or replace table ml.recommendations as
        with candidates as (
            select c.customer_id, p.product_id
            from marts.customers c cross join marts.products p
            where not exists (
                select 1 from marts.user_item_interactions i
                where i.customer_id = c.customer_id and i.product_id = p.product_id and i.purchase_count > 0
            )
        )
        select customer_id, rank, product_id, 1.0 / rank as score, 'hybrid' as model,
               'popular' as reason, 'r' as run_id, date '{day}' as run_date
        from (select *, row_number() over (partition by customer_id order by product_id) as rank from candidates)
        where rank <= {K}
        """
    )
    con.execute(
        f"""
        create or replace table marts.audiences as
        select md5(a.audience_id || c.customer_id) as audience_member_id, a.audience_id, c.customer_id,
               false as is_control, date '{day}' as as_of_date
        from marts.customers c, (values ('trigger_cart_abandoners'), ('trigger_win_back')) a(audience_id)
        where right(c.customer_id, 2)::int between 1 and 12
        """
    )
    # Raw consent records as the exporter reads them: email grants match the profiles;
    # every customer allows analytics.
    ensure_raw_schema(con)
    con.execute(
        f"""
        insert into raw.consents (consent_id, subject_id, purpose, granted, consented_at, _dt, _batch_id, _source_file, _line, _loaded_at)
        select 'CS-' || purpose || '-' || customer_id, customer_id, purpose, granted, '{day}T08:00:00Z',
               date '{day}', 'b', 'consents/x', 1, now()
        from (
            select customer_id, 'email_marketing' as purpose, has_email_marketing_consent as granted from marts.customers
            union all
            select customer_id, 'analytics', true from marts.customers
        )
        """
    )


def break_ml(con, day: dt.date = RUN_DAY) -> None:
    con.execute(
        "delete from ml.customer_segments where customer_id = 'C007' and run_date = ?", [day]
    )
    con.execute(
        "update ml.propensity_scores set score = 1.7 where customer_id = 'C008' and model = 'churn'"
    )
    con.execute(f"delete from ml.recommendations where customer_id = 'C009' and rank = {K}")
    # C011 (personalization consent) bought P13 (see build_marts): recommend it anyway.
    con.execute(
        "update ml.recommendations set product_id = 'P13' where customer_id = 'C011' and rank = 1"
    )


def write_destinations(data: Path, name: str, email_only: bool) -> Path:
    """A destinations file: a Mailchimp list of cart abandoners (email consent) and, unless
    ``email_only``, a Klaviyo win-back list misconfigured to require only analytics."""
    lines = [
        "version: 1",
        "destinations:",
        "  - {name: mailchimp_cart, format: mailchimp_csv, audience: trigger_cart_abandoners, consent: email_marketing}",
    ]
    if not email_only:
        lines.append(
            "  - {name: klaviyo_win_back, format: klaviyo_csv, audience: trigger_win_back, consent: analytics}"
        )
    path = data / "config" / f"destinations_{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def ml_warehouses(settings, marts_warehouses):
    good, bad = warehouse(settings, "ml_good"), warehouse(settings, "ml_bad")
    con = connect(good)
    try:
        build_marts(con)
        build_ml(con)
    finally:
        con.close()
    shutil.copyfile(good.warehouse, bad.warehouse)
    con = connect(bad)
    try:
        break_ml(con)
    finally:
        con.close()
    return good, bad


@pytest.fixture(scope="module")
def ml_good(ml_warehouses):
    return validate("ml", RUN_DAY, ml_warehouses[0])


@pytest.fixture(scope="module")
def ml_bad(settings, ml_warehouses):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "TAILOR_DESTINATIONS", str(write_destinations(settings.data, "bad", email_only=False))
        )
        report, exc = validate("ml", RUN_DAY, ml_warehouses[1])
    assert exc is not None, "the broken ML outputs passed validation"
    return report, str(exc)


def test_good_ml_outputs_pass(ml_good):
    report, exc = ml_good
    assert exc is None, str(exc)
    assert report.success and not report.warnings and not report.skipped_tables
    consent = failed_or_passed(report, "marts.audiences", "expect_no_unexpected_rows")
    assert consent.success and "trigger_cart_abandoners" in consent.description


def failed_or_passed(report, table, expectation):
    (found,) = [o for o in report.outcomes if o.table == table and o.expectation == expectation]
    return found


ML_FAILURES = [
    ("ml.customer_segments", "expect_no_unexpected_rows", None, "C007"),
    ("ml.propensity_scores", "expect_column_values_to_be_between", "score", "1.7"),
    (
        "ml.recommendations",
        "expect_no_unexpected_rows",
        None,
        '"customer_id": "C009", "recommendations": 9',
    ),
]


@pytest.mark.parametrize(("table", "expectation", "column", "text"), ML_FAILURES)
def test_bad_ml_outputs_fail_for_each_reason(ml_bad, table, expectation, column, text):
    report, message = ml_bad
    lines = [
        o.describe()
        for o in report.critical_failures
        if o.table == table
        and o.expectation == expectation
        and (column is None or o.column == column)
    ]
    assert any(text in line for line in lines), lines
    assert all(line in message for line in lines)


def test_bought_products_are_not_recommended(ml_bad):
    report, message = ml_bad
    (line,) = [
        o.describe() for o in report.critical_failures if "already bought" in (o.description or "")
    ]
    assert '"customer_id": "C011", "product_id": "P13"' in line
    assert line in message


def test_nobody_without_email_consent_is_exported_by_email(ml_bad):
    report, message = ml_bad
    outcome = failed(report, "marts.audiences", "expect_no_unexpected_rows")
    line = outcome.describe()
    # C004, C008 and C012 have no email consent; the win-back list only asks for analytics.
    assert outcome.unexpected_count == 3
    assert '"destination": "klaviyo_win_back"' in line and '"customer_id": "C004"' in line
    assert "mailchimp_cart" not in line  # the exporter's email rule keeps them out there
    assert line in message


def test_missing_ml_tables_are_skipped_with_a_warning(settings):
    from expectations.runner import validate_layer

    s = warehouse(settings, "ml_missing")
    con = connect(s)
    con.close()
    for _ in range(2):  # a rerun replaces the day's rows
        report = validate_layer("ml", RUN_DAY, s)
    assert report.success
    assert sorted(report.skipped_tables) == [
        "marts.audiences",
        "ml.customer_segments",
        "ml.propensity_scores",
        "ml.recommendations",
    ]
    assert all(
        o.severity == "warning" and "table missing" in o.description for o in report.warnings
    )
    con = connect(s)
    try:
        (n,) = con.execute(
            "select count(*) from ops.validation_results where layer = 'ml'"
        ).fetchone()
    finally:
        con.close()
    assert n == 4


def test_a_segmentation_the_job_skipped_is_a_warning_not_a_stop(settings, ml_warehouses):
    """Too few customers to segment: the job records `skipped` and writes no segments; the
    night goes on, with the gap recorded as a warning."""
    from ml.runs import record_model_run

    s = warehouse(settings, "ml_skipped")
    shutil.copyfile(ml_warehouses[0].warehouse, s.warehouse)
    con = connect(s)
    try:
        con.execute("delete from ml.customer_segments")
        record_model_run(
            con,
            run_id=f"segmentation:{RUN_DAY}",
            model="kmeans",
            task="segmentation",
            run_date=RUN_DAY,
            status="skipped",
            message="12 customers in marts.customer_features; need 50",
        )
    finally:
        con.close()
    report, exc = validate("ml", RUN_DAY, s)
    assert exc is None, str(exc)
    gap = failed(report, "ml.customer_segments", "expect_no_unexpected_rows", severity="warning")
    assert "need 50" in gap.description
