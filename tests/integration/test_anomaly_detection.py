"""Recall and false alarms of the anomaly detection on a generated month.

The metric series are computed the way ``tailor anomalies --from --to`` computes them: the
landing files loaded into raw.* once, the input metrics of every day in one pass, each
day judged against the weeks before it. A clean month must raise nothing; with incidents
injected, each must be flagged on its day, on its metric and dimension, and nothing else
on the other days.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil

import pytest

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
DAYS = 28
CONFIG_KW = {"customers": 1000, "days": DAYS, "start": START, "seed": 42}
INCIDENTS = (
    "mobile_outage:2026-10-22",
    "bot_spike:2026-10-23",
    "broken_price_feed:2026-10-24",
    "consent_banner_bug:2026-10-25",
)


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """(settings, clean judgements, incident judgements, incidents ground truth)."""
    from tailor import ingest
    from tailor.anomalies import backfill
    from tailor.incidents import parse_incident
    from tailor.settings import get_settings
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate
    from tailor.warehouse import connect

    root = tmp_path_factory.mktemp("month")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_DATA", str(root / "data"))
        mp.delenv("TAILOR_CONFIG", raising=False)
        for var in ("TAILOR_WAREHOUSE", "TAILOR_LANDING", "TAILOR_GROUND_TRUTH"):
            mp.delenv(var, raising=False)
        s = get_settings()
        end = START + dt.timedelta(days=DAYS - 1)
        generate(GeneratorConfig(**CONFIG_KW), s.landing, s.ground_truth)
        con = connect(s.warehouse, settings=s)
        try:
            for k in range(DAYS):
                ingest.load_day(con, s.landing, START + dt.timedelta(days=k))
        finally:
            con.close()
        broken = dataclasses.replace(s, warehouse=root / "broken" / "tailor.duckdb")
        broken.warehouse.parent.mkdir()
        shutil.copyfile(s.warehouse, broken.warehouse)
        clean = backfill(s, START, end)

        # the same month with incidents: only the incident days' files differ, so only
        # those days are loaded again (a reload replaces a day's partition)
        incidents = tuple(parse_incident(x) for x in INCIDENTS)
        landing, truth = root / "broken" / "landing", root / "broken" / "truth"
        generate(GeneratorConfig(**CONFIG_KW), landing, truth, incidents=incidents)
        con = connect(broken.warehouse, settings=broken)
        try:
            for inc in incidents:
                ingest.load_day(con, landing, inc.day)
        finally:
            con.close()
        judged = backfill(broken, START, end)
        truth_rows = list(csv.DictReader((truth / "incidents.csv").open()))
    return s, clean, judged, truth_rows


def test_a_clean_month_raises_no_alert(month):
    _, clean, _, _ = month
    flagged = {d: [a.describe() for a in j.anomalies] for d, j in clean.items() if j.anomalies}
    assert flagged == {}
    judged_days = [d for d, j in clean.items() if j.judged]
    assert len(judged_days) >= 14  # two weeks of history first, then every day is judged
    assert min(clean[d].judged for d in judged_days) > 30  # many series, not a few


def test_every_incident_is_flagged_on_its_day_with_its_metric_and_dimension(month):
    _, _, judged, truth = month
    assert len(truth) == len(INCIDENTS)
    for row in truth:
        day = dt.date.fromisoformat(row["dt"])
        keys = {a.key: a for a in judged[day].anomalies}
        key = (row["metric"], row["dimension"], row["dimension_value"])
        assert key in keys, f"{row['kind']} on {day} not flagged; got {sorted(keys)}"


def test_incidents_raise_nothing_on_the_other_days(month):
    _, _, judged, truth = month
    days = {dt.date.fromisoformat(r["dt"]) for r in truth}
    others = {d: [a.describe() for a in j.anomalies] for d, j in judged.items() if d not in days}
    assert {d: x for d, x in others.items() if x} == {}
