"""The whole nightly run, every stage for real (load, erasure, Great Expectations, dbt, the
ML jobs, the audiences, the exports), then `tailor erase` and the next night.

What it proves is what a privacy officer asks: nobody without the destination's consent
purpose is in any export file, and after an erasure no trace of the person is left in any
table of the warehouse or the snapshot, in the landing zone, in Great Expectations'
results and Data Docs, in the run log or reports, or in the exports, except the delete
instruction sent to each destination that held them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tailor import erased, exports, ingest
from tailor.consent import consented_customers
from tailor.exports.files import MANIFEST
from tailor.pipeline import STAGES, run_day
from tailor.privacy.identity import resolve_identity
from tailor.privacy.traces import find_traces
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.warehouse import connect
from tests.integration.test_export_pipeline import _erasure_request

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
DAYS = 23
FIRST_RUN = START + dt.timedelta(days=DAYS - 2)
SECOND_RUN = FIRST_RUN + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """22 days loaded, then the full nightly run of day 22."""
    root = tmp_path_factory.mktemp("nightly_privacy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_DATA", str(root / "data"))
        mp.setenv("TAILOR_DUCKDB_MEMORY", "2GB")
        mp.setenv("AIRFLOW_HOME", str(root / "data" / "airflow"))
        for var in (
            "TAILOR_WAREHOUSE",
            "TAILOR_SNAPSHOT",
            "TAILOR_LANDING",
            "TAILOR_EXPORTS",
            "TAILOR_REPORTS",
            "TAILOR_GROUND_TRUTH",
            "TAILOR_DESTINATIONS",
            "TAILOR_DUCKDB_TEMP",
            "TAILOR_FAIL_AT",
        ):
            mp.delenv(var, raising=False)
        from tailor.settings import get_settings

        s = get_settings()
        generate(
            GeneratorConfig(
                customers=400,
                products=80,
                days=DAYS,
                start=START,
                seed=7,
                dirt=DirtConfig().scaled(0.5),
            ),
            s.landing,
            s.ground_truth,
        )
        con = connect(s.warehouse, settings=s)
        try:
            for day in ingest.available_days(s.landing):
                if day < FIRST_RUN:
                    ingest.load_day(con, s.landing, day)
        finally:
            con.close()
        ctx = run_day(FIRST_RUN, s)
        yield s, ctx, mp


def _rows(s, sql: str, params=None, path: Path | None = None):
    con = connect(path or s.warehouse, read_only=True, settings=s)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _exported_rows(folder: Path) -> list[dict]:
    """The records of one export folder that add or update a contact (not removes)."""
    out: list[dict] = []
    for path in sorted(folder.iterdir()):
        if path.name == MANIFEST or "removes" in path.name or path.name.endswith(".api.jsonl"):
            continue  # API requests (removes, unsubscribes, erasures) are not contact rows
        text = path.read_text()
        if path.suffix == ".csv":
            out += list(csv.DictReader(io.StringIO(text)))
        elif path.suffix == ".jsonl":
            for line in text.splitlines():
                rec = json.loads(line)
                if rec.get("op", "upsert") != "delete":
                    out.append(rec.get("data", rec))
    return out


def test_every_stage_runs_and_the_exports_are_written(nightly):
    s, ctx, _ = nightly
    assert list(ctx.results) == [name for name, _ in STAGES] + ["report"]
    assert Path(ctx.results["report"]).is_file()
    (recs,) = _rows(s, "select count(*) from ml.recommendations where run_date = ?", [FIRST_RUN])[0]
    assert recs > 0
    (members,) = _rows(s, "select count(*) from marts.audiences")[0]
    assert members > 0
    config = exports.load_config(exports.destinations_path(s))
    enabled = [d for d in config.destinations if d.enabled]
    logged = _rows(
        s, "select destination, status from ops.export_log where run_date = ?", [FIRST_RUN]
    )
    assert {d for d, _ in logged} == {d.name for d in enabled}
    for dest in enabled:
        manifest = json.loads((dest.output_dir(s) / f"dt={FIRST_RUN}" / MANIFEST).read_text())
        assert manifest["destination"] == dest.name
    # the snapshot analysts query has the day's exports and recommendations
    (snap,) = _rows(
        s, "select count(*) from ml.recommendations where run_date = ?", [FIRST_RUN], s.snapshot
    )[0]
    assert snap == recs


def test_nobody_without_consent_is_in_any_export(nightly):
    s, _, _ = nightly
    config = exports.load_config(exports.destinations_path(s))
    by_email = dict(_rows(s, "select lower(email), customer_id from marts.customers"))
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        checked = 0
        for dest in (d for d in config.destinations if d.enabled):
            allowed = consented_customers(con, dest.consent, FIRST_RUN)
            for rec in _exported_rows(dest.output_dir(s) / f"dt={FIRST_RUN}"):
                ids = {v for k, v in rec.items() if k.lower() in ("customer_id", "external_id")}
                ids |= {
                    by_email.get(str(v).lower())
                    for k, v in rec.items()
                    if "email" in k.lower() and v
                }
                ids.discard(None)
                assert ids, (dest.name, rec)
                assert ids <= allowed, (dest.name, rec)
                checked += 1
    finally:
        con.close()
    assert checked > 0


def _files_naming(root: Path, tokens: set[str]) -> list[Path]:
    needles = [t.lower().encode() for t in tokens]
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and any(n in path.read_bytes().lower() for n in needles):
            found.append(path)
    return found


def test_erasure_leaves_no_trace_anywhere_and_the_next_night_keeps_it(nightly):
    from tailor.cli import main

    s, _, mp = nightly
    # Someone who was exported, has orders and sessions, and preferably appears in a
    # validation sample (so the Great Expectations results must be scrubbed too).
    candidates = [
        r[0]
        for r in _rows(
            s,
            """
            select st.customer_id
            from ops.export_state st join marts.customers c using (customer_id)
            where st.valid_to is null and c.order_count > 0 and c.session_count > 0
            group by 1 order by 1
            """,
        )
    ]
    assert candidates
    samples = " ".join(
        str(r[0])
        for r in _rows(
            s,
            "select coalesce(sample_unexpected::varchar, observed_value::varchar) from ops.validation_results",
        )
    )
    cid = next((c for c in candidates if c in samples), candidates[0])
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        ident = resolve_identity(con, customer_id=cid)
    finally:
        con.close()
    tokens = ident.tokens()
    assert ident.emails and ident.anonymous_ids
    before = _files_naming(s.data, tokens)  # they are everywhere before
    assert any(p.is_relative_to(s.landing) for p in before)
    assert any(p.is_relative_to(s.exports) for p in before)
    if cid in samples:  # a validation sample names them: GX results and Data Docs must go
        assert any(p.is_relative_to(s.data / "gx") for p in before)

    result = CliRunner().invoke(main, ["erase", "--customer-id", cid, "--date", str(SECOND_RUN)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_removed"] > 0

    ctx = run_day(SECOND_RUN, s)
    assert list(ctx.results)[: len(STAGES)] == [name for name, _ in STAGES]

    for path in (s.warehouse, s.snapshot):
        con = connect(path, read_only=True, settings=s)
        try:
            assert find_traces(con, tokens) == [], path
        finally:
            con.close()
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        key = erased.subject_key(con)
    finally:
        con.close()
    (audits,) = _rows(
        s,
        "select count(*) from ops.erasure_audit where subject_hash = ?",
        [erased.subject_hash("customer_id", cid, key)],
    )[0]
    assert audits == 1
    # Files: only the delete instructions of the second night's exports (and the outbox
    # they are sent from) name them.
    deletes = 0
    for path in _files_naming(s.data, tokens):
        assert path.suffix != ".duckdb", f"{path} still holds the person's identifiers"
        assert path.is_relative_to(s.exports), f"{path} still names the person"
        if ".erasure_outbox" in path.parts:
            continue  # the removes owed to a destination, cleared after the next export
        assert f"dt={SECOND_RUN}" in str(path), path
        assert path.name != MANIFEST, path
        text = path.read_text().lower()
        if path.suffix == ".csv":
            assert "removes" in path.name, path
        else:
            for line in text.splitlines():
                if any(t.lower() in line for t in tokens):
                    assert '"op":"delete"' in line.replace(" ", "") or _erasure_request(line), (
                        path,
                        line,
                    )
        deletes += 1
    assert deletes >= 1
