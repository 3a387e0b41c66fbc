"""The gates' SQL evaluation of expectations (expectations/sql_checks.py) on a small
in-memory table: what GX would say for each kind of check, and a check that cannot be
evaluated failing alone, with its reason (tests/integration/test_expectations.py
compares it with GX itself on real raw partitions)."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.unit

QUERY = "select * from t"


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(
        "create table t as select * from (values"
        " ('a', 1, 'x'), ('b', -2, 'y'), ('b', 3, null), (null, 4, 'undefined')) as v(id, n, s)"
    )
    yield con
    con.close()


def _results(con, *expectations):
    from expectations.sql_checks import evaluate

    return evaluate(con, QUERY, list(expectations))


def test_column_checks_count_like_great_expectations(con):
    from expectations.suites.base import between, in_set, no_placeholder_ids, not_null, unique

    null, pos, known, real, uniq = _results(
        con,
        not_null("id"),
        between("n", min_value=0, mostly=0.7),
        in_set("s", ["x", "y"]),
        no_placeholder_ids("s"),
        unique("id"),
    )
    # not null: every row counts, the nulls are the unexpected values
    assert not null.success
    assert (null.result["element_count"], null.result["unexpected_count"]) == (4, 1)
    assert null.result["partial_unexpected_list"] == [None]
    # other checks skip nulls; `mostly` is over the non-null rows: 3 of 4 >= 0 is 0.75
    assert pos.success and pos.result["unexpected_count"] == 1
    assert pos.result["partial_unexpected_list"] == [-2]
    assert not known.success and known.result["unexpected_count"] == 1
    assert known.result["missing_count"] == 1 and known.result[
        "unexpected_percent"
    ] == pytest.approx(100 / 3)
    assert not real.success and real.result["partial_unexpected_list"] == ["undefined"]
    # every copy of a duplicated value is unexpected
    assert not uniq.success and uniq.result["unexpected_count"] == 2


def test_row_count_and_unexpected_rows(con):
    import great_expectations.expectations as gxe

    from expectations.suites.base import no_rows

    count, rows = _results(
        con,
        gxe.ExpectTableRowCountToBeBetween(min_value=5),
        no_rows("select id, n from {batch} where n < 0", "no negative n"),
    )
    assert not count.success and count.result["observed_value"] == 4
    assert not rows.success and rows.result["observed_value"] == 1
    assert rows.result["details"]["unexpected_rows"] == [{"id": "b", "n": -2}]


def test_an_empty_batch_passes_its_column_checks(con):
    from expectations.sql_checks import evaluate
    from expectations.suites.base import between, not_null

    results = evaluate(con, "select * from t where false", [not_null("id"), between("n", 0)])
    assert all(r.success for r in results)
    assert [r.result["unexpected_count"] for r in results] == [None, None]


def test_a_check_that_cannot_run_fails_alone_with_its_reason(con):
    from expectations.suites.base import not_null, well_formed_id

    missing, fine = _results(con, well_formed_id("no_such_column"), not_null("n"))
    assert not missing.success and missing.exception_info["raised_exception"]
    assert "no_such_column" in missing.exception_info["exception_message"]
    assert fine.success and not fine.exception_info["raised_exception"]


def test_an_unreadable_batch_fails_every_check(con):
    from expectations.sql_checks import evaluate
    from expectations.suites.base import not_null

    results = evaluate(con, "select * from no_such_table", [not_null("id"), not_null("n")])
    assert [r.success for r in results] == [False, False]
    assert all("no_such_table" in r.exception_info["exception_message"] for r in results)


@pytest.mark.parametrize(
    ("ignore", "mostly", "success", "missing", "percent"),
    [
        # what GX 1.x says on DuckDB for the same table (checked side by side once; the
        # integration tests compare the marts gate with GX on every run)
        (None, None, False, 2, 40.0),
        ("never", None, False, 0, 200 / 7),
        ("any_value_is_missing", 0.3, True, 4, 200 / 3),
    ],
)
def test_compound_columns_unique_counts_as_great_expectations(
    ignore, mostly, success, missing, percent
):
    # a row with a null among the columns is never a duplicate (GX joins on equal values);
    # ignore_row_if says which rows are not considered at all
    import great_expectations.expectations as gxe

    from expectations.sql_checks import evaluate

    con = duckdb.connect()
    try:
        con.execute(
            "create table pairs as select * from (values ('a', 'x'), ('a', 'x'), ('a', null),"
            " ('a', null), (null, null), (null, null), ('b', 'y')) as v(id, s)"
        )
        kw = {"ignore_row_if": ignore} if ignore else {}
        if mostly:
            kw["mostly"] = mostly
        e = gxe.ExpectCompoundColumnsToBeUnique(column_list=["id", "s"], **kw)
        (r,) = evaluate(con, "select * from pairs", [e])
    finally:
        con.close()
    assert r.success is success
    assert r.result["element_count"] == 7
    assert r.result["unexpected_count"] == 2
    assert r.result["missing_count"] == missing
    assert r.result["unexpected_percent"] == pytest.approx(percent)
    assert r.result["partial_unexpected_list"] == [{"id": "a", "s": "x"}] * 2


def test_compound_columns_unique_on_an_empty_batch_passes_with_nothing_counted(con):
    # GX: element and unexpected counts 0, no percentage
    import great_expectations.expectations as gxe

    from expectations.sql_checks import evaluate

    e = gxe.ExpectCompoundColumnsToBeUnique(column_list=["id", "s"])
    (r,) = evaluate(con, "select * from t where false", [e])
    assert r.success
    assert r.result["element_count"] == r.result["unexpected_count"] == 0
    assert r.result["unexpected_percent"] is None


def test_an_unknown_expectation_type_is_refused(con):
    import great_expectations.expectations as gxe

    from expectations.sql_checks import Unsupported

    with pytest.raises(Unsupported, match="expect_column_mean_to_be_between"):
        _results(con, gxe.ExpectColumnMeanToBeBetween(column="n", min_value=0))


def test_every_raw_suite_is_evaluated_in_sql():
    # the raw gate must hold only checks sql_checks knows (else it would raise at night)
    import datetime as dt

    from expectations.sql_checks import check_supported
    from expectations.suites import LAYERS as SUITES
    from expectations.suites.base import SuiteContext

    con = duckdb.connect()
    try:
        ctx = SuiteContext(layer="raw", run_date=dt.date(2026, 10, 1), settings=None, con=con)
        ctx.__dict__["dbt_vars"] = {}
        for suite in SUITES["raw"]:
            check_supported(suite.plan(ctx).expectations)
    finally:
        con.close()
