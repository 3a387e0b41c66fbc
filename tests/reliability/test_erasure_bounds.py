"""Erasure cannot over-reach (issue 19, point 2).

A night's landing zone as a shop writes it: 41 customers, 1,081 Segment events whose user
agents say Chrome and Android, whose locale is de-DE and whose prices are in EUR, orders in
EUR, one visitor who typed another customer's email into the search box. Hostile or
mistaken erasure requests (a word where an email belongs, an unknown id, a request that
names nobody, one person with a long history) must touch nothing but what they should,
and the night must go on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from tailor import ingest
from tailor.cli import main
from tailor.pipeline import RunContext
from tailor.privacy import erasure, physical
from tailor.privacy.landing import purge_committed_requests
from tailor.privacy.requests import is_email
from tailor.publish import publish_snapshot
from tailor.warehouse import connect

pytestmark = pytest.mark.reliability

D1 = dt.date(2026, 10, 1)
D2 = dt.date(2026, 10, 2)
HEAVY = "C0000040"  # 80 of the 1,081 events: 7.4 % of raw.events
ANN = "C0000003"  # ann@x.com; another visitor searched for her email
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"


def _cid(i: int) -> str:
    return f"C{i:07d}"


def _email(i: int) -> str:
    return "ann@x.com" if _cid(i) == ANN else f"user{i}@shop.example"


def _event(n: int, i: int, **props) -> dict:
    return {
        "messageId": f"m-{n}",
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": f"anon-{i}",
        "userId": _cid(i),
        "timestamp": "2026-10-01T10:00:00.000Z",
        "receivedAt": "2026-10-01T10:00:01.000Z",
        "properties": {"product_id": "P1", "price": 9.5, "currency": "EUR", **props},
        "context": {
            "userAgent": UA,
            "locale": "de-DE",
            "os": {"name": "Android"},
            "page": {"url": "https://shop.example/p/1?utm_source=Chrome"},
        },
    }


def write_night(landing: Path) -> None:
    events = []
    n = 0
    for i in range(41):
        for _ in range(80 if _cid(i) == HEAVY else 25):
            events.append(_event(n, i))
            n += 1
    # C0000004 searched for Ann's email: an event of C0000004, not of Ann
    events.append(
        _event(n, 4, query="ann@x.com", search_term="Ann@X.com") | {"event": "Products Searched"}
    )
    folder = landing / "events" / f"dt={D1}"
    folder.mkdir(parents=True)
    (folder / "events.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))
    customers = landing / "customers" / f"dt={D1}"
    customers.mkdir(parents=True)
    (customers / "customers.csv").write_text(
        "customer_id,email,first_name,country,created_at,updated_at\n"
        + "".join(
            f"{_cid(i)},{_email(i)},N{i},DE,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z\n"
            for i in range(41)
        )
    )
    orders = landing / "orders" / f"dt={D1}"
    orders.mkdir(parents=True)
    (orders / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,status,currency,subtotal,discount,shipping,total,"
        "coupon_code,channel,country,updated_at\n"
        + "".join(
            f"O{i},{_cid(i)},2026-10-01T11:00:00Z,completed,EUR,10,0,0,10,,web,DE,"
            "2026-10-01T11:00:00Z\n"
            for i in range(41)
        )
    )


def requests(landing: Path, rows: list[tuple[str, str, str]]) -> None:
    folder = landing / "erasure_requests" / f"dt={D2}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "erasure_requests.csv").write_text(
        "request_id,customer_id,email,requested_at\n"
        + "".join(f"{r},{c},{e},2026-10-02T09:00:00Z\n" for r, c, e in rows)
    )


@pytest.fixture
def night(tailor_env, monkeypatch):
    for var in ("TAILOR_ERASURE_MAX_ROWS", "TAILOR_ERASURE_MAX_SHARE", "TAILOR_PRIVACY_KEY"):
        monkeypatch.delenv(var, raising=False)
    s = tailor_env
    write_night(s.landing)
    con = connect(s.warehouse, settings=s)
    ingest.load_day(con, s.landing, D1)
    con.close()
    publish_snapshot(s)
    return s


def _rows(s, sql: str, params=None) -> list:
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _event_ids(s) -> set[str]:
    return {r[0] for r in _rows(s, "select message_id from raw.events")}


def _landing_events(s) -> list[str]:
    return (s.landing / "events" / f"dt={D1}" / "events.ndjson").read_text().splitlines()


def _load_requests(s) -> None:
    con = connect(s.warehouse, settings=s)
    ingest.load_day(con, s.landing, D2)
    con.close()


def _audit(s) -> dict[str, tuple]:
    return {
        r[0]: (r[1], json.loads(r[2]) if r[2] else None, r[3])
        for r in _rows(s, "select request_id, status, detail, rows_removed from ops.erasure_audit")
    }


def test_common_words_as_emails_and_unknown_ids_touch_nothing_and_the_night_goes_on(night, caplog):
    s = night
    events, landing = _event_ids(s), _landing_events(s)
    requests(
        s.landing,
        [
            ("R-chrome", "", "Chrome"),
            ("R-android", "", "Android"),
            ("R-eur", "", "EUR"),
            ("R-locale", "", "de-DE"),
            ("R-at", "", "@x.com"),
            ("R-spaces", "", "ann @x.com"),
            ("R-nobody", "", ""),
            ("R-unknown", "C9999999", ""),
            ("R-id-word", "Chrome", ""),
        ],
    )
    _load_requests(s)
    with caplog.at_level(logging.WARNING, logger="tailor.privacy"):
        out = erasure.run(RunContext(day=D2, settings=s))

    assert out["requests_applied"] == 0
    assert _event_ids(s) == events  # not one event tombstoned
    assert _landing_events(s) == landing  # not one landing line removed
    (n_erased,) = _rows(s, "select count(*) from ops.erased_subjects")[0]
    assert n_erased == 0
    audit = _audit(s)
    invalid = ["R-chrome", "R-android", "R-eur", "R-locale", "R-at", "R-spaces", "R-nobody"]
    assert {r: audit[r][0] for r in invalid} == dict.fromkeys(invalid, "invalid_request")
    assert audit["R-unknown"][0] == "unknown_subject"
    assert audit["R-id-word"][0] == "unknown_subject"
    assert audit["R-chrome"][1] == {"reason": "the email is not an email address"}
    assert all(a[2] == 0 for a in audit.values())
    assert set(out["requests_not_applied"]) == set(audit)
    assert "R-chrome" in caplog.text and "not an email address" in caplog.text
    # nothing in the audit names the subject in clear
    assert "Chrome" not in json.dumps(_rows(s, "select * from ops.erasure_audit"), default=str)
    # the requests keep their landing rows for whoever reviews them
    assert (
        "R-chrome"
        in (s.landing / "erasure_requests" / f"dt={D2}" / "erasure_requests.csv").read_text()
    )
    assert purge_committed_requests(s) == 0


def test_a_person_is_taken_only_where_an_identifier_field_names_them(night):
    s = night
    events, landing = _event_ids(s), _landing_events(s)
    requests(s.landing, [("R-ann", "", "ANN@x.com")])
    _load_requests(s)
    out = erasure.run(RunContext(day=D2, settings=s))
    physical.run_pass(s, D2)  # the landing files' part, batched (due by the deadline)

    assert out["requests_applied"] == 1
    ann_events = {f"m-{3 * 25 + k}" for k in range(25)}
    assert events - _event_ids(s) == ann_events
    # C0000004's search for her email is C0000004's event, in the warehouse and in landing
    search = [e for e in landing if "Products Searched" in e]
    assert len(search) == 1 and search[0] in _landing_events(s)
    assert len(_landing_events(s)) == len(landing) - 25
    assert _rows(s, "select customer_id from raw.customers where customer_id = 'C0000004'")
    assert _rows(s, "select count(*) from raw.customers")[0] == (40,)
    assert _rows(s, "select count(*) from raw.orders")[0] == (40,)


def test_a_request_over_the_blast_radius_is_held_for_review_then_forced(night, caplog):
    s = night
    events, landing = _event_ids(s), _landing_events(s)
    requests(s.landing, [("R-heavy", HEAVY, ""), ("R-ann", ANN, "")])
    _load_requests(s)
    with caplog.at_level(logging.WARNING, logger="tailor.privacy"):
        out = erasure.run(RunContext(day=D2, settings=s))
    physical.run_pass(s, D2)  # the landing files' part, batched (due by the deadline)

    # Ann applies; the heavy user (80 of 1,081 events, over 5 %) stops for review
    assert out["requests_applied"] == 1
    held = out["requests_not_applied"]["R-heavy"]
    assert held["status"] == "held_for_review"
    assert held["tables"]["raw.events"] == 80
    assert "R-heavy" in caplog.text and "held for review" in caplog.text
    status, detail, removed = _audit(s)["R-heavy"]
    assert (status, removed) == ("held_for_review", 0)
    assert detail["tables"]["raw.events"] == 80
    assert detail["limits"] == {"max_rows": 10_000, "max_share": 0.05}
    assert events - _event_ids(s) == {f"m-{3 * 25 + k}" for k in range(25)}  # Ann's
    assert sum(HEAVY in line for line in _landing_events(s)) == 80
    assert len(_landing_events(s)) == len(landing) - 25

    # `tailor erase` says the same, and applies with --force once someone has reviewed it
    runner = CliRunner()
    refused = runner.invoke(main, ["erase", "--customer-id", HEAVY, "--date", str(D2)])
    assert refused.exit_code != 0
    assert "held for review" in refused.output and "--force" in refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    assert sum(HEAVY in line for line in _landing_events(s)) == 80
    forced = runner.invoke(main, ["erase", "--customer-id", HEAVY, "--date", str(D2), "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["rows_removed"] >= 80
    assert not any(HEAVY in line for line in _landing_events(s))
    assert not _rows(s, "select 1 from raw.events where user_id = ?", [HEAVY])


def test_the_limits_come_from_the_environment(night, monkeypatch):
    s = night
    monkeypatch.setenv("TAILOR_ERASURE_MAX_SHARE", "10%")
    monkeypatch.setenv("TAILOR_ERASURE_MAX_ROWS", "20")
    requests(s.landing, [("R-heavy", HEAVY, ""), ("R-ann", ANN, "")])
    _load_requests(s)
    out = erasure.run(RunContext(day=D2, settings=s))
    # 80 and 25 events are both over 20 rows
    assert out["requests_applied"] == 0
    assert {r["status"] for r in out["requests_not_applied"].values()} == {"held_for_review"}
    assert _audit(s)["R-ann"][1]["limits"] == {"max_rows": 20, "max_share": 0.1}


def test_tailor_erase_refuses_a_word_or_an_unknown_id_with_a_clear_error(night):
    s = night
    events, landing = _event_ids(s), _landing_events(s)
    runner = CliRunner()
    for args, message in (
        (["--email", "Chrome"], "not an email address"),
        (["--email", "EUR"], "not an email address"),
        (["--customer-id", "C9999999"], "no customer with this id"),
    ):
        result = runner.invoke(main, ["erase", *args, "--date", str(D2)])
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        )
    assert _event_ids(s) == events
    assert _landing_events(s) == landing
    statuses = sorted(r[0] for r in _rows(s, "select status from ops.erasure_audit"))
    assert statuses == ["invalid_request", "invalid_request", "unknown_subject"]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("ann@x.com", True),
        ("  Ann.Lee+tag@Example.co.uk ", True),
        ("Chrome", False),
        ("de-DE", False),
        ("@x.com", False),
        ("ann@x", False),
        ("ann@@x.com", False),
        ("ann @x.com", False),
        ("ann@x.com.", False),
    ],
)
def test_an_email_must_be_an_email_address(text, ok):
    assert is_email(text.strip()) is ok
