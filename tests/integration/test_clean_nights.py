"""Clean generated nights raise no alarm: a week of nights of a small generated data set, run
with ``tailor run``, leave no failed expectation (critical or warning) in
``ops.validation_results``, and the Data Docs are readable offline. An alarm that fires on
clean data every night (churn checked for customers it never scores, a status the staging
layer produces, propensity scores the job skipped on purpose) teaches people to ignore it.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import pytest

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
NIGHTS = 7  # a week of nights: a warning that fires on some weekday or after a few nights shows


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """(settings, the log records of the runs) after NIGHTS nights of 150 customers."""
    from tailor.pipeline import run_range
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    root = tmp_path_factory.mktemp("clean_nights")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.ERROR)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("TAILOR_WAREHOUSE", "TAILOR_SNAPSHOT", "TAILOR_LANDING", "TAILOR_REPORTS"):
            mp.delenv(var, raising=False)
        mp.setenv("TAILOR_DATA", str(root / "data"))
        mp.setenv("TAILOR_DUCKDB_MEMORY", "1GB")
        from tailor.settings import get_settings

        s = get_settings()
        generate(
            GeneratorConfig(customers=150, products=40, days=NIGHTS, start=START, seed=7),
            s.landing,
            s.ground_truth,
        )
        logging.getLogger().addHandler(handler)
        try:
            run_range(START, START + dt.timedelta(days=NIGHTS - 1), s)
        finally:
            logging.getLogger().removeHandler(handler)
        yield s, records


def test_clean_nights_raise_no_validation_warning(nights):
    s, _ = nights
    con = duckdb.connect(str(s.snapshot), read_only=True)
    try:
        failed = con.execute(
            "select run_date, severity, table_name, description, sample_unexpected"
            " from ops.validation_results where not success order by all"
        ).fetchall()
        days = con.execute("select count(distinct run_date) from ops.validation_results").fetchone()
    finally:
        con.close()
    assert days == (NIGHTS,)
    assert failed == []


def test_no_traceback_while_validating_and_rendering(nights):
    _, records = nights
    assert [r.getMessage()[:300] for r in records] == []


def test_data_docs_are_readable_offline(nights):
    s, _ = nights
    docs = s.reports / "data_docs"
    css = docs / "static" / "styles" / "tailor_offline.css"
    assert css.is_file() and "passed" in css.read_text()
    pages = list(docs.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        assert "tailor_offline.css" in page.read_text(), page
    index = (docs / "index.html").read_text()
    assert '<td class="ok">passed</td>' in index and "FAILED" not in index
