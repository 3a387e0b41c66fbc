"""The public data sets through the whole nightly run, as a new user would take them.

REES46 is an events-only store (views, cart adds and purchases, no orders feed, no
catalog file, no consents); Online Retail is an orders-only store (invoices, no events,
no consents). Each is loaded through its adapter (`tailor load --adapter ...`) and the
last day of its history is then run by `tailor run --date`, every stage and gate
included: the load stage finds the day already in the warehouse and the night completes.
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from tailor.adapters import ADAPTERS
from tailor.cli import main
from tailor.warehouse import connect
from tests.conftest import require_dataset

pytestmark = [pytest.mark.integration, pytest.mark.realdata]


def _one(s, sql: str, params=None):
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return con.execute(sql, params or []).fetchone()
    finally:
        con.close()


@pytest.mark.parametrize(
    ("adapter", "last_day"),
    [("rees46", dt.date(2019, 10, 1)), ("online-retail", dt.date(2011, 12, 9))],
)
def test_a_real_export_runs_through_tailor_run(tailor_env, monkeypatch, adapter, last_day):
    path = require_dataset(ADAPTERS[adapter].default_file)
    monkeypatch.setenv("TAILOR_DUCKDB_MEMORY", "2GB")
    runner = CliRunner()
    loaded = runner.invoke(main, ["load", "--adapter", adapter, "--file", str(path)])
    assert loaded.exit_code == 0, loaded.output
    ran = runner.invoke(main, ["run", "--date", last_day.isoformat()])
    assert ran.exit_code == 0, ran.output
    s = tailor_env
    (orders,) = _one(s, "select count(*) from marts.orders where is_purchase")
    assert orders > 0
    (interactions,) = _one(s, "select count(*) from marts.user_item_interactions")
    assert interactions > 0
    (runs,) = _one(
        s,
        "select count(*) from ml.model_runs where run_date = ? and task = 'recommendation'",
        [last_day],
    )
    assert runs > 0
