"""A CRM API token planted in the environment never reaches a file, a log, an ops table,
an error message or the export stage's summary (what the run report shows), even when the
tool refuses it and the export is sent again."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import duckdb
import pytest

from tailor import exports
from tailor.exports import ExportError, publication
from tests.unit.fake_crm import TOKEN, FakeCrm
from tests.unit.test_export_rules import D1, config, dest, member, wh  # noqa: F401

pytestmark = pytest.mark.reliability


def _write_config(wh, doc):  # noqa: F811
    import yaml

    path = wh.settings.data / "destinations.yml"
    path.write_text(yaml.safe_dump({"destinations": [doc]}))
    return path


@pytest.mark.parametrize("tool", ["mailchimp", "klaviyo", "braze", "hubspot", "salesforce"])
def test_the_crm_token_is_never_written_anywhere(wh, tool, monkeypatch, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    fake = FakeCrm(tool)
    monkeypatch.setenv("TAILOR_CRM_TOKEN", TOKEN)
    try:
        cfg_doc = dest(
            name="crm",
            fmt=f"{tool}_csv",
            capped=False,
            api={
                "base_url": fake.url,
                "token_env": "TAILOR_CRM_TOKEN",
                "list_id": "L1",
                "max_attempts": 1,
            },
        )
        cfg = config(cfg_doc)
        wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
        wh.audiences(D1, [member("C1")])
        fake.fail = {1: 401}  # refused: the error is recorded and the export sent again later
        wh.con.close()
        messages = []
        try:
            exports.export_all(D1, wh.settings, config=cfg)
        except ExportError as exc:
            messages.append(str(exc))
        outcomes = publication.publish(wh.settings, config=cfg)
        # the export stage's summary, as the run report shows it (a rerun of the day: every
        # request was acknowledged, so nothing is sent again)
        sent = len(fake.requests)
        monkeypatch.setenv("TAILOR_DESTINATIONS", str(_write_config(wh, cfg_doc)))
        summary = exports.run(SimpleNamespace(settings=wh.settings, day=D1, run_id=None))
        assert len(fake.requests) == sent
        assert messages and "401" in messages[0]
        assert [o.status for o in outcomes] == ["succeeded"]
        assert fake.problems == []
        leaks = [
            p
            for p in wh.settings.data.rglob("*")
            if p.is_file() and TOKEN.encode() in p.read_bytes()
        ]
        assert leaks == []
        con = duckdb.connect(str(wh.settings.warehouse), read_only=True)
        try:
            for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
            ).fetchall():
                (hits,) = con.execute(
                    f'select count(*) from "{schema}"."{table}" t where t::varchar like ?',
                    [f"%{TOKEN}%"],
                ).fetchone()
                assert hits == 0, f"{schema}.{table}"
        finally:
            con.close()
        assert TOKEN not in caplog.text
        assert all(TOKEN not in m for m in messages)
        assert all(TOKEN not in str(o.as_dict()) for o in outcomes)
        assert summary["crm"]["status"] == "succeeded" and TOKEN not in str(summary)
    finally:
        fake.close()
        from tailor.warehouse import connect

        wh.con = connect(wh.settings.warehouse, settings=wh.settings)
