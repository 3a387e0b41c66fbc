"""Point-in-time features and labels, in SQL over the marts (nothing after a cutoff is read
for features; nothing before it for labels)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ml.propensity.config import TASKS, PropensityConfig

# --------------------------------------------------------------------------- SQL

# An order "stood" at cutoff c if it was placed before c and is a purchase today, or was
# changed (cancelled, returned) only at or after c.
# ``is_purchase`` (marts.orders) includes a free order (a sample, a fully discounted
# basket, completed at $0): the customer bought; it adds nothing to their spend. Credit
# notes (negative amounts) are not purchases. Several orders on one day are one purchase
# day (the purchase_days_* features, the BG/NBD counts and the expected purchases count
# days, not orders; so does RFM frequency).
_STOOD = "(o.is_purchase or coalesce(o.updated_at, o.ordered_at) >= $cutoff)"

FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "days_since_last_session",
    "tenure_days",
    "orders_total",
    "orders_7d",
    "orders_14d",
    "orders_30d",
    "revenue_total",
    "revenue_30d",
    "average_order_value",
    "discount_share",
    "purchase_days_total",
    "purchase_days_90d",
    "purchase_days_trend",
    "mean_days_between_purchases",
    "overdue_ratio",
    "revenue_90d",
    "sessions_total",
    "sessions_7d",
    "sessions_14d",
    "product_views_7d",
    "cart_adds_7d",
    "page_views_per_session",
    "converted_session_share",
    "mobile_share",
    "evening_share",
)


def feature_sql(config: PropensityConfig | None = None) -> str:
    """Point-in-time features, one row per customer known at ``$cutoff``.

    Parameters: ``$cutoff`` (timestamp; only rows before it are read). The customers are
    those of ``marts.customers`` (so erased people are never used) who had a session or an
    order before the cutoff, or signed up before it. ``recency_days`` is null for a
    customer who never bought; a signup date after the cutoff is ignored.
    """
    c = config or PropensityConfig()
    return f"""
with orders as (
    select
        o.customer_id,
        o.ordered_at,
        coalesce(o.merchandise_amount_reporting, o.merchandise_amount, o.total, 0) as amount,
        coalesce(o.has_discount, false) as has_discount
    from {c.orders_table} as o
    where o.customer_id is not null
        and o.ordered_at < $cutoff
        and coalesce(o.merchandise_amount, o.total, 0) >= 0
        and {_STOOD}
),
sessions as (
    select
        s.customer_id,
        s.started_at,
        coalesce(s.page_views, 0) as page_views,
        coalesce(s.product_views, 0) as product_views,
        coalesce(s.cart_adds, 0) as cart_adds,
        coalesce(s.is_converted, false) as is_converted,
        s.device_type,
        s.start_day_part
    from {c.sessions_table} as s
    where s.customer_id is not null
        and s.started_at < $cutoff
),
-- counts per window, the same shape for orders and sessions (one scan of each, as of the cutoff)
order_stats as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as orders_total,
        count(*) filter (where ordered_at >= $cutoff - interval 7 day) as orders_7d,
        count(*) filter (where ordered_at >= $cutoff - interval 14 day) as orders_14d,
        count(*) filter (where ordered_at >= $cutoff - interval 30 day) as orders_30d,
        sum(amount) as revenue_total,
        coalesce(sum(amount) filter (where ordered_at >= $cutoff - interval 30 day), 0) as revenue_30d,
        avg(case when has_discount then 1.0 else 0.0 end) as discount_share,
        count(distinct cast(ordered_at as date)) as purchase_days_total,
        count(distinct cast(ordered_at as date)) filter (
            where ordered_at >= $cutoff - interval 90 day) as purchase_days_90d,
        count(distinct cast(ordered_at as date)) filter (
            where ordered_at >= $cutoff - interval 180 day
                and ordered_at < $cutoff - interval 90 day) as purchase_days_prior_90d,
        coalesce(sum(amount) filter (where ordered_at >= $cutoff - interval 90 day), 0) as revenue_90d
    from orders
    group by customer_id
),
session_stats as (
    select
        customer_id,
        min(started_at) as first_session_at,
        max(started_at) as last_session_at,
        count(*) as sessions_total,
        count(*) filter (where started_at >= $cutoff - interval 7 day) as sessions_7d,
        count(*) filter (where started_at >= $cutoff - interval 14 day) as sessions_14d,
        coalesce(sum(product_views) filter (where started_at >= $cutoff - interval 7 day), 0) as product_views_7d,
        coalesce(sum(cart_adds) filter (where started_at >= $cutoff - interval 7 day), 0) as cart_adds_7d,
        avg(page_views) as page_views_per_session,
        avg(case when is_converted then 1.0 else 0.0 end) as converted_session_share,
        avg(case when device_type = 'mobile' then 1.0 else 0.0 end) as mobile_share,
        avg(case when start_day_part = 'evening' then 1.0 else 0.0 end) as evening_share
    from sessions
    group by customer_id
),
customers as (
    select cu.customer_id, cu.created_at
    from {c.customers_table} as cu
    left join order_stats as os on os.customer_id = cu.customer_id
    left join session_stats as ss on ss.customer_id = cu.customer_id
    where cu.created_at < $cutoff
        or os.customer_id is not null
        or ss.customer_id is not null
)
select
    cu.customer_id,
    date_diff('second', os.last_order_at, $cutoff) / 86400.0 as recency_days,
    date_diff('second', ss.last_session_at, $cutoff) / 86400.0 as days_since_last_session,
    date_diff('second', least(
        coalesce(case when cu.created_at < $cutoff then cu.created_at end, $cutoff),
        coalesce(os.first_order_at, $cutoff),
        coalesce(ss.first_session_at, $cutoff)), $cutoff) / 86400.0 as tenure_days,
    coalesce(os.orders_total, 0) as orders_total,
    coalesce(os.orders_7d, 0) as orders_7d,
    coalesce(os.orders_14d, 0) as orders_14d,
    coalesce(os.orders_30d, 0) as orders_30d,
    coalesce(os.revenue_total, 0) as revenue_total,
    coalesce(os.revenue_30d, 0) as revenue_30d,
    os.revenue_total / os.orders_total as average_order_value,
    os.discount_share,
    coalesce(os.purchase_days_total, 0) as purchase_days_total,
    coalesce(os.purchase_days_90d, 0) as purchase_days_90d,
    coalesce(os.purchase_days_90d, 0) - coalesce(os.purchase_days_prior_90d, 0) as purchase_days_trend,
    case when os.purchase_days_total > 1 then
        date_diff('second', os.first_order_at, os.last_order_at) / 86400.0
        / (os.purchase_days_total - 1) end as mean_days_between_purchases,
    case when os.purchase_days_total > 1
        and date_diff('second', os.first_order_at, os.last_order_at) > 0 then
        date_diff('second', os.last_order_at, $cutoff) * (os.purchase_days_total - 1)
        / date_diff('second', os.first_order_at, os.last_order_at) end as overdue_ratio,
    -- zero where a customer has no order or session in the window (as in the dbt activity model)
    coalesce(os.revenue_90d, 0) as revenue_90d,
    coalesce(ss.sessions_total, 0) as sessions_total,
    coalesce(ss.sessions_7d, 0) as sessions_7d,
    coalesce(ss.sessions_14d, 0) as sessions_14d,
    coalesce(ss.product_views_7d, 0) as product_views_7d,
    coalesce(ss.cart_adds_7d, 0) as cart_adds_7d,
    ss.page_views_per_session,
    ss.converted_session_share,
    ss.mobile_share,
    ss.evening_share
from customers as cu
left join order_stats as os on os.customer_id = cu.customer_id
left join session_stats as ss on ss.customer_id = cu.customer_id
order by cu.customer_id
"""


def label_sql(config: PropensityConfig | None = None) -> str:
    """Customers with an order in ``[$cutoff, $label_end)`` (placed, not a credit note;
    cancelled orders do not count; a $0 order does)."""
    c = config or PropensityConfig()
    return f"""
select distinct customer_id
from {c.orders_table}
where customer_id is not null
    and ordered_at >= $cutoff
    and ordered_at < $label_end
    and coalesce(merchandise_amount, total, 0) >= 0
    and status <> 'cancelled'
"""


def cutoff_of(day: dt.date) -> dt.datetime:
    """The cutoff for a logical day: the first instant after it."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def features_at(con, cutoff: dt.datetime, config: PropensityConfig | None = None) -> pd.DataFrame:
    """Point-in-time features of every customer known at ``cutoff``."""
    df = con.execute(feature_sql(config), {"cutoff": cutoff}).df()
    for col in FEATURE_COLUMNS:
        df[col] = df[col].astype(float)
    return df


def labels_at(
    con, cutoff: dt.datetime, horizon_days: int, config: PropensityConfig | None = None
) -> set[str]:
    """The customers who bought in the ``horizon_days`` after ``cutoff``."""
    end = cutoff + dt.timedelta(days=horizon_days)
    rows = con.execute(label_sql(config), {"cutoff": cutoff, "label_end": end}).fetchall()
    return {r[0] for r in rows}


def labelled_frame(con, cutoff: dt.datetime, task: str, config: PropensityConfig) -> pd.DataFrame:
    """Features at ``cutoff`` with the task's population and label ``y``."""
    feats = features_at(con, cutoff, config)
    buyers = labels_at(con, cutoff, config.horizon_days, config)
    bought = feats["customer_id"].isin(buyers).to_numpy()
    feats = feats.assign(cutoff=cutoff)
    if task == "purchase":
        return feats.assign(y=bought.astype(int))
    if task == "churn":
        keep = feats["orders_total"].to_numpy() > 0
        return feats.loc[keep].assign(y=(~bought[keep]).astype(int)).reset_index(drop=True)
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def data_bounds(con, config: PropensityConfig) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and last instant of order and session data."""
    row = con.execute(
        f"""
        select min(t0), max(t1) from (
            select min(ordered_at) as t0, max(ordered_at) as t1 from {config.orders_table}
            union all
            select min(started_at), max(started_at) from {config.sessions_table}
        )
        """
    ).fetchall()[0]
    return row[0], row[1]
