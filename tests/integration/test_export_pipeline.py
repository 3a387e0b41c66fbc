"""Audiences, exports and erasure on generated data through the real dbt project.

Two nights are run the way the pipeline runs them (load -> erasure stage -> dbt -> exports
-> publish), with the ML outputs stood in by simple tables of the documented shapes. The
test then checks what users care about: consent and holdout hold in every exported file,
reruns are byte-identical, the A/B report's statistics are right, and erased people leave no
trace in the warehouse, the snapshot, the landing zone or the exports (except the delete
instruction sent to the tools), even after an old partition is delivered again and dbt
rebuilds everything from scratch.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import shutil
from pathlib import Path

import pytest

from tailor import exports, ingest, transform
from tailor.consent import consented_customers
from tailor.exports.files import MANIFEST
from tailor.pipeline import RunContext, erase_and_publish
from tailor.privacy import erasure, physical
from tailor.privacy.identity import resolve_identity
from tailor.privacy.requests import pending_requests
from tailor.privacy.traces import find_traces, landing_traces
from tailor.publish import publish_snapshot
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.warehouse import connect

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
DAYS = 6


def _erasure_request(line: str) -> bool:
    """An API request (``<destination>.api.jsonl``, lower-cased) that deletes people from the
    tool: Braze /users/delete, HubSpot gdpr-delete, Klaviyo data-privacy-deletion-jobs,
    Salesforce DELETE by external id."""
    req = json.loads(line)
    return req["method"] == "delete" or "delet" in req["path"]


def fake_ml(con, day: dt.date) -> None:
    """Stand-ins for the ML jobs' tables (documented shapes), from raw data only."""
    con.execute("create schema if not exists ml")
    con.execute(
        """
        create table if not exists ml.customer_segments (customer_id varchar, segment_id integer,
            segment_name varchar, distance double, run_id varchar, run_date date);
        create table if not exists ml.propensity_scores (customer_id varchar, model varchar,
            score double, decile integer, run_date date);
        create table if not exists ml.recommendations (customer_id varchar, rank integer,
            product_id varchar, score double, model varchar, reason varchar, run_date date);
        """
    )
    for t in ("customer_segments", "propensity_scores", "recommendations"):
        con.execute(f"delete from ml.{t} where run_date = ?", [day])
    con.execute(
        """
        insert into ml.customer_segments
        select customer_id, (hash(customer_id) % 3)::int, 'Segment ' || (hash(customer_id) % 3),
               0, 'segmentation:' || ?, ?
        from (select distinct trim(customer_id) as customer_id from raw.customers)
        """,
        [str(day), day],
    )
    con.execute(
        """
        insert into ml.propensity_scores
        select customer_id, 'purchase_30d', s, ntile(10) over (order by s, customer_id), ?
        from (select distinct trim(customer_id) as customer_id, (hash(customer_id) % 1000) / 1000.0 as s
              from raw.customers)
        """,
        [day],
    )
    con.execute(
        """
        insert into ml.recommendations
        select c.customer_id, p.r, p.product_id, 1.0 / p.r, 'popularity', 'popular this week', ?
        from (select distinct trim(customer_id) as customer_id from raw.customers) c
        cross join (
            select product_id, row_number() over (order by product_id) as r
            from (select distinct product_id from raw.products) limit 4
        ) p
        """,
        [day],
    )


def night(s, day: dt.date, *, full_refresh: bool = False) -> None:
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, day)
    finally:
        con.close()
    erasure.run(RunContext(day=day, settings=s))
    con = connect(s.warehouse, settings=s)
    try:
        fake_ml(con, day)
    finally:
        con.close()
    transform.build(day, full_refresh=full_refresh, settings=s, tests=False)
    exports.export_all(day, s)
    publish_snapshot(s)


@pytest.fixture(scope="module")
def run_days(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("exports_pipeline")
    saved = dict(os.environ)
    os.environ.update({"TAILOR_DATA": str(root / "data"), "TAILOR_DUCKDB_MEMORY": "2GB"})
    for var in (
        "TAILOR_WAREHOUSE",
        "TAILOR_SNAPSHOT",
        "TAILOR_LANDING",
        "TAILOR_EXPORTS",
        "TAILOR_GROUND_TRUTH",
        "TAILOR_DESTINATIONS",
        "TAILOR_FAIL_AT",
    ):
        os.environ.pop(var, None)
    try:
        from tailor.settings import get_settings

        s = get_settings()
        generate(
            GeneratorConfig(
                customers=300,
                products=60,
                days=DAYS,
                start=START,
                seed=11,
                dirt=DirtConfig().scaled(0.5),
            ),
            s.landing,
            s.ground_truth,
        )
        shutil.copytree(s.landing, s.data / "landing_as_delivered")
        # Who the generated erasure requests name, resolved on a scratch load of everything.
        scratch = connect(s.data / "scratch.duckdb", settings=s)
        try:
            ingest.load_range(scratch, s.landing)
            requested = [
                resolve_identity(scratch, customer_id=r["customer_id"], email=r["email"])
                for r in pending_requests(scratch, START + dt.timedelta(days=DAYS))
            ]
        finally:
            scratch.close()
        (s.data / "scratch.duckdb").unlink()
        con = connect(s.warehouse, settings=s)
        try:
            for day in ingest.available_days(s.landing):
                if day < START + dt.timedelta(days=DAYS - 2):
                    ingest.load_day(con, s.landing, day)
        finally:
            con.close()
        d1 = START + dt.timedelta(days=DAYS - 2)
        night(s, d1)
        yield s, d1, requested
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_exports_honour_consent_and_holdout(run_days):
    s, d1, _ = run_days
    config = exports.load_config(exports.destinations_path(s))
    con = connect(s.warehouse, read_only=True)
    try:
        # The export gate's consent (raw) agrees with dbt's int_consents_resolved.
        for purpose in ("email_marketing", "personalization"):
            dbt_side = {
                r[0]
                for r in con.execute(
                    "select customer_id from intermediate.int_consents_resolved where purpose = ? and is_granted",
                    [purpose],
                ).fetchall()
            }
            assert consented_customers(con, purpose, d1) == dbt_side
        # marts.audiences' hash agrees with the Python one, for every member.
        members = con.execute(
            "select experiment_id, customer_id, holdout_bucket, is_control, holdout_share from marts.audiences"
        ).fetchall()
        assert members
        for exp, cid, bucket, control, share in members:
            assert bucket == exports.holdout_bucket(exp, cid)
            assert control == (bucket < share)
        control = {
            (a, c)
            for a, c in con.execute(
                "select audience_id, customer_id from marts.audiences where is_control"
            ).fetchall()
        }
        emails = dict(
            con.execute(
                "select email, customer_id from marts.customers where email is not null"
            ).fetchall()
        )
        n_rows = 0
        for dest in config.destinations:
            if not dest.enabled:
                continue
            folder = dest.output_dir(s) / f"dt={d1}"
            manifest = json.loads((folder / MANIFEST).read_text())
            consenting = consented_customers(con, dest.consent, d1)
            for f in manifest["files"]:
                if f["role"] in (
                    "removes",
                    "api_requests",
                ):  # removes; the same people as API calls
                    continue
                data = (folder / f["name"]).read_text()
                if f["name"].endswith(".csv"):
                    body = list(csv.DictReader(io.StringIO(data)))
                    key = dest.key[0]
                    ids = [emails.get(r[key], r[key]) for r in body]
                else:
                    ids = [json.loads(x)["data"]["customer_id"] for x in data.splitlines()]
                n_rows += len(ids)
                assert set(ids) <= consenting, dest.name
                assert not {(dest.audience, c) for c in ids} & control, dest.name
        assert n_rows > 50
    finally:
        con.close()


def test_rerunning_the_night_gives_identical_files(run_days):
    s, d1, _ = run_days
    before = {p: p.read_bytes() for p in sorted(s.exports.rglob("*")) if p.is_file()}
    exports.export_all(d1, s)
    after = {p: p.read_bytes() for p in sorted(s.exports.rglob("*")) if p.is_file()}
    assert after == before


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def test_holdout_report_z_test(run_days):
    s, d1, _ = run_days
    con = connect(s.warehouse, settings=s)
    try:
        # A send on d1 - 2 with known groups: half the buyers of the next days in each group.
        send = d1 - dt.timedelta(days=2)
        buyers = [
            r[0]
            for r in con.execute(
                "select distinct customer_id from marts.orders where is_purchase and order_date > ? "
                "and order_date <= ? and customer_id is not null order by 1",
                [send, d1],
            ).fetchall()
        ]
        others = [
            r[0]
            for r in con.execute(
                "select customer_id from marts.customers where customer_id not in "
                "(select customer_id from marts.orders where customer_id is not null) order by 1 limit 60"
            ).fetchall()
        ]
        assert len(buyers) >= 4 and len(others) >= 40
        treated = buyers[: len(buyers) * 3 // 4] + others[:40]
        held = buyers[len(buyers) * 3 // 4 :] + others[40:60]
        con.execute("delete from ops.holdout_assignments where send_date = ?", [send])
        for cid in treated + held:
            con.execute(
                "insert into ops.holdout_assignments values (?, 'test', 'test_audience', 'test_audience:x', ?, ?, ?)",
                [send, cid, cid in held, cid not in held],
            )
    finally:
        con.close()
    transform.build(d1, select="audience_holdout_report", settings=s, tests=False)
    con = connect(s.warehouse, read_only=True)
    try:
        row = con.execute(
            "select treated_members, treated_conversions, control_members, control_conversions, z_score, p_value,"
            " is_window_complete, observed_days from marts.audience_holdout_report where audience_id = 'test_audience'"
        ).fetchone()
    finally:
        con.close()
    n1, x1, n2, x2, z, p, complete, observed = row
    assert (n1, x1, n2, x2) == (
        len(treated),
        len(buyers) * 3 // 4,
        len(held),
        len(buyers) - len(buyers) * 3 // 4,
    )
    p1, p2, pooled = x1 / n1, x2 / n2, (x1 + x2) / (n1 + n2)
    expected_z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert z == pytest.approx(expected_z, rel=1e-9)
    assert p == pytest.approx(_normal_two_sided(expected_z), abs=1e-6)
    assert (complete, observed) == (False, 2)


def test_erasure_leaves_no_trace_and_sticks(run_days):
    s, d1, requested = run_days
    d2 = d1 + dt.timedelta(days=1)
    con = connect(s.warehouse, settings=s)
    try:
        # someone who was exported, has events and orders
        (cid,) = con.execute(
            """
            select st.customer_id from ops.export_state st
            join marts.customers c using (customer_id)
            where c.order_count > 0 and c.session_count > 0 and st.valid_to is null
            order by 1 limit 1
            """
        ).fetchone()
        ident = resolve_identity(con, customer_id=cid)
    finally:
        con.close()
    assert ident.anonymous_ids and ident.order_ids and ident.emails
    assert requested  # the generator's erasure_requests
    tokens = ident.tokens()
    # `tailor erase --customer-id` between the nights ...
    erase_and_publish(s, customer_id=cid, day=d2)
    # ... then the next night (which also applies the erasure_requests source), and the
    # batched pass over the files its requests leave for the deadline.
    night(s, d2)
    physical.run_pass(s, d2)
    for person in requested:
        tokens |= person.tokens()

    def warehouse_traces(path):
        c = connect(path, read_only=True)
        try:
            return find_traces(c, tokens)
        finally:
            c.close()

    assert warehouse_traces(s.warehouse) == []
    assert warehouse_traces(s.snapshot) == []
    assert landing_traces(s.landing, tokens) == []
    # In the exports, only the delete instruction of the next export mentions them.
    deletes = 0
    for path in sorted(s.exports.rglob("*")):
        if not path.is_file() or ".erasure_outbox" in path.parts:
            continue
        text = path.read_text().lower()
        if not any(t.lower() in text for t in tokens):
            continue
        assert f"dt={d2}" in str(path), path
        deletes += 1
        if path.name.endswith(".csv"):
            assert path.name.endswith(".removes.csv"), path
        elif path.name == MANIFEST:
            pytest.fail(f"{path} names an erased person")
        else:
            for line in text.splitlines():
                if any(t.lower() in line for t in tokens):
                    assert '"op":"delete"' in line or _erasure_request(line), (path, line)

    assert deletes >= 1  # the person erased by id was in at least one destination

    # An old partition is delivered again, and dbt rebuilds everything from scratch.
    shutil.copytree(s.data / "landing_as_delivered", s.landing, dirs_exist_ok=True)
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, START)
    finally:
        con.close()
    erasure.run(RunContext(day=d2, settings=s))
    transform.build(d2, full_refresh=True, settings=s, tests=False)
    assert warehouse_traces(s.warehouse) == []
