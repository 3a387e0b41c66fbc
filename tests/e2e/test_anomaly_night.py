"""A night whose mobile events drop by half: it completes, and the drop is in
ops.anomalies, in the run report and at the alert webhook."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.e2e

START = dt.date(2026, 10, 1)
NIGHT = dt.date(2026, 10, 8)  # a week of history before it


def test_a_night_whose_mobile_events_drop_by_half_is_flagged_reported_and_posted(
    tailor_env, webhook, monkeypatch
):
    from tailor import ingest, pipeline
    from tailor.anomalies import backfill
    from tailor.incidents import Incident
    from tailor.report import report_dir
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate
    from tailor.warehouse import connect

    s = tailor_env
    monkeypatch.setenv("TAILOR_ALERT_WEBHOOK", webhook.url)
    # a week of history is enough to judge here (the default waits for two), which keeps
    # the warehouse small
    conf = s.data / "tailor.yml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("anomalies:\n  min_history: 7\n")
    monkeypatch.setenv("TAILOR_CONFIG", str(conf))
    config = GeneratorConfig(customers=1000, products=200, days=8, start=START, seed=42)
    generate(config, s.landing, s.ground_truth, incidents=(Incident("mobile_outage", NIGHT, 0.5),))
    # the nights before: loaded and measured in one batch (`tailor load`, `tailor anomalies`)
    con = connect(s.warehouse, settings=s)
    try:
        day = START
        while day < NIGHT:
            ingest.load_day(con, s.landing, day)
            day += dt.timedelta(days=1)
    finally:
        con.close()
    backfill(s, START, NIGHT - dt.timedelta(days=1), judge=False)

    ctx = pipeline.run_day(NIGHT, s, publish=False)

    assert ctx.results["export"].get("status") != "held"  # holding is off by default
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        flagged = {
            (m, dim, v): (observed, expected, low, severity)
            for m, dim, v, observed, expected, low, severity in con.execute(
                "select metric, dimension, dimension_value, observed, expected, lower_bound,"
                " severity from ops.anomalies where run_date = ?",
                [NIGHT],
            ).fetchall()
        }
        (mobile_before,) = con.execute(
            "select median(value) from ops.metrics where metric = 'events'"
            " and dimension = 'device' and dimension_value = 'mobile' and run_date < ?",
            [NIGHT],
        ).fetchone()
    finally:
        con.close()
    observed, expected, low, _ = flagged[("events", "device", "mobile")]
    assert observed < low
    assert 0.35 < observed / mobile_before < 0.65
    assert not any(k[0] == "events" and k[2] in ("desktop", "tablet") for k in flagged)

    html = (report_dir(s, NIGHT) / "index.html").read_text()
    section = html[html.index('id="anomalies"') :]
    assert "device = mobile" in section[: section.index("</section>")]
    assert 'class="spark"' in section

    assert len(webhook.received) == 1
    posted = webhook.received[0]
    assert "mobile" in posted["text"]
    assert any(
        a["metric"] == "events" and a["dimension_value"] == "mobile" and a["observed"] == observed
        for a in posted["anomalies"]
    )
    assert posted["idempotency_key"].startswith(f"tailor-anomalies-{NIGHT}")
