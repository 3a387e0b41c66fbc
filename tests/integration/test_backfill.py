"""A range built in one pass (``tailor run --from D1 --to D2``) against the same days
night by night.

The data set is a small generated shop plus test_dbt's hand-written scenario files
(a visitor who logs in later, a newsletter sign-up, an event four days late). Night by
night is each day loaded, its erasure requests applied and the dbt project built as of
it (what a night does to the marts); the backfill is the real thing, gates and ML
included. The current-state marts, the intermediate tables and every day's segment
history snapshot must be the same; ML and exports are one run as of the last day.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from tailor import transform
from tailor.backfill import backfill, validate_raw_range
from tailor.pipeline import RunContext, StageError, stage_erase
from tailor.warehouse import connect
from tests.conftest import point_tailor_at
from tests.integration.dbt_scenario import (
    ALL_DAYS,
    DAYS,
    INTERMEDIATE,
    LAST,
    MARTS,
    SELECT,
    START,
    write_scenario,
)
from tests.integration.test_dbt import differences, load, rows

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """80 generated customers over test_dbt's five days, with its scenario files."""
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    root = tmp_path_factory.mktemp("backfill_data")
    generate(
        GeneratorConfig(customers=80, products=30, days=DAYS, start=START, seed=5),
        root / "landing",
        root / "ground_truth",
    )
    write_scenario(root / "landing")
    return root / "landing", root / "ground_truth"


def _settings(tmp_path_factory, landing, name: str):
    from tailor.settings import get_settings

    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        point_tailor_at(mp, root / "data")
        mp.delenv("TAILOR_DESTINATIONS", raising=False)
        s = get_settings()
    return dataclasses.replace(s, landing=landing[0], ground_truth=landing[1])


@pytest.fixture(scope="module")
def nights(tmp_path_factory, landing):
    """Day by day, the way nights build the marts: load, erase, dbt build as of the day."""
    s = _settings(tmp_path_factory, landing, "nights")
    for d in ALL_DAYS:
        load(s, [d])
        stage_erase(RunContext(day=d, settings=s))
        transform.build(d, select=SELECT, settings=s, tests=False)
    return s


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory, landing):
    s = _settings(tmp_path_factory, landing, "backfill")
    ctx = backfill(START, LAST, s, publish=False, report=False)
    return s, ctx


def test_a_backfill_builds_the_same_marts_and_daily_history_as_the_nights(nights, backfilled):
    s, _ = backfilled
    for table in MARTS:
        only_backfill, only_nights, n = differences(s, nights, "marts", table)
        assert n > 0, f"marts.{table} is empty"
        assert (only_backfill, only_nights) == (0, 0), (
            f"marts.{table} differs: {only_backfill} rows only in the backfill,"
            f" {only_nights} only night by night"
        )
    for table in INTERMEDIATE:
        assert differences(s, nights, "intermediate", table)[:2] == (0, 0), table
    # one snapshot per customer and day of the range, each as that night built it
    only_backfill, only_nights, n = differences(s, nights, "marts", "customer_segment_history")
    assert (only_backfill, only_nights) == (0, 0)
    per_day = rows(
        s,
        "select snapshot_date, count(*) from marts.customer_segment_history group by 1 order by 1",
    )
    assert [d for d, _ in per_day] == ALL_DAYS and all(count > 0 for _, count in per_day)
    assert n == sum(count for _, count in per_day)


def test_a_backfill_runs_the_models_once_as_of_its_last_day_and_exports_nothing(backfilled):
    s, ctx = backfilled
    assert ctx.results["load"]["days"] == len(ALL_DAYS)
    assert ctx.results["validate_raw"]["days"] == len(ALL_DAYS)
    assert ctx.results["history"]["snapshot_days"] == len(ALL_DAYS) - 1
    assert "export" not in ctx.results
    run_dates = rows(s, "select distinct run_date from ml.model_runs")
    assert run_dates == [(LAST,)]
    (segmented,) = rows(s, "select count(*) from ml.customer_segments")[0]
    assert segmented > 0
    # the input metrics of every day of the range, for the anomaly history
    metric_days = rows(s, "select distinct run_date from ops.metrics order by 1")
    assert [d for (d,) in metric_days] == ALL_DAYS
    assert not s.exports.exists() or not any(p.is_file() for p in s.exports.rglob("*"))


def test_a_failed_backfill_leaves_the_warehouse_as_it_was(tmp_path_factory, landing, monkeypatch):
    s = _settings(tmp_path_factory, landing, "failed")
    load(s, [START])
    before = rows(s, "select count(*), max(_dt) from raw.events")
    monkeypatch.setenv("TAILOR_FAIL_AT", "stage.erase")  # every day loaded into the copy
    with pytest.raises(StageError, match="stage 'erase' failed"):
        backfill(START, LAST, s, publish=False, report=False)
    assert rows(s, "select count(*), max(_dt) from raw.events") == before


# ops.validation_results without what differs between two validations of the same data
RAW_RESULTS = (
    "select * exclude (run_id, validated_at) from ops.validation_results"
    " where layer = 'raw' order by all"
)


def _copy_of(settings, root):
    """The same warehouse in a data folder of its own (its own reports and GX results)."""
    data = root / "data"
    copy = dataclasses.replace(
        settings, data=data, warehouse=data / "warehouse" / "w.duckdb", reports=data / "reports"
    )
    copy.warehouse.parent.mkdir(parents=True)
    shutil.copyfile(settings.warehouse, copy.warehouse)
    return copy


def test_the_range_gate_records_every_day_as_its_nights_gate_would(nights, tmp_path):
    from expectations.runner import validate_layer

    days = ALL_DAYS[-3:]  # the last three: the row-count baselines have history
    each_night = _copy_of(nights, tmp_path / "nights")
    for d in days:
        validate_layer("raw", d, each_night, docs_index=False)
    one_run = _copy_of(nights, tmp_path / "range")
    reports = validate_raw_range(days, one_run)

    assert [r.run_date for r in reports] == days
    expected = rows(each_night, RAW_RESULTS)
    assert len(expected) > 10 * len(days)
    assert rows(one_run, RAW_RESULTS) == expected
    assert all(
        (one_run.reports / "validation" / d.isoformat() / "raw.json").is_file() for d in days
    )


def test_a_critical_failure_on_one_day_stops_the_range_gate_naming_that_day(nights, tmp_path):
    from expectations.runner import ValidationFailed

    s = _copy_of(nights, tmp_path / "broken")
    broken = ALL_DAYS[2]
    con = connect(s.warehouse, settings=s)
    try:  # a tracker that sent the placeholder "undefined" as every userId of one day
        con.execute("update raw.events set user_id = 'undefined' where _dt = ?", [broken])
    finally:
        con.close()
    with pytest.raises(ValidationFailed, match=f"raw validation for {broken} failed") as failed:
        validate_raw_range(ALL_DAYS, s)
    assert "raw.events" in str(failed.value) and "user_id" in str(failed.value)
    # every day of the range is checked and recorded, the broken day as failed
    failing_days = rows(
        s,
        "select distinct run_date from ops.validation_results"
        " where layer = 'raw' and not success and severity = 'critical'",
    )
    assert failing_days == [(broken,)]
    recorded = rows(s, "select distinct run_date from ops.validation_results order by 1")
    assert [d for (d,) in recorded] == ALL_DAYS
