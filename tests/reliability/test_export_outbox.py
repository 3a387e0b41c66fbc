"""Exports are published with the commit, never before (the outbox).

A night that fails or is killed after its export stage leaves no ``dt=`` folder under the
exports folder and calls no webhook; its rerun publishes every export exactly once. A night
killed after its commit but before publishing is published by the next start, once. A
replay of an older day is marked and never re-adds someone who withdrew since. A webhook
header naming an unset variable is a clear error before anything is sent, and a secret
never lands in a file, a log or a table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from tailor import orchestration, pipeline
from tailor.consent import has_table
from tailor.warehouse import connect
from tests.unit.test_export_rules import Warehouse, member, rows
from tests.unit.test_export_webhook import Receiver

pytestmark = pytest.mark.reliability

D1 = dt.date(2026, 10, 5)
D2 = D1 + dt.timedelta(days=1)
PEOPLE = ("C1", "C2", "C3")
SECRET = "tok-9f3a61c2-do-not-leak"
EXPORT_ONLY = [("export", pipeline.stage_export)]
RUN_ONE_NIGHT = """
import datetime as dt, sys
from tailor import pipeline
pipeline.STAGES = [("export", pipeline.stage_export)]
pipeline.run_day(dt.date.fromisoformat(sys.argv[1]), publish=False, report=False)
"""


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def night(tailor_env, receiver, monkeypatch, tmp_path):
    """A warehouse with D1's audiences and consents, and two destinations: a CSV file and
    a webhook whose Authorization header holds a secret from the environment."""
    monkeypatch.setenv("TAILOR_HOOK_TOKEN", SECRET)
    destinations = tmp_path / "destinations.yml"
    destinations.write_text(
        yaml.safe_dump(
            {
                "destinations": [
                    {
                        "name": "mc",
                        "format": "mailchimp_csv",
                        "audience": "rfm_champions",
                        "consent": "email_marketing",
                        "mode": "full",
                    },
                    {
                        "name": "hook",
                        "format": "webhook",
                        "audience": "rfm_champions",
                        "consent": "email_marketing",
                        "fields": {"customer_id": "customer_id", "email": "email"},
                        "webhook": {
                            "url": receiver.url,
                            "batch_size": 2,
                            "max_attempts": 2,
                            "backoff_seconds": 0.0,
                            "headers": {"Authorization": "Bearer ${TAILOR_HOOK_TOKEN}"},
                        },
                    },
                ]
            }
        )
    )
    monkeypatch.setenv("TAILOR_DESTINATIONS", str(destinations))
    monkeypatch.setattr(pipeline, "STAGES", EXPORT_ONLY)
    wh = Warehouse(tailor_env)
    for c in PEOPLE:
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member(c) for c in PEOPLE])
    wh.close()
    return tailor_env


def visible_exports(settings) -> list[str]:
    """dt= folders a CRM sync would see (outside hidden folders)."""
    root = settings.exports
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("dt=*")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def staged(settings) -> list[str]:
    root = settings.exports / ".staged"  # tailor.exports.publication.STAGED
    return sorted(str(p.relative_to(root)) for p in root.rglob("dt=*")) if root.exists() else []


def export_log(settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        if not has_table(con, "ops", "export_log"):
            return []
        return con.execute(
            "select destination, run_date, status, replay from ops.export_log"
            " where status <> 'failed' order by run_date, destination, started_at"
        ).fetchall()
    finally:
        con.close()


def applied_once(receiver) -> None:
    keys = [r["key"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) == len(receiver.applied) > 0


def run_killed(settings, day: dt.date, point: str) -> None:
    env = {**os.environ, "TAILOR_FAIL_AT": point, "TAILOR_FAIL_MODE": "exit"}
    proc = subprocess.run(
        [sys.executable, "-c", RUN_ONE_NIGHT, day.isoformat()],
        env={**env, "PYTHONPATH": str(Path(pipeline.__file__).parent.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 99, proc.stderr


def _fail_after_export(ctx):
    raise RuntimeError("the disk is full")


@pytest.mark.parametrize("how", ["fault point", "later stage"])
def test_a_night_failing_after_its_export_stage_publishes_nothing(
    night, receiver, monkeypatch, how
):
    if how == "fault point":
        monkeypatch.setenv("TAILOR_FAIL_AT", "export.after_stage")
    else:
        monkeypatch.setattr(pipeline, "STAGES", [*EXPORT_ONLY, ("after", _fail_after_export)])
    with pytest.raises(pipeline.StageError, match="injected failure|disk is full"):
        pipeline.run_day(D1, night, publish=False, report=False)
    assert visible_exports(night) == [] and staged(night) == []
    assert receiver.requests == []
    monkeypatch.delenv("TAILOR_FAIL_AT", raising=False)
    monkeypatch.setattr(pipeline, "STAGES", EXPORT_ONLY)
    pipeline.run_day(D1, night, publish=False, report=False)
    assert visible_exports(night) == ["hook/dt=2026-10-05", "mc/dt=2026-10-05"]
    assert staged(night) == []
    applied_once(receiver)
    assert export_log(night) == [("hook", D1, "succeeded", False), ("mc", D1, "succeeded", False)]


def test_a_night_killed_after_its_export_stage_publishes_nothing(night, receiver):
    run_killed(night, D1, "export.after_stage")
    assert visible_exports(night) == [] and receiver.requests == []
    assert export_log(night) == []  # the warehouse never recorded them
    pipeline.run_day(D1, night, publish=False, report=False)  # the rerun
    assert visible_exports(night) == ["hook/dt=2026-10-05", "mc/dt=2026-10-05"]
    assert staged(night) == []  # the dead run's staging area is gone too
    applied_once(receiver)


def test_a_night_killed_between_commit_and_publication_is_published_once(night, receiver):
    run_killed(night, D1, "commit.before_publish")
    assert visible_exports(night) == [] and receiver.requests == []
    assert [r[2] for r in export_log(night)] == ["staged", "staged"]  # committed, owed
    # the next night's start publishes D1, then the night publishes D2
    con = connect(night.warehouse, settings=night)
    con.execute("update marts.audiences set as_of_date = ?", [D2])
    con.close()
    pipeline.run_day(D2, night, publish=False, report=False)
    assert visible_exports(night) == [
        "hook/dt=2026-10-05",
        "hook/dt=2026-10-06",
        "mc/dt=2026-10-05",
        "mc/dt=2026-10-06",
    ]
    assert staged(night) == []
    applied_once(receiver)
    assert [r[2] for r in export_log(night)] == ["succeeded"] * 4


def test_the_airflow_commit_task_publishes(night, receiver):
    begun = orchestration.begin(D1)
    orchestration.run_stage("export", D1)
    assert visible_exports(night) == [] and receiver.requests == []
    out = orchestration.commit(D1, begun)
    assert {e["status"] for e in out["exports_published"]} == {"succeeded"}
    assert visible_exports(night) == ["hook/dt=2026-10-05", "mc/dt=2026-10-05"]
    applied_once(receiver)


def test_a_replay_is_marked_and_keeps_out_who_withdrew_since(night, receiver):
    pipeline.run_day(D1, night, publish=False, report=False)
    wh = Warehouse(night)
    wh._line = 100  # consent ids of their own
    wh.consent("C2", False, "2026-10-06T09:00:00Z", D2)  # C2 withdraws on D2
    wh.audiences(D2, [member(c) for c in PEOPLE])
    wh.close()
    pipeline.run_day(D2, night, publish=False, report=False)
    sent = len(receiver.requests)
    wh = Warehouse(night)
    wh.audiences(D1, [member(c) for c in PEOPLE])  # backfill D1 again
    wh.close()
    pipeline.run_day(D1, night, publish=False, report=False)
    folder = night.exports / "mc" / "dt=2026-10-05"
    assert json.loads((folder / "manifest.json").read_text())["replay"] is True
    assert [r[0] for r in rows(folder / "mc.csv")[1:]] == ["c1@example.com", "c3@example.com"]
    assert len(receiver.requests) == sent  # a replay is never sent
    replays = [r for r in export_log(night) if r[3]]
    assert replays == [("hook", D1, "replayed", True), ("mc", D1, "replayed", True)]


def test_an_unset_header_variable_stops_before_anything_is_sent(night, receiver, monkeypatch):
    from click.testing import CliRunner

    from tailor.cli import main

    monkeypatch.delenv("TAILOR_HOOK_TOKEN")
    with pytest.raises(pipeline.StageError) as err:
        pipeline.run_day(D1, night, publish=False, report=False)
    message = str(err.value)
    assert "'hook'" in message and "'Authorization'" in message
    assert "${TAILOR_HOOK_TOKEN}" in message and "not set" in message
    result = CliRunner().invoke(main, ["export", "--date", D1.isoformat()])
    assert result.exit_code != 0 and "TAILOR_HOOK_TOKEN" in result.output
    assert "Traceback" not in result.output
    assert receiver.requests == [] and visible_exports(night) == []


def test_the_webhook_secret_is_never_written_anywhere(night, receiver):
    receiver.fail_next = [(401, {})]  # the first night is refused: an error is recorded
    pipeline.run_day(D1, night, publish=False, report=False)
    assert receiver.requests[0]["auth"] == f"Bearer {SECRET}"
    con = connect(night.warehouse, settings=night)
    con.execute("update marts.audiences set as_of_date = ?", [D2])
    con.close()
    pipeline.run_day(D2, night, publish=False, report=False)  # sends D1 again, then D2
    log = export_log(night)
    assert [r[2] for r in log] == ["succeeded"] * 4
    leaks = [p for p in night.data.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaks == []
    con = duckdb.connect(str(night.warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            (hits,) = con.execute(
                f'select count(*) from "{schema}"."{table}" t where t::varchar like ?',
                [f"%{SECRET}%"],
            ).fetchone()
            assert hits == 0, f"{schema}.{table}"
        errors = con.execute("select error from ops.export_log where error is not null").fetchall()
    finally:
        con.close()
    assert errors == [] or all(SECRET not in e[0] for e in errors)


def test_tailor_export_by_hand_publishes_after_its_commit(night, receiver):
    from click.testing import CliRunner

    from tailor.cli import main

    result = CliRunner(env={"COLUMNS": "250"}).invoke(main, ["export", "--date", D1.isoformat()])
    assert result.exit_code == 0, result.output
    # the table it prints says what its commit published (checked in the log too: a narrow
    # terminal may cut the table's status column)
    assert "staged" not in result.output
    con = connect(night.warehouse, read_only=True, settings=night)
    try:
        statuses = {
            r[0]
            for r in con.execute(
                "select status from ops.export_log where run_date = ?", [D1]
            ).fetchall()
        }
    finally:
        con.close()
    assert statuses == {"succeeded"}
    assert visible_exports(night) == ["hook/dt=2026-10-05", "mc/dt=2026-10-05"]
    assert staged(night) == []
    applied_once(receiver)
