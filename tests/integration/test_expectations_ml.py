"""The ML outputs' data-quality gate, with real Great Expectations on small DuckDB
warehouses: good outputs pass; outputs broken in several ways at once fail with every
breakage reported (a customer without segment, an out-of-range score, a short or stale
recommendation list, a bought product recommended, an export without its consent); missing
tables and a skipped segmentation are warnings. Validations are shared by the tests of a
module-scoped fixture, because GX is slow to import and to set up.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from tests.integration.gate_fixtures import (
    RUN_DAY,
    build_marts,
    connect,
    evaluated,
    failed,
    module_settings,
    validate,
    warehouse,
    write_destinations,
)

pytestmark = pytest.mark.integration

K = 10


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory):
    yield from module_settings(tmp_path_factory)


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


@pytest.fixture(scope="module")
def ml_warehouses(settings):
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


@pytest.mark.parametrize("which", ["good", "bad"])
def test_ml_checks_in_sql_give_great_expectations_results(settings, ml_warehouses, which):
    # the ML gate's suites in SQL (as the gate evaluates them) and by GX, on good and
    # broken outputs (the bad destinations too): the same results
    s = ml_warehouses[0] if which == "good" else ml_warehouses[1]
    with pytest.MonkeyPatch.context() as mp:
        if which == "bad":
            mp.setenv(
                "TAILOR_DESTINATIONS",
                str(write_destinations(settings.data, "bad", email_only=False)),
            )
        gx_results = evaluated("ml", RUN_DAY, s, "gx")
        assert evaluated("ml", RUN_DAY, s, "sql") == gx_results
    failing = {r["type"] for rs in gx_results.values() for r in rs if not r["success"]}
    if which == "bad":
        assert failing >= {"expect_no_unexpected_rows", "expect_column_values_to_be_between"}
    else:
        assert not failing


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
