"""Export rules on a tiny hand-made warehouse: consent, holdout, frequency cap, delta,
determinism, atomicity and the export log.

The warehouse holds only what exports read: ``raw.consents`` and ``marts.audiences`` /
``marts.audience_definitions`` in the shape the dbt models produce.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pytest

from tailor import exports
from tailor.exports import ExportError, load_config
from tailor.exports.files import read_manifest, verify
from tailor.warehouse import connect, ensure_raw_schema

pytestmark = pytest.mark.unit

D1 = dt.date(2026, 10, 5)
D2 = D1 + dt.timedelta(days=1)
AUDIENCE_COLUMNS = {
    "audience_member_id": "varchar",
    "audience_id": "varchar",
    "audience_name": "varchar",
    "audience_kind": "varchar",
    "experiment_id": "varchar",
    "holdout_share": "double",
    "holdout_bucket": "double",
    "is_control": "boolean",
    "customer_id": "varchar",
    "email": "varchar",
    "email_sha256": "varchar",
    "first_name": "varchar",
    "last_name": "varchar",
    "phone": "varchar",
    "rfm_segment": "varchar",
    "lifecycle_stage": "varchar",
    "segment_id": "integer",
    "segment_name": "varchar",
    "trigger_product_id": "varchar",
    "trigger_product_title": "varchar",
    "recommendation_count": "integer",
    **{
        f"rec_{k}_{f}": ("decimal(18,2)" if f == "price" else "varchar")
        for k in (1, 2, 3)
        for f in ("product_id", "title", "price", "currency", "reason")
    },
    "as_of_date": "date",
}


class Warehouse:
    """Builds the few tables exports read, with helpers to change them between days."""

    def __init__(self, settings):
        self.settings = settings
        self.con = connect(settings.warehouse, settings=settings)
        ensure_raw_schema(self.con)
        self.con.execute("create schema if not exists marts")
        self._line = 0

    def consent(
        self, cid: str, granted: bool, at: str, arrived: dt.date, purpose: str = "email_marketing"
    ):
        self._line += 1
        self.con.execute(
            "insert into raw.consents (consent_id, subject_id, purpose, granted, consented_at, source,"
            " _dt, _batch_id, _source_file, _line, _loaded_at) values (?, ?, ?, ?, ?, 'web', ?, 'b', ?, ?, now())",
            [
                f"k{self._line}",
                cid,
                purpose,
                granted,
                at,
                arrived,
                f"consents/dt={arrived}/c.ndjson",
                self._line,
            ],
        )

    def audiences(self, day: dt.date, members: list[dict]):
        cols = ", ".join(f"{c} {t}" for c, t in AUDIENCE_COLUMNS.items())
        self.con.execute(f"create or replace table marts.audiences ({cols})")
        for m in members:
            row = {c: None for c in AUDIENCE_COLUMNS}
            row.update(
                audience_name=m["audience_id"],
                audience_kind="rfm_segment",
                experiment_id=f"{m['audience_id']}:test",
                holdout_share=0.1,
                holdout_bucket=0.5,
                is_control=False,
                email=f"{m['customer_id'].lower()}@example.com",
                first_name=m["customer_id"].title(),
                recommendation_count=0,
                as_of_date=day,
            )
            row.update(m)
            row["audience_member_id"] = f"{row['audience_id']}|{row['customer_id']}"
            self.con.execute(
                f"insert into marts.audiences values ({', '.join('?' for _ in row)})",
                list(row.values()),
            )
        ids = sorted(
            {m["audience_id"] for m in members}
            | {"rfm_champions", "trigger_win_back", "lifecycle_new"}
        )
        self.con.execute(
            "create or replace table marts.audience_definitions as "
            "select unnest(?::varchar[]) as audience_id, ?::date as as_of_date",
            [ids, day],
        )

    def close(self):
        self.con.close()


@pytest.fixture
def wh(tailor_env):
    w = Warehouse(tailor_env)
    yield w
    w.close()


def config(*destinations, cap=3, window=7):
    return load_config(
        {
            "frequency_cap": {"max_messages": cap, "window_days": window},
            "destinations": list(destinations),
        }
    )


def dest(name="mc", audience="rfm_champions", fmt="mailchimp_csv", **kw):
    d = {"name": name, "format": fmt, "audience": audience, "consent": "email_marketing"}
    d.update(kw)
    return d


def run(wh, cfg, day, names=None):
    wh.con.close()
    try:
        return {
            r.destination: r
            for r in exports.export_all(day, wh.settings, config=cfg, destinations=names)
        }
    finally:
        wh.con = connect(wh.settings.warehouse, settings=wh.settings)


def folder(wh, cfg, name, day) -> Path:
    return cfg.get(name).output_dir(wh.settings) / f"dt={day.isoformat()}"


def rows(path: Path) -> list[list[str]]:
    import csv

    with open(path, newline="") as f:
        return list(csv.reader(f))


def member(cid, **kw):
    return {"audience_id": "rfm_champions", "customer_id": cid, **kw}


# --------------------------------------------------------------------------- consent


def test_only_members_with_current_consent_are_exported(wh):
    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.consent("C2", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.consent("C2", False, "2026-10-03T08:00:00+02:00", dt.date(2026, 10, 3))  # withdrawn
    wh.consent(
        "C3", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1), purpose="analytics"
    )  # wrong purpose
    wh.consent("C4", True, "2026-10-06T08:00:00Z", dt.date(2026, 10, 6))  # not yet on D1
    wh.consent("C5", True, "2026-10-04T08:00:00Z", dt.date(2026, 10, 4))
    wh.consent("C5", False, "2026-10-04T08:00:00Z", dt.date(2026, 10, 4))  # tie: withdrawal wins
    wh.audiences(D1, [member(c) for c in ("C1", "C2", "C3", "C4", "C5", "C6")])
    cfg = config(dest())
    r = run(wh, cfg, D1)["mc"]
    out = rows(folder(wh, cfg, "mc", D1) / "mc.upserts.csv")
    assert [x[0] for x in out[1:]] == ["c1@example.com"]
    assert r.counts["excluded_no_consent"] == 5


def test_consent_withdrawn_today_removes_the_person_in_the_next_delta(wh):
    for c in ("C1", "C2"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1"), member("C2")])
    cfg = config(dest())
    run(wh, cfg, D1)
    wh.consent("C2", False, "2026-10-06T09:30:00Z", D2)  # withdrawn on D2
    wh.audiences(D2, [member("C1"), member("C2")])
    r = run(wh, cfg, D2)["mc"]
    f = folder(wh, cfg, "mc", D2)
    assert rows(f / "mc.upserts.csv") == [
        [
            "Email Address",
            "First Name",
            "Last Name",
            "Tags",
            "Segment",
            "Product 1",
            "Product 1 Price",
            "Product 1 Currency",
            "Product 2",
            "Product 2 Price",
            "Product 2 Currency",
            "Product 3",
            "Product 3 Price",
            "Product 3 Currency",
        ]
    ]
    assert rows(f / "mc.removes.csv") == [["Email Address"], ["c2@example.com"]]
    assert (r.counts["removes"], r.counts["unchanged"]) == (1, 1)
    assert read_manifest(f)["baseline_date"] == D1.isoformat()


# --------------------------------------------------------------------------- delta / full


def test_delta_sends_adds_updates_and_removes_since_the_last_success(wh):
    for c in ("C1", "C2", "C3", "C4"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1"), member("C2"), member("C3")])
    cfg = config(dest(), dest("full", mode="full"), dest("js", fmt="jsonl"))
    first = run(wh, cfg, D1)
    assert first["mc"].counts["adds"] == 3 and first["mc"].baseline_date is None
    # D2: C1 unchanged, C2 renamed (update), C3 left, C4 joined, C1's email changed? no.
    wh.audiences(D2, [member("C1"), member("C2", first_name="Bea"), member("C4")])
    second = run(wh, cfg, D2)
    c = second["mc"].counts
    assert (c["adds"], c["updates"], c["removes"], c["unchanged"]) == (1, 1, 1, 1)
    f = folder(wh, cfg, "mc", D2)
    assert [r[:2] for r in rows(f / "mc.upserts.csv")[1:]] == [
        ["c2@example.com", "Bea"],
        ["c4@example.com", "C4"],
    ]
    assert rows(f / "mc.removes.csv")[1:] == [["c3@example.com"]]
    # full mode: every current member, plus the removes
    f = folder(wh, cfg, "full", D2)
    assert [r[0] for r in rows(f / "full.csv")[1:]] == [
        "c1@example.com",
        "c2@example.com",
        "c4@example.com",
    ]
    assert rows(f / "full.removes.csv")[1:] == [["c3@example.com"]]
    # JSON Lines: deletes first, then upserts
    lines = [
        json.loads(x) for x in (folder(wh, cfg, "js", D2) / "js.jsonl").read_text().splitlines()
    ]
    assert [(x["op"], (x.get("key") or x.get("data"))["customer_id"]) for x in lines] == [
        ("delete", "C3"),
        ("upsert", "C2"),
        ("upsert", "C4"),
    ]
    # D3 with nothing changed: an empty delta
    d3 = D2 + dt.timedelta(days=1)
    wh.audiences(d3, [member("C1"), member("C2", first_name="Bea"), member("C4")])
    third = run(wh, cfg, d3)["mc"].counts
    assert (third["adds"], third["updates"], third["removes"], third["unchanged"]) == (0, 0, 0, 3)


def test_a_changed_key_removes_the_old_contact(wh):
    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1")])
    cfg = config(dest())
    run(wh, cfg, D1)
    wh.audiences(D2, [member("C1", email="new@example.com")])
    run(wh, cfg, D2)
    f = folder(wh, cfg, "mc", D2)
    assert rows(f / "mc.upserts.csv")[1][0] == "new@example.com"
    assert rows(f / "mc.removes.csv")[1:] == [["c1@example.com"]]


def test_members_without_the_key_and_control_members_are_not_exported(wh):
    for c in ("C1", "C2", "C3"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(
        D1,
        [
            member("C1"),
            member("C2", email=None),
            member("C3", is_control=True, holdout_bucket=0.05),
        ],
    )
    cfg = config(dest())
    r = run(wh, cfg, D1)["mc"]
    assert [x[0] for x in rows(folder(wh, cfg, "mc", D1) / "mc.upserts.csv")[1:]] == [
        "c1@example.com"
    ]
    assert (r.counts["excluded_missing_key"], r.counts["held_out_control"]) == (1, 1)
    got = wh.con.execute(
        "select customer_id, is_control, is_sent from ops.holdout_assignments order by 1"
    ).fetchall()
    assert got == [("C1", False, True), ("C3", True, False)]


# --------------------------------------------------------------------------- frequency cap


def test_frequency_cap_counts_adds_across_audiences_in_a_rolling_window(wh):
    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.consent("C2", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    members = [
        member("C1", audience_id=a) for a in ("rfm_champions", "trigger_win_back", "lifecycle_new")
    ]
    members.append(member("C2", audience_id="lifecycle_new"))
    cfg = config(
        dest("a", audience="rfm_champions"),
        dest("b", audience="trigger_win_back", fmt="klaviyo_csv"),
        dest("crm", audience="trigger_win_back", fmt="hubspot_csv", capped=False),
        dest("c", audience="lifecycle_new", fmt="jsonl"),
        cap=2,
        window=7,
    )
    wh.audiences(D1, members)
    r = run(wh, cfg, D1)
    # C1 entered a and b (2 messages); c would be the third: held back. C2 is not capped.
    assert r["a"].counts["adds"] == 1 and r["b"].counts["adds"] == 1
    assert r["crm"].counts["adds"] == 1  # uncapped destinations neither count nor are limited
    assert (r["c"].counts["adds"], r["c"].counts["excluded_capped"]) == (1, 1)
    data = [
        json.loads(x)["data"]["customer_id"]
        for x in (folder(wh, cfg, "c", D1) / "c.jsonl").read_text().splitlines()
    ]
    assert data == ["C2"]
    # Rerunning one destination alone gives the same answer (earlier destinations' messages
    # of the day are in the log).
    alone = run(wh, cfg, D1, names=["c"])["c"]
    assert alone.counts["excluded_capped"] == 1
    # Still capped within the window; free again once D1 is out of it.
    for k in range(1, 8):
        day = D1 + dt.timedelta(days=k)
        wh.audiences(day, members)
        out = run(wh, cfg, day)["c"].counts
        if k < 7:
            assert out["excluded_capped"] == 1, day
        else:
            assert (out["adds"], out["excluded_capped"]) == (1, 0), day
    per_person = wh.con.execute(
        "select customer_id, count(*) from ops.message_log group by 1 order by 1"
    ).fetchall()
    assert per_person == [("C1", 3), ("C2", 1)]


# --------------------------------------------------------------------------- determinism


def _snapshot_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_rerunning_a_day_gives_byte_identical_files(wh):
    for c in ("C1", "C2", "C3"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    recs = {
        "rec_1_product_id": "P1",
        "rec_1_title": 'Mug, "large"',
        "rec_1_price": decimal.Decimal("9.90"),
        "rec_1_currency": "EUR",
    }
    cfg = config(dest(), dest("js", fmt="jsonl"), dest("full", fmt="braze_csv", mode="full"))
    wh.audiences(D1, [member("C3", **recs), member("C1"), member("C2")])
    run(wh, cfg, D1)
    wh.audiences(D2, [member("C3", **recs), member("C1", first_name="Al")])
    run(wh, cfg, D2)
    before = _snapshot_files(wh.settings.exports)
    run(wh, cfg, D2)  # rerun of the latest day
    assert _snapshot_files(wh.settings.exports) == before
    # rerun of an older day after a later one: same data files, marked as a replay in the
    # manifest and the log, state untouched
    wh.audiences(D1, [member("C3", **recs), member("C1"), member("C2")])
    replay = run(wh, cfg, D1)
    assert {r.status for r in replay.values()} == {"replayed"}
    after = _snapshot_files(wh.settings.exports)
    assert after.keys() == before.keys()
    for name, data in after.items():
        if name.endswith("manifest.json") and "dt=2026-10-05" in name:
            old, new = json.loads(before[name]), json.loads(data)
            assert (old["replay"], new["replay"]) == (False, True)
            assert {**new, "replay": False} == old
        else:
            assert data == before[name], name
    assert wh.con.execute(
        "select distinct replay from ops.export_log where run_date = ? and status = 'replayed'",
        [D1],
    ).fetchall() == [(True,)]
    for name in ("mc", "js", "full"):
        assert verify(folder(wh, cfg, name, D1)) == []
    # the rows are sorted by the destination key
    assert [r[0] for r in rows(folder(wh, cfg, "mc", D1) / "mc.upserts.csv")[1:]] == [
        "c1@example.com",
        "c2@example.com",
        "c3@example.com",
    ]


def test_manifest_describes_the_files(wh):
    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1")])
    cfg = config(dest())
    r = run(wh, cfg, D1)["mc"]
    f = folder(wh, cfg, "mc", D1)
    m = read_manifest(f)
    assert (
        m["run_date"] == D1.isoformat()
        and m["destination"] == "mc"
        and m["audience"] == "rfm_champions"
    )
    assert m["row_count"] == 1
    assert [x["name"] for x in m["files"]] == ["mc.upserts.csv", "mc.removes.csv", "mc.api.jsonl"]
    assert m["files"][0]["schema"][0] == {
        "name": "Email Address",
        "type": "VARCHAR",
        "source": "email",
    }
    assert sorted(p.name for p in f.iterdir()) == [
        "manifest.json",
        "mc.api.jsonl",
        "mc.removes.csv",
        "mc.upserts.csv",
    ]
    assert not list(f.parent.glob(".*"))  # no temporary folders left
    log = wh.con.execute(
        "select status, adds, rows_written, manifest_sha256, files from ops.export_log"
    ).fetchall()
    assert log[0][:3] == ("succeeded", 1, 1)
    assert log[0][3] == r.manifest_sha256
    assert json.loads(log[0][4])[0]["sha256"] == m["files"][0]["sha256"]


# --------------------------------------------------------------------------- failures


def test_stale_or_unknown_audiences_fail_without_touching_state(wh):
    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1")])
    with pytest.raises(ExportError, match="as of 2026-10-05, not 2026-10-06"):
        run(wh, config(dest()), D2)
    with pytest.raises(ExportError, match="unknown audience"):
        run(wh, config(dest(audience="rfm_nope")), D1)
    with pytest.raises(ExportError, match="does not have"):
        run(wh, config(dest(fields={"Email Address": "email", "X": "shoe_size"})), D1)
    assert wh.con.execute("select count(*) from ops.export_state").fetchone() == (0,)
    statuses = wh.con.execute("select status from ops.export_log").fetchall()
    assert statuses == [("failed",)] * 3


def test_one_failing_destination_does_not_stop_the_others(wh):
    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1")])
    cfg = config(dest("bad", audience="rfm_nope"), dest("good"))
    with pytest.raises(ExportError, match="1 of 2"):
        run(wh, cfg, D1)
    assert (folder(wh, cfg, "good", D1) / "manifest.json").exists()
