"""`tailor run` on the smallest real shop: orders from a shop backend only (no web events)
and a catalog of one product."""

from __future__ import annotations

import datetime as dt

import pytest

from tailor import ingest
from tailor.pipeline import run_day
from tailor.warehouse import connect
from tests.conftest import point_tailor_at
from tests.store_shapes import (
    customer_ids,
    day_activity,
    product_ids,
    write_catalog,
    write_customers,
    write_orders,
)

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(14)]
PRODUCTS = ["SKU-001"]


def test_tailor_run_completes_on_an_orders_only_shop_with_one_product(tmp_path, monkeypatch):
    point_tailor_at(monkeypatch, tmp_path / "data")
    monkeypatch.delenv("TAILOR_DESTINATIONS", raising=False)
    from tailor.settings import get_settings

    s = get_settings()
    people = customer_ids(60)
    write_catalog(s.landing, DAYS[0], PRODUCTS)
    write_customers(s.landing, DAYS[0], people, set(people[:45]))
    for day in DAYS:
        activity = day_activity(day, people, product_ids(), start=DAYS[0])
        for a in activity:  # every order is of the one product
            a["bought"], a["quantities"] = PRODUCTS, a["quantities"][:1]
        write_orders(s.landing, day, activity, PRODUCTS)
    con = connect(s.warehouse, settings=s)
    try:
        for day in DAYS[:-1]:
            ingest.load_day(con, s.landing, day)
    finally:
        con.close()
    result = run_day(DAYS[-1], s)  # raises StageError when a stage fails
    assert result is not None
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        (segmented,) = con.execute(
            "select count(*) from ml.customer_segments where run_date = ?", [DAYS[-1]]
        ).fetchall()[0]
        (rfm,) = con.execute("select count(*) from marts.customer_rfm").fetchall()[0]
        names = [
            n for (n,) in con.execute("select segment_name from ml.segment_profiles").fetchall()
        ]
    finally:
        con.close()
    assert rfm > 0 and segmented > 0
    # an orders-only shop: no segment is named for browsing or devices
    assert not any(w in n for n in names for w in ("visitor", "mobile", "desktop", "Window"))
