"""The anomalies stage: what it records, where it alerts, and when it holds the exports."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 29)
TOKEN = "s3cr3t-hook-token"


@pytest.fixture
def night(tailor_env, monkeypatch):
    """A warehouse with 28 days of mobile events around 8000; tonight's inputs say 4000."""
    from tailor import anomalies
    from tailor.anomalies import metrics
    from tailor.pipeline import RunContext
    from tailor.warehouse import connect

    s = tailor_env
    history = [
        (DAY - dt.timedelta(days=k), "events", "device", "mobile", 8000.0 + 37 * (k % 5), None)
        for k in range(1, 29)
    ]
    con = connect(s.warehouse, settings=s)
    metrics.write(con, history, [d for d, *_ in history], ["events"])
    con.close()
    tonight = [(DAY, "events", "device", "mobile", 4000.0, None)]
    monkeypatch.setattr(metrics, "compute_inputs", lambda con, start, end: list(tonight))
    monkeypatch.setattr(metrics, "compute_outputs", lambda con, day, settings=None: [])

    def run(config: str = "") -> dict:
        path = s.data / "tailor.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config)
        monkeypatch.setenv("TAILOR_CONFIG", str(path))
        return anomalies.run(RunContext(day=DAY, settings=s))

    return s, run


def _log(settings) -> list[dict]:
    from tailor.runlog import read_run_log

    return read_run_log(settings)


def test_the_drop_is_stored_logged_and_does_not_hold_by_default(night):
    from tailor.warehouse import connect

    s, run = night
    result = run()
    assert result["hold_exports"] is False
    assert result["anomalies"] == 1 and result["critical"] == 1
    con = connect(s.warehouse, read_only=True, settings=s)
    rows = con.execute(
        "select metric, dimension, dimension_value, observed, severity, metric_stage"
        " from ops.anomalies where run_date = ?",
        [DAY],
    ).fetchall()
    con.close()
    assert rows == [("events", "device", "mobile", 4000.0, "critical", "input")]
    (event,) = _log(s)
    assert event["status"] == "anomalies_found" and event["day"] == str(DAY)
    assert "device=mobile" in event["error"]
    assert result["notified"] is False  # no TAILOR_ALERT_WEBHOOK


def test_rerunning_the_night_replaces_its_anomalies(night):
    from tailor.warehouse import connect

    s, run = night
    run()
    run()
    con = connect(s.warehouse, read_only=True, settings=s)
    (n,) = con.execute("select count(*) from ops.anomalies where run_date = ?", [DAY]).fetchone()
    (m,) = con.execute("select count(*) from ops.metrics where run_date = ?", [DAY]).fetchone()
    con.close()
    assert (n, m) == (1, 1)


def test_a_critical_input_anomaly_holds_the_exports_loudly_when_configured(night):
    from tailor.anomalies import held_by_anomalies
    from tailor.pipeline import RunContext

    s, run = night
    result = run("anomalies:\n  hold_exports: true\n")
    assert result["hold_exports"] is True
    assert "events [device=mobile]" in result["held_because"]
    exported = []
    stage = held_by_anomalies(lambda ctx: exported.append(ctx.day) or {"status": "ok"})
    out = stage(RunContext(day=DAY, settings=s, results={"anomalies": result}))
    assert exported == []
    assert out["status"] == "held" and "device=mobile" in out["reason"]
    statuses = [e["status"] for e in _log(s)]
    assert statuses == ["anomalies_found", "exports_held"]
    assert "EXPORTS HELD" in _log(s)[-1]["error"]
    # a night without the hold exports as usual
    assert stage(RunContext(day=DAY, settings=s, results={"anomalies": {"hold_exports": False}}))
    assert exported == [DAY]


def test_a_warning_never_holds(night):
    s, run = night
    result = run(
        "anomalies:\n  hold_exports: true\n  metrics:\n    events: {critical_z: 1000, min_change: 0.2}\n"
    )
    assert result["anomalies"] == 1 and result["critical"] == 0
    assert result["hold_exports"] is False


def test_anomalies_are_posted_to_the_alert_webhook(night, monkeypatch):
    from tailor import runlog

    s, run = night
    posted = []
    monkeypatch.setattr(
        runlog, "post_alert", lambda payload, url: posted.append((payload, url)) or True
    )
    monkeypatch.setenv("TAILOR_ALERT_WEBHOOK", f"https://hooks.example/{TOKEN}")
    result = run()
    assert result["notified"] is True
    ((payload, url),) = posted
    assert url.endswith(TOKEN)
    assert payload["anomalies"][0]["dimension_value"] == "mobile"
    assert payload["anomalies"][0]["lower"] is not None
    assert "events [device=mobile]" in payload["text"]
    json.dumps(payload, allow_nan=False)  # strict JSON: no Infinity for one-sided ranges


def test_an_unreachable_webhook_does_not_fail_the_night_nor_leak_its_url(
    night, monkeypatch, caplog
):
    s, run = night
    monkeypatch.setenv("TAILOR_ALERT_WEBHOOK", f"http://127.0.0.1:9/{TOKEN}")
    result = run()
    assert result["notified"] is False and result["notify_error"]
    assert TOKEN not in json.dumps(result)
    assert TOKEN not in caplog.text
    assert TOKEN not in (s.data / "runs" / "run_log.jsonl").read_text()
