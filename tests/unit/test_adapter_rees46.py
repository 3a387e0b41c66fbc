"""The REES46 adapter on a hand-made export: the catalog it derives from the events."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from tailor.adapters import load_adapter
from tailor.warehouse import connect

pytestmark = pytest.mark.unit

HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
# As the REES46 / Open CDP export writes it: UTC times with a " UTC" suffix, 64-bit
# category ids, empty category codes and brands, prices that change during the day.
LINES = [
    HEADER,
    "2019-10-01 08:00:00 UTC,view,100,2053013554658804075,electronics.audio.headphone,acme,10.00,501,s-1",
    "2019-10-01 09:30:00 UTC,cart,100,2053013554658804075,electronics.audio.headphone,acme,12.50,501,s-1",
    "2019-10-01 09:00:00 UTC,view,100,2053013554658804075,electronics.audio.headphone,,11.00,502,s-2",
    "2019-10-01 08:10:00 UTC,view,200,2103807459595387724,,,35.79,502,s-2",
    "2019-10-01 08:20:00 UTC,purchase,300,2053013555631882655,kids.toys,,0,503,s-3",
]


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "events_2019-10-01.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(LINES) + "\n").encode()))
    return path


def test_the_events_give_one_catalog_row_per_product_they_load(tailor_env, tmp_path):
    path = _export(tmp_path)
    con = connect(settings=tailor_env)
    try:
        loads = {ld.source: ld for ld in load_adapter(con, "rees46", path)}
        # every event line is loaded or quarantined with its reason, as before
        events = loads["events"]
        assert (events.rows_read, events.rows_loaded, events.rows_quarantined) == (5, 4, 1)
        (reason,) = con.execute("select reason_code from raw.quarantine").fetchone()
        assert reason == "non_positive_price"
        # one product per product id of the loaded events: the one priced 0 (its only
        # event is quarantined) is no catalog product
        rows = con.execute(
            """
            select product_id, title, category_path, brand, price, currency, is_active,
                   created_at, updated_at
            from raw.products order by product_id
            """
        ).fetchall()
        assert rows == [
            (
                "100",
                "acme headphone #100",
                "electronics > audio > headphone",  # the catalog's path separator
                "acme",
                Decimal("12.50"),  # the latest price, not the first
                "USD",
                True,
                "2019-10-01T08:00:00Z",
                "2019-10-01T09:30:00Z",
            ),
            # no category code: the category id; no brand: none invented
            (
                "200",
                "#200",
                "2103807459595387724",
                None,
                Decimal("35.79"),
                "USD",
                True,
                "2019-10-01T08:10:00Z",
                "2019-10-01T08:10:00Z",
            ),
        ]
        assert (loads["products"].rows_read, loads["products"].rows_loaded) == (2, 2)
        logged = con.execute(
            "select source, rows_loaded from raw.load_log order by source"
        ).fetchall()
        assert logged == [("events", 4), ("products", 2)]
        # loading the file again replaces its products, it does not add to them
        load_adapter(con, "rees46", path)
        assert con.execute("select count(*) from raw.products").fetchone() == (2,)
    finally:
        con.close()


def test_a_hostile_brand_is_kept_as_text(tailor_env, tmp_path):
    """A brand is the shop's text: quotes, markup and a spreadsheet formula reach the
    catalog title as they were delivered, never as SQL (the catalog is built in SQL from
    the raw events)."""
    brand = 'O\'Brien"; drop table raw.events; -- <script>alert(1)</script> =HYPERLINK("x")'
    field = '"' + brand.replace('"', '""') + '"'  # CSV quoting, as the export writes it
    path = tmp_path / "events_2019-10-01.csv.gz"
    line = f"2019-10-01 08:00:00 UTC,view,700,2053013554658804075,kids.toys,{field},9.99,501,s-1"
    path.write_bytes(gzip.compress(f"{HEADER}\n{line}\n".encode()))
    con = connect(settings=tailor_env)
    try:
        load_adapter(con, "rees46", path)
        assert con.execute("select brand, title from raw.products").fetchall() == [
            (brand, f"{brand} toys #700")
        ]
        assert con.execute("select count(*) from raw.events").fetchone() == (1,)
    finally:
        con.close()
