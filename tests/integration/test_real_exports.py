"""The adapters on the real public exports in ../shared/datasets."""

from __future__ import annotations

import pytest

from tailor.adapters import load_adapter
from tailor.warehouse import connect
from tests.conftest import require_dataset

pytestmark = [pytest.mark.integration, pytest.mark.realdata]


def test_online_retail_reconciles_every_line(tailor_env):
    path = require_dataset("online-retail/online_retail.csv.gz")
    con = connect(settings=tailor_env)
    try:
        first = {ld.source: ld for ld in load_adapter(con, "online-retail", path)}
        items = first["order_items"]
        assert items.rows_read == 541_909
        assert items.rows_loaded + items.rows_quarantined == 541_909
        (in_tables,) = con.execute(
            """
            select (select count(*) from raw.order_items) + (select count(*) from raw.quarantine where source = 'order_items')
            """
        ).fetchone()
        assert in_tables == 541_909
        # Only negative prices are refused: cancellations, guests, odd stock codes and free
        # lines (a price of 0) load.
        reasons = con.execute(
            "select reason_code, count(*) from raw.quarantine group by 1"
        ).fetchall()
        assert [r for r, _ in reasons] == ["negative_price"]
        assert (
            con.execute("select count(*) from raw.order_items where quantity < 0").fetchone()[0]
            > 9000
        )
        assert (
            con.execute("select count(*) from raw.orders where status = 'cancelled'").fetchone()[0]
            > 3000
        )
        assert (
            con.execute("select count(distinct order_id) from raw.order_items").fetchone()[0]
            == con.execute("select count(*) from raw.orders").fetchone()[0]
        )
        customers = con.execute("select count(*) from raw.customers").fetchone()[0]
        assert 4300 < customers <= 4372
        assert (
            con.execute(
                "select count(*) from raw.customers where customer_id like '%.0'"
            ).fetchone()[0]
            == 0
        )
        snapshot = con.execute(
            "select count(*), sum(quantity), sum(unit_price) from raw.order_items"
        ).fetchone()

        # Loading the same file again changes nothing.
        again = {ld.source: ld for ld in load_adapter(con, "online-retail", path)}
        assert {k: (v.rows_read, v.rows_loaded, v.rows_quarantined) for k, v in again.items()} == {
            k: (v.rows_read, v.rows_loaded, v.rows_quarantined) for k, v in first.items()
        }
        assert (
            con.execute(
                "select count(*), sum(quantity), sum(unit_price) from raw.order_items"
            ).fetchone()
            == snapshot
        )
        assert con.execute("select count(*) from raw.load_log").fetchone()[0] == 4
    finally:
        con.close()


def test_rees46_events_map_to_segment_shape(tailor_env):
    path = require_dataset("rees46-sample/events_2019-10-01_head.csv.gz")
    con = connect(settings=tailor_env)
    try:
        load = load_adapter(con, "rees46", path)[0]  # the events (the catalog comes next)
        assert load.rows_read == 17_434
        assert load.rows_loaded + load.rows_quarantined == 17_434
        events = dict(con.execute("select event, count(*) from raw.events group by 1").fetchall())
        assert set(events) <= {
            "Product Viewed",
            "Product Added",
            "Product Removed",
            "Order Completed",
        }
        assert events["Product Viewed"] > 10_000
        row = con.execute(
            """
            select event_timestamp, properties->>'$.product_id', properties->>'$.category_id', _dt
            from raw.events where _line = 2
            """
        ).fetchone()
        assert row[0] == "2019-10-01T00:00:00Z"
        assert row[1] == "44600062"
        assert row[2] == "2103807459595387724"  # 64-bit category ids stay exact text
        assert str(row[3]) == "2019-10-01"
    finally:
        con.close()
