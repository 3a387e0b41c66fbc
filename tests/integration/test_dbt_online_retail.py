"""The dbt project on the real Online Retail export (UCI, 541,909 order lines).

Online Retail has orders only (no events, no consents), guest orders without a customer,
cancellation invoices ('C...', negative quantities) and non-product stock codes (POST,
M, BANK CHARGES, ...). Its RFM must come out of its orders with those handled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from tailor import transform
from tailor.adapters import ADAPTERS, load_adapter
from tailor.settings import get_settings
from tailor.warehouse import connect
from tests.conftest import require_dataset

pytestmark = [pytest.mark.integration, pytest.mark.realdata]

SELECT = "resource_type:seed staging intermediate marts.core marts.segmentation marts.ml"
SEGMENTS = {
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
}


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    path = require_dataset(ADAPTERS["online-retail"].default_file)
    root = tmp_path_factory.mktemp("online_retail")
    data = root / "data"
    s = dataclasses.replace(
        get_settings(),
        data=data,
        warehouse=data / "warehouse" / "tailor.duckdb",
        duckdb_temp=data / "tmp" / "duckdb",
        duckdb_memory_limit="2GB",
        duckdb_threads=None,
    )
    con = connect(settings=s)
    try:
        load_adapter(con, "online-retail", path)
    finally:
        con.close()
    # every data test and unit test runs too: the build must pass on real data
    transform.build(select=SELECT, settings=s, vars={"tailor__reporting_currency": "GBP"})
    return s


def rows(settings, sql: str) -> list[tuple]:
    con = connect(settings=settings, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_rfm_covers_every_buyer_as_of_the_last_invoice_day(retail):
    (n, as_of, scores_ok) = rows(
        retail,
        """
        select count(*), min(as_of_date),
               bool_and(r_score between 1 and 5 and f_score between 1 and 5 and m_score between 1 and 5)
        from marts.customer_rfm
    """,
    )[0]
    assert as_of == dt.date(2011, 12, 9)  # the latest invoice day: the default run date
    assert 4_000 <= n <= 4_372 and scores_ok
    (buyers_without_rfm,) = rows(
        retail,
        """
        select count(distinct o.customer_id) from marts.orders o
        left join marts.customer_rfm r using (customer_id)
        where o.is_purchase and o.customer_id is not null and r.customer_id is null
    """,
    )[0]
    assert buyers_without_rfm == 0
    # each score splits the customers roughly into fifths where values allow it
    r_counts = [
        c
        for _, c in rows(
            retail, "select r_score, count(*) from marts.customer_rfm group by 1 order by 1"
        )
    ]
    assert len(r_counts) == 5 and min(r_counts) > 0.15 * n


def test_all_eleven_segments_appear_and_are_ordered_sensibly(retail):
    seg = {
        s: (count, rec, freq, mon)
        for s, count, rec, freq, mon in rows(
            retail,
            """
        select rfm_segment, count(*), avg(recency_days), avg(frequency), avg(monetary)
        from marts.customer_rfm group by 1
    """,
        )
    }
    assert set(seg) == SEGMENTS
    champions, lost = seg["Champions"], seg["Lost"]
    assert champions[1] < lost[1] and champions[2] > lost[2] and champions[3] > lost[3]
    assert seg["Can't Lose Them"][2] > seg["Hibernating"][2]  # they bought often ...
    assert seg["Can't Lose Them"][1] > seg["Loyal"][1]  # ... but not lately


def test_cancellations_reduce_monetary_and_do_not_count_as_purchases(retail):
    (credit_notes, counted) = rows(
        retail,
        """
        select count(*), count(*) filter (where is_purchase)
        from marts.orders where starts_with(order_id, 'C')
    """,
    )[0]
    assert credit_notes > 3_000 and counted == 0
    # customer 12346 bought 74,215 units for 77,183.60 and cancelled the same day
    assert rows(
        retail,
        "select frequency, monetary, rfm_segment from marts.customer_rfm where customer_id = '12346'",
    ) == [(1, 0.0, "Lost")]
    (monetary, net_orders) = rows(
        retail,
        """
        select (select sum(monetary) from marts.customer_rfm),
               (select sum(net_revenue_reporting) from marts.orders
                where customer_id in (select customer_id from marts.customer_rfm))
    """,
    )[0]
    assert monetary == pytest.approx(float(net_orders), rel=1e-9)


def test_non_product_codes_are_not_merchandise(retail):
    (postage_only_purchases,) = rows(
        retail,
        """
        select count(*) from marts.orders
        where is_purchase and product_line_count = 0
    """,
    )[0]
    assert postage_only_purchases == 0
    (non_product_interactions,) = rows(
        retail,
        """
        select count(*) from marts.user_item_interactions i
        join seeds.non_product_stock_codes n on i.product_id = n.stock_code
    """,
    )[0]
    assert non_product_interactions == 0
    (postage,) = rows(
        retail, "select sum(non_product_amount) from marts.orders where status = 'completed'"
    )[0]
    assert postage > 100_000  # kept on the orders, just not counted as merchandise


def test_guest_orders_are_kept_but_have_no_customer(retail):
    (guests, in_rfm) = rows(
        retail,
        """
        select count(*), count(*) filter (where customer_id in (select customer_id from marts.customer_rfm))
        from marts.orders where is_guest_order
    """,
    )[0]
    assert guests > 1_000 and in_rfm == 0
