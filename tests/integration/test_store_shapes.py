"""The three shapes a store comes in, each through three nights of `tailor run`.

* events only: Segment / RudderStack e-commerce events, orders in Order Completed's
  products[], no backend orders feed;
* orders only: a shop backend's orders and lines, no clickstream at all;
* both: the same orders from the backend and from the events.

Landing files are written the way those systems write them (tests/store_shapes.py). Each
shape must complete three nights in a row with every gate passing, segments, propensity
scores and recommendations of the customers' own (not one list for everyone), with a
purchase counted once, and refunds and cancellations taken off revenue.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tailor import ingest
from tailor.pipeline import StageError, run_day
from tailor.warehouse import connect
from tests.conftest import point_tailor_at
from tests.store_shapes import SHAPES, customer_ids, day_activity, product_ids, write_store

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
HISTORY = 28  # loaded days before the first night: propensity needs two training cutoffs
NIGHTS = 3
CUSTOMERS = 240  # segmentation needs 50 customers, propensity 200 training rows
DAYS = [START + dt.timedelta(days=i) for i in range(HISTORY + NIGHTS)]
RUN_DAYS = DAYS[HISTORY:]


@pytest.fixture(scope="module", params=SHAPES)
def store(request, tmp_path_factory):
    shape = request.param
    root = tmp_path_factory.mktemp(shape)
    with pytest.MonkeyPatch.context() as mp:
        point_tailor_at(mp, root / "data")
        mp.delenv("TAILOR_DESTINATIONS", raising=False)
        from tailor.settings import get_settings

        s = get_settings()
        write_store(s.landing, shape, DAYS, customers=CUSTOMERS)
        con = connect(s.warehouse, settings=s)
        try:
            for day in DAYS[:HISTORY]:
                ingest.load_day(con, s.landing, day)
        finally:
            con.close()
        nights: dict[dt.date, object] = {}
        for day in RUN_DAYS:
            try:
                nights[day] = run_day(day, s)
            except StageError as exc:
                nights[day] = exc
        yield shape, s, nights


def rows(s, sql: str, params=None):
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def expected_net_revenue(shape: str) -> Decimal:
    """What the orders of every day up to the last night are worth, refunds and
    cancellations taken off: an event refund names the products it takes back, a backend
    'refunded' status takes back the whole order."""
    products = product_ids()
    total = Decimal(0)
    for day in DAYS:
        for a in day_activity(day, customer_ids(CUSTOMERS), products, start=START):
            lines = [
                Decimal(str(10.0 + products.index(p))) * q
                for p, q in zip(a["bought"], a["quantities"], strict=True)
            ]
            if a["cancelled"] or (a["refunded"] and shape != "events-only"):
                continue
            total += sum(lines[1:]) if a["refunded"] else sum(lines)
    return total


def test_three_nights_in_a_row_pass_every_gate(store):
    shape, _, nights = store
    for day, night in nights.items():
        assert not isinstance(night, Exception), f"{shape}, night of {day}: {night}"
        for layer in ("validate_raw", "validate_marts", "validate_ml"):
            result = night.results[layer]
            assert result["success"] and not result["critical_failures"], (shape, day, result)


def test_every_night_serves_segments_scores_and_own_recommendations(store):
    shape, s, nights = store
    for day in RUN_DAYS:
        # the run says how many customers get the global list for want of a consent
        recommend = nights[day].results["recommend"]
        assert recommend["global_list_customers"] == CUSTOMERS - int(CUSTOMERS * 0.8)
        (segmented,) = rows(
            s, "select count(*) from ml.customer_segments where run_date = ?", [day]
        )[0]
        assert segmented == CUSTOMERS, (shape, day)
        lists = rows(
            s,
            """
            select r.customer_id, string_agg(r.product_id, ',' order by r.rank)
            from ml.recommendations as r
            join marts.customers as c using (customer_id)
            where r.run_date = ? and c.has_personalization_consent
            group by r.customer_id
            """,
            [day],
        )
        assert len(lists) == int(CUSTOMERS * 0.8), (shape, day)
        # the customers' own lists: what they bought is left out, so lists differ
        assert len({products for _, products in lists}) > 1, (shape, day)
    (scored,) = rows(
        s, "select count(*) from ml.propensity_scores where run_date = ?", [RUN_DAYS[-1]]
    )[0]
    assert scored > 0, shape


def test_each_order_counts_once_with_refunds_and_cancellations_taken_off(store):
    shape, s, _ = store
    activity = [
        a
        for d in DAYS
        for a in day_activity(d, customer_ids(CUSTOMERS), product_ids(), start=START)
    ]
    ((orders, net),) = rows(s, "select count(*), sum(net_merchandise_amount) from marts.orders")
    assert orders == len(activity)
    assert Decimal(net) == expected_net_revenue(shape)
    ((purchases,),) = rows(s, "select count(*) from marts.orders where is_purchase")
    assert purchases < len(activity)


def test_a_missing_clickstream_is_absent_not_zero(store):
    shape, s, _ = store
    ((sessions,),) = rows(s, "select count(*) from marts.sessions")
    ((with_views,),) = rows(
        s, "select count(*) from marts.customer_features where product_views is not null"
    )
    ((interactions,),) = rows(s, "select count(*) from marts.user_item_interactions")
    assert interactions > 0
    if shape == "orders-only":
        assert sessions == 0 and with_views == 0
    else:
        assert sessions > 0 and with_views == CUSTOMERS
