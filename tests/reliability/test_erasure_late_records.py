"""The nightly suppression pass follows the new data (issue 25), and an erased person stays
gone whatever way their records come back.

Ann (C0000101) is erased on night 1. Night 2 brings only Bob: the erase stage checks that
night's batches, not the history. On night 3 her records come back late: a late file in the
partition of day 1 (a tracking export re-sent), and day 2's shop partition reloaded with an
order of hers. After night 3 nothing of her is in raw.* (the loader keeps her out, and
so does the night's pass on its own: the rows it checks are those loaded since its last
pass, whatever their landing day). A row the watermark cannot see (loaded with a clock
behind the last pass) is caught by the physical pass, which checks the whole history.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tailor import ingest
from tailor.pipeline import RunContext
from tailor.privacy import erasure, physical
from tailor.privacy.suppression import nightly_suppression
from tailor.warehouse import connect, transaction

pytestmark = pytest.mark.reliability

D1, D2, D3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)
ANN, BOB = "C0000101", "C0000202"
CUSTOMERS = (
    "customer_id,email,first_name,last_name,gender,birth_date,country,city,timezone,phone,"
    "created_at,updated_at\n"
)
ORDERS = (
    "order_id,customer_id,ordered_at,status,currency,subtotal,discount,shipping,total,"
    "coupon_code,channel,country,updated_at\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _segment(mid: str, anon: str, user: str | None, day: dt.date, **extra) -> str:
    """One Segment track call as its S3 destination writes it (one JSON object a line)."""
    e = {
        "messageId": mid,
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": anon,
        "userId": user,
        "timestamp": f"{day}T10:00:00.000Z",
        "sentAt": f"{day}T10:00:00.120Z",
        "receivedAt": f"{day}T10:00:01.004Z",
        "properties": {"product_id": "P1", "price": 10},
        "context": {"library": {"name": "analytics.js", "version": "4.1.0"}},
        **extra,
    }
    return json.dumps(e) + "\n"


def _day(landing: Path, day: dt.date, *, ann: bool) -> None:
    """A day of the shop: Bob always, Ann too when ``ann``."""
    people = [(BOB, "bob@example.com", "anon-bob")] + (
        [(ANN, "ann@example.com", "anon-ann")] if ann else []
    )
    _write(
        landing / "customers" / f"dt={day}" / "customers.csv",
        CUSTOMERS
        + "".join(
            f"{c},{e},X,Y,f,1990-01-01,DE,Berlin,Europe/Berlin,+49 1,"
            f"2026-01-01T00:00:00Z,{day}T08:00:00Z\n"
            for c, e, _ in people
        ),
    )
    _write(
        landing / "events" / f"dt={day}" / "events.ndjson",
        "".join(_segment(f"{day}-{c}", a, c, day) for c, _, a in people),
    )


def _night(s, day: dt.date) -> dict:
    """The night's load and the erase stage's logical part (its suppression pass, then the
    requests), as ``tailor run`` calls them."""
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, day)
    finally:
        con.close()
    return erasure.run(RunContext(day=day, settings=s))


def _person_rows(s, customer_id: str, anonymous_id: str) -> dict[str, int]:
    """A person's rows left in the raw tables and quarantined records still naming them."""
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        q = {
            "events": "select count(*) from raw.events where user_id = $c or anonymous_id = $a",
            "customers": "select count(*) from raw.customers where customer_id = $c",
            "orders": "select count(*) from raw.orders where customer_id = $c",
            "quarantine": "select count(*) from raw.quarantine where contains(record, $c)",
        }
        found = {
            t: con.execute(
                sql, {"c": customer_id, "a": anonymous_id} if "$a" in sql else {"c": customer_id}
            ).fetchone()[0]
            for t, sql in q.items()
        }
        return {t: n for t, n in found.items() if n}
    finally:
        con.close()


def _ann_rows(s) -> dict[str, int]:
    return _person_rows(s, ANN, "anon-ann")


def _batches(s, day: dt.date) -> set[str]:
    """The batches that loaded records of landing day ``day``."""
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        rows = con.execute(
            "select distinct _batch_id from raw.load_log where _dt = ? and rows_read > 0", [day]
        )
        return {r[0] for r in rows.fetchall()}
    finally:
        con.close()


@pytest.fixture
def erased_on_night_1(tailor_env):
    """Ann and Bob on day 1, Ann's erasure request that night; then night 2, Bob only."""
    s = tailor_env
    _day(s.landing, D1, ann=True)
    _write(
        s.landing / "erasure_requests" / f"dt={D1}" / "erasure_requests.csv",
        f"request_id,customer_id,email,requested_at\nR1,{ANN},,{D1}T09:00:00Z\n",
    )
    first = _night(s, D1)
    assert first["requests_applied"] == 1
    assert _ann_rows(s) == {}
    _day(s.landing, D2, ann=False)
    _write(
        s.landing / "orders" / f"dt={D2}" / "orders.csv",
        ORDERS + f"O2,{BOB},{D2}T11:00:00Z,completed,EUR,20,0,0,20,,web,DE,{D2}T11:00:00Z\n",
    )
    second = _night(s, D2)
    return s, first, second


def _come_back_late(s) -> None:
    """Night 3's landing: a late file in day 1's partition (Segment re-sent her events)
    and day 2's orders partition delivered again with an order of hers added."""
    _write(
        s.landing / "events" / f"dt={D1}" / "events-late-0001.ndjson",
        _segment("late-1", "anon-ann", ANN, D1)
        + _segment("late-2", "anon-ann", None, D1, type="page", event=None)
        + _segment("late-bob", "anon-bob", BOB, D1),
    )
    _write(
        s.landing / "orders" / f"dt={D2}" / "orders.csv",
        ORDERS
        + f"O2,{BOB},{D2}T11:00:00Z,completed,EUR,20,0,0,20,,web,DE,{D2}T11:00:00Z\n"
        + f"O3,{ANN},{D2}T12:00:00Z,completed,EUR,30,0,0,30,,web,DE,{D2}T12:00:00Z\n",
    )
    _day(s.landing, D3, ann=False)


def _load_late(s) -> None:
    """Night 3's late records loaded as an operator loads them (``tailor load --date``)
    before night 3 runs: day 1 and day 2 again."""
    _come_back_late(s)
    con = connect(s.warehouse, settings=s)
    try:
        for day in (D1, D2):
            ingest.load_day(con, s.landing, day)
    finally:
        con.close()


def test_a_night_without_new_erasures_checks_only_its_own_batches(erased_on_night_1):
    s, first, second = erased_on_night_1
    # the erasure itself scanned every table for Ann: no pass over the history the next night
    assert second["suppression"]["pass"] == "new_loads"
    assert set(second["suppression"]["batches"]) == _batches(s, D2)
    assert not set(second["suppression"]["batches"]) & _batches(s, D1)
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        (rows_d2,) = con.execute(
            "select sum(rows_read) from raw.load_log where _dt = ?", [D2]
        ).fetchone()
    finally:
        con.close()
    assert second["suppression"]["rows"] == rows_d2


def test_records_arriving_late_are_gone_after_night_3(erased_on_night_1):
    s, _, _ = erased_on_night_1
    _load_late(s)
    third = _night(s, D3)
    assert _ann_rows(s) == {}
    # what was loaded since night 2's pass, old partitions included, and nothing else
    checked = set(third["suppression"]["batches"])
    assert third["suppression"]["pass"] == "new_loads"
    assert checked == _batches(s, D1) | _batches(s, D2) | _batches(s, D3)
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        late = con.execute(
            "select message_id from raw.events where _dt = ? and message_id like 'late%'", [D1]
        ).fetchall()
    finally:
        con.close()
    assert late == [("late-bob",)]  # Bob's late event kept


def test_the_nightly_pass_alone_catches_late_records_of_old_partitions(
    erased_on_night_1, monkeypatch
):
    """The loader's own check switched off (a path that writes raw rows without it): the
    night's pass still finds her rows, because it follows when rows were loaded, not
    their landing day."""
    s, _, _ = erased_on_night_1
    monkeypatch.setattr("tailor.ingest.load.enforce_suppression", lambda con, day=None: {})
    _load_late(s)
    # in raw, unchecked: the late file, day 1 reloaded as it is still in the landing zone
    # (its physical part is pending), the reloaded orders of day 2
    back = _ann_rows(s)
    assert set(back) == {"events", "customers", "orders"}
    third = _night(s, D3)
    assert third["suppression"]["pass"] == "new_loads"
    assert third["resuppressed"] == {f"raw.{t}": n for t, n in back.items()}
    assert _ann_rows(s) == {}


def test_the_physical_pass_checks_the_whole_history(erased_on_night_1, monkeypatch):
    """A row loaded with a clock behind the last pass is not new to the watermark; the
    physical pass (deadline, ``tailor erase --flush``) checks everything."""
    s, _, _ = erased_on_night_1
    monkeypatch.setattr("tailor.ingest.load.enforce_suppression", lambda con, day=None: {})
    _come_back_late(s)
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, D1, sources=["events"])
        con.execute("update raw.events set _loaded_at = timestamp '2000-01-01' where _dt = ?", [D1])
        with transaction(con):
            missed = nightly_suppression(con)
    finally:
        con.close()
    assert not missed.full and missed.suppressed == {}
    assert _ann_rows(s) == {"events": 3}  # her event of day 1, two late ones
    out = physical.run_pass(s, D3)
    assert out["resuppressed"] == {"raw.events": 3}
    assert _ann_rows(s) == {}


def test_erased_subjects_changed_outside_a_night_mean_a_full_pass(erased_on_night_1):
    """Subjects added without a night's erasure (migrated, restored from a backup) were
    never looked for in the history: the next night checks all of it."""
    s, _, _ = erased_on_night_1
    con = connect(s.warehouse, settings=s)
    try:
        con.execute(
            "insert into ops.erased_subjects select md5('someone'), 'customer_id', ?, 'restored', null",
            [D2],
        )
        with transaction(con):
            full = nightly_suppression(con)
        with transaction(con):
            after = nightly_suppression(con)
    finally:
        con.close()
    assert full.full and set(full.batches) == _batches(s, D1) | _batches(s, D2)
    assert not after.full and after.batches == []


def _bob_rows(s) -> dict[str, int]:
    return _person_rows(s, BOB, "anon-bob")


def test_an_erasure_between_nights_means_a_full_pass_the_next_night(erased_on_night_1, monkeypatch):
    """``tailor erase --defer`` erases Bob between nights 2 and 3: his rows go at once, his
    landing files wait for the batched pass. The erased subjects changed outside a night,
    so night 3 checks the whole history, not only what it loaded: day 1 reloaded from
    the landing zone still holding his records (the loader's own check switched off, a
    path that writes raw rows without it) leaves nothing of him."""
    from tailor.pipeline import erase_and_publish

    s, _, second = erased_on_night_1
    assert second["suppression"]["pass"] == "new_loads"
    done = erase_and_publish(s, customer_id=BOB, email=None, day=D2, defer=True, force=False)
    assert done.rows_removed > 0 and done.physical_due_on is not None
    assert _bob_rows(s) == {}
    assert f'"userId": "{BOB}"' in (s.landing / "events" / f"dt={D1}" / "events.ndjson").read_text()

    monkeypatch.setattr("tailor.ingest.load.enforce_suppression", lambda con, day=None: {})
    con = connect(s.warehouse, settings=s)
    try:
        ingest.load_day(con, s.landing, D1)  # an operator's reload: his day-1 rows are back
    finally:
        con.close()
    assert set(_bob_rows(s)) == {"events", "customers"}
    _day(s.landing, D3, ann=False)
    third = _night(s, D3)
    assert third["suppression"]["pass"] == "full"
    assert third["suppression"]["why"] == "erased subjects changed since the last pass"
    assert _bob_rows(s) == {} and _ann_rows(s) == {}
