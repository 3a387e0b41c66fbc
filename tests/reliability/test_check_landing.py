"""`tailor check`: a landing folder checked against the contract before anything loads.

A folder written by a real pipeline with the usual mistakes in it (a truncated JSON line,
an event without a timestamp, a zero price, a partition folder that names no day, a file
dropped beside the partitions, a product the catalog does not know, customers without a
consent record) must be reported problem by problem with its file and line, exit
non-zero and leave no warehouse behind; a good folder exits 0.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from click.testing import CliRunner

from tailor.cli import main
from tests.store_shapes import write_store

pytestmark = pytest.mark.reliability

DAY = dt.date(2026, 11, 2)


def _events(path, records) -> None:
    with gzip.open(path, "wt") as f:
        for rec in records:
            f.write(rec if isinstance(rec, str) else json.dumps(rec) + "\n")


def test_a_good_folder_of_each_shape_passes(tailor_env, tmp_path):
    for shape in ("events-only", "orders-only", "both"):
        landing = tmp_path / shape
        write_store(landing, shape, [DAY, DAY + dt.timedelta(days=1)], customers=12)
        result = CliRunner().invoke(main, ["check", str(landing)])
        assert result.exit_code == 0, result.output
        assert "OK: the folder keeps to the contract" in result.output
        if shape == "orders-only":
            assert "[ ] sessions and behavioural features" in result.output
    assert not tailor_env.warehouse.exists()


def test_a_broken_folder_reports_every_problem_with_its_file_and_line(tailor_env, tmp_path):
    landing = tmp_path / "landing"
    write_store(landing, "both", [DAY], customers=8)
    part = landing / "events" / f"dt={DAY}"
    good = {
        "type": "track",
        "event": "Order Completed",
        "messageId": "m-1",
        "userId": "C0001",
        "timestamp": f"{DAY}T10:00:00.000Z",
        "sentAt": f"{DAY}T10:00:01.000Z",
        "receivedAt": f"{DAY}T10:00:01.200Z",
        "properties": {
            "order_id": "X-1",
            "products": [{"product_id": "NOT-IN-CATALOG", "price": 5, "quantity": 1}],
        },
        "context": {"library": {"name": "analytics.js"}},
        "integrations": {"All": True},
    }
    no_ts = {k: v for k, v in good.items() if k != "timestamp"} | {"messageId": "m-2"}
    _events(part / "late.ndjson.gz", [good, '{"type": "track", "event": "Product Vi\n', no_ts])
    with open(landing / "order_items" / f"dt={DAY}" / "order_items.csv", "a") as f:
        f.write("O-BROKEN,1,SKU-001,Kettle,1,-4.50,0.00,EUR\n")
    (landing / "orders" / "dt=2026-13-45").mkdir()
    (landing / "orders" / "orders_export.csv").write_text("order_id,ordered_at\n")
    (landing / "orders" / f"dt={DAY}" / "orders.xlsx").write_bytes(b"PK\x03\x04")
    (landing / "customers" / f"dt={DAY}" / "more.csv").write_text(
        "customer_id,email,updated_at\nNEW-1,new@example.com,2026-11-02T00:00:00Z\n"
    )

    result = CliRunner().invoke(main, ["check", str(landing)])

    assert result.exit_code == 1, result.output
    out = result.output
    assert f"events/dt={DAY}/late.ndjson.gz:2: will be quarantined (malformed_json)" in out
    assert f"events/dt={DAY}/late.ndjson.gz:3: will be quarantined (missing_required_field)" in out
    assert "timestamp" in out
    assert "(negative_price)" in out and f"order_items/dt={DAY}/order_items.csv:" in out
    assert "orders/dt=2026-13-45/" in out and "not a partition folder" in out
    assert "orders/orders_export.csv" in out
    assert f"orders/dt={DAY}/orders.xlsx: skipped: unsupported file type" in out
    assert "product id(s) not in the catalog" in out
    assert "1 of 9 customer(s) have no personalization consent record" in out
    assert "will load" in out and "FAILED" in out
    assert not tailor_env.warehouse.exists()


def test_one_file_is_checked_alone(tailor_env, tmp_path):
    landing = tmp_path / "landing"
    write_store(landing, "events-only", [DAY], customers=5)
    part = landing / "events" / f"dt={DAY}"
    _events(part / "bad.ndjson.gz", ['{"type": "track"}\n'])
    ok = CliRunner().invoke(main, ["check", str(part / "events.ndjson.gz")])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(main, ["check", str(part / "bad.ndjson.gz")])
    assert bad.exit_code == 1
    assert (
        f"events/dt={DAY}/bad.ndjson.gz:1: will be quarantined (missing_required_field)"
        in bad.output
    )
    stray = CliRunner().invoke(main, ["check", str(tmp_path / "nowhere.csv")])
    assert stray.exit_code == 1 and "no such file or folder" in stray.output
