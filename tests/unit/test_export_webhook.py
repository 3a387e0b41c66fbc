"""The webhook format against a real HTTP server on 127.0.0.1: batching, retries with
backoff, Retry-After, idempotency keys, and what a failed delivery leaves behind."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tailor import exports
from tailor.exports import ExportError
from tailor.exports.config import Webhook
from tailor.exports.webhook import DeliveryError, make_batches, send
from tailor.warehouse import connect
from tests.unit.test_export_rules import D1, D2, Warehouse, config, dest, member, run

pytestmark = pytest.mark.unit


class Receiver:
    """A webhook endpoint that fails on demand and applies each idempotency key once."""

    def __init__(self):
        self.requests: list[dict] = []  # every request received
        self.applied: dict[str, dict] = {}  # idempotency key -> body, applied once
        self.fail_next: list[tuple[int, dict]] = []  # (status, headers) for the next requests
        self.down_after: int | None = None  # answer 503 once this many requests were served
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("Idempotency-Key")
                receiver.requests.append(
                    {
                        "key": key,
                        "auth": self.headers.get("Authorization"),
                        "body": json.loads(body),
                    }
                )
                if receiver.down_after is not None and len(receiver.requests) > receiver.down_after:
                    receiver.fail_next.append((503, {}))
                if receiver.fail_next:
                    status, headers = receiver.fail_next.pop(0)
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    return
                receiver.applied.setdefault(key, json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _hook(url, **kw):
    return Webhook(
        url=url,
        batch_size=2,
        max_attempts=4,
        backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        timeout_seconds=5,
        **kw,
    )


def test_retries_server_errors_with_exponential_backoff(receiver):
    ops = [{"op": "upsert", "data": {"customer_id": f"C{i}"}} for i in range(3)]
    batches = make_batches(ops, destination="d", audience="a", run_date="2026-10-05", batch_size=2)
    receiver.fail_next = [(503, {}), (500, {}), (429, {"Retry-After": "0.02"})]
    waits: list[float] = []
    delivery = send(_hook(receiver.url), batches, sleep=waits.append)
    assert delivery.batches == 2 and delivery.attempts == 5
    assert waits == [0.01, 0.02, 0.04]  # 0.01 doubling; Retry-After 0.02 is below the backoff
    assert len(receiver.applied) == 2
    assert [r["key"] for r in receiver.requests[:4]] == [batches[0].idempotency_key] * 4


def test_client_errors_are_not_retried_and_give_up_after_max_attempts(receiver):
    batches = make_batches(
        [{"op": "upsert", "data": {}}], destination="d", audience="a", run_date="x", batch_size=2
    )
    receiver.fail_next = [(400, {})]
    with pytest.raises(DeliveryError, match="HTTP 400"):
        send(_hook(receiver.url), batches, sleep=lambda s: None)
    assert len(receiver.requests) == 1
    receiver.fail_next = [(503, {})] * 4
    with pytest.raises(DeliveryError, match="after 4 attempts"):
        send(_hook(receiver.url), batches, sleep=lambda s: None)


def test_unreachable_endpoint_is_retried_then_fails():
    batches = make_batches(
        [{"op": "upsert", "data": {}}], destination="d", audience="a", run_date="x", batch_size=2
    )
    hook = Webhook(
        url="http://127.0.0.1:9/nothing", max_attempts=2, backoff_seconds=0.0, timeout_seconds=1
    )
    with pytest.raises(DeliveryError, match="after 2 attempts"):
        send(hook, batches, sleep=lambda s: None)


def _webhook_dest(url, **kw):
    return dest(
        "hook",
        fmt="webhook",
        fields={"customer_id": "customer_id", "email": "email", "first_name": "first_name"},
        webhook={
            "url": url,
            "batch_size": 2,
            "max_attempts": 3,
            "backoff_seconds": 0.0,
            "headers": {"Authorization": "Bearer ${TAILOR_TEST_TOKEN}"},
        },
        **kw,
    )


def _three_consented_members(tailor_env, receiver, monkeypatch):
    """C1..C3 with email consent in D1's audience, and a webhook destination to them."""
    monkeypatch.setenv("TAILOR_TEST_TOKEN", "s3cret")
    wh = Warehouse(tailor_env)
    for c in ("C1", "C2", "C3"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member(c) for c in ("C1", "C2", "C3")])
    return wh, config(_webhook_dest(receiver.url))


def test_webhook_export_delivers_batches_and_a_rerun_is_deduplicated(
    tailor_env, receiver, monkeypatch
):
    wh, cfg = _three_consented_members(tailor_env, receiver, monkeypatch)
    try:
        r = run(wh, cfg, D1)["hook"]
        assert (r.http_batches, r.http_attempts) == (2, 2)
        assert receiver.requests[0]["auth"] == "Bearer s3cret"
        sent = [
            op["data"]["customer_id"] for b in receiver.applied.values() for op in b["operations"]
        ]
        assert sent == ["C1", "C2", "C3"]
        archive = (
            cfg.get("hook").output_dir(tailor_env) / f"dt={D1}" / "hook.batches.jsonl"
        ).read_bytes()
        run(wh, cfg, D1)  # the night is rerun: same batches, same keys
        assert len(receiver.requests) == 4 and len(receiver.applied) == 2
        assert (
            cfg.get("hook").output_dir(tailor_env) / f"dt={D1}" / "hook.batches.jsonl"
        ).read_bytes() == archive
        # D2: C3 leaves the audience -> one delete operation
        wh.audiences(D2, [member(c) for c in ("C1", "C2")])
        run(wh, cfg, D2)
        last = receiver.requests[-1]["body"]
        assert last["operations"] == [{"op": "delete", "key": {"customer_id": "C3"}}]
    finally:
        wh.close()


def test_a_failed_delivery_is_recorded_and_sent_again_by_the_next_export(
    tailor_env, receiver, monkeypatch
):
    wh, cfg = _three_consented_members(tailor_env, receiver, monkeypatch)
    try:
        receiver.down_after = 1  # batch 1 is delivered, then the endpoint goes down
        with pytest.raises(ExportError, match="DeliveryError"):
            run(wh, cfg, D1)
        # committed and published, the delivery owed is recorded, not lost
        assert wh.con.execute("select status from ops.export_log").fetchall() == [("send_failed",)]
        assert wh.con.execute("select count(*) from ops.export_state").fetchone() == (3,)
        receiver.down_after = None
        wh.audiences(D2, [member(c) for c in ("C1", "C2", "C3")])
        r = run(wh, cfg, D2)["hook"]  # the next export first delivers the one owed
        assert r.status == "succeeded"
        assert wh.con.execute(
            "select run_date, status from ops.export_log order by run_date"
        ).fetchall() == [(D1, "succeeded"), (D2, "succeeded")]
        # batch 1 was applied once even though it was sent twice
        assert len(receiver.applied) == 2
        assert [r["key"] for r in receiver.requests].count(receiver.requests[0]["key"]) == 2
    finally:
        wh.close()


def test_a_webhook_export_that_is_not_sent_leaves_the_state(tailor_env, receiver, monkeypatch):
    monkeypatch.setenv("TAILOR_TEST_TOKEN", "s3cret")
    wh = Warehouse(tailor_env)
    try:
        wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
        wh.audiences(D1, [member("C1")])
        cfg = config(_webhook_dest(receiver.url))
        wh.con.close()
        try:
            (r,) = exports.export_all(D1, tailor_env, config=cfg, send=False)
        finally:
            wh.con = connect(tailor_env.warehouse, settings=tailor_env)
        assert r.status == "written" and receiver.requests == []
        assert wh.con.execute("select count(*) from ops.export_state").fetchone() == (0,)
        assert run(wh, cfg, D1)["hook"].counts["adds"] == 1  # still an add when really sent
    finally:
        wh.close()


def test_a_later_delta_waits_behind_an_undelivered_one(tailor_env, receiver, monkeypatch):
    from tailor.exports import publication

    wh, cfg = _three_consented_members(tailor_env, receiver, monkeypatch)
    try:
        receiver.down_after = 0  # the endpoint is down for two nights
        with pytest.raises(ExportError):
            run(wh, cfg, D1)
        wh.audiences(D2, [member(c) for c in ("C1", "C2")])  # C3 leaves on D2
        with pytest.raises(ExportError, match="held back"):
            run(wh, cfg, D2)
        d1_bodies = {r["body"]["run_date"] for r in receiver.requests}
        assert d1_bodies == {D1.isoformat()}  # D2's delete was never sent ahead of D1
        receiver.down_after = None
        wh.con.close()
        try:
            outcomes = publication.publish(tailor_env, config=cfg)
        finally:
            wh.con = connect(tailor_env.warehouse, settings=tailor_env)
        assert [(o.run_date, o.status) for o in outcomes] == [
            (D1, "succeeded"),
            (D2, "succeeded"),
        ]
        applied = [b["run_date"] for b in receiver.applied.values()]
        assert applied == [D1.isoformat(), D1.isoformat(), D2.isoformat()]
    finally:
        wh.close()
