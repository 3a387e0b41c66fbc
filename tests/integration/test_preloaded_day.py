"""`tailor run --date D` on a history loaded beforehand: the load stage finds nothing new
in the landing zone for D, runs the day as the warehouse holds it, and refuses a day
nobody loaded."""

from __future__ import annotations

import datetime as dt

import pytest

from tailor import ingest
from tailor.pipeline import RunContext, StageError, stage_load
from tailor.warehouse import connect
from tests.store_shapes import write_store

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 2)


def test_a_day_already_loaded_runs_without_landing_files(tailor_env, tmp_path):
    history = tmp_path / "history"
    write_store(history, "orders-only", [DAY], customers=5)
    con = connect(tailor_env.warehouse, settings=tailor_env)
    try:
        ingest.load_day(con, history, DAY)  # e.g. an adapter's export, or an archive
    finally:
        con.close()
    assert stage_load(RunContext(DAY, tailor_env))["preloaded"] is True
    with pytest.raises(StageError, match="nothing of that day in the warehouse"):
        stage_load(RunContext(DAY + dt.timedelta(days=1), tailor_env))
