{# Purchase behaviour per customer as of the run date (orders placed on or before it). #}

{% set engaged_since = tailor.days_before_run_date(var('tailor__lifecycle_engaged_window_days')) %}

with orders as (

    select * from {{ ref('int_orders_enriched') }}
    where customer_id is not null

),

final as (

    select
        customer_id,
        count(*) as order_count,
        sum(case when is_purchase then 1 else 0 end) as purchase_count,
        -- several purchases on one day are one shopping occasion (an order split in two)
        count(distinct case when is_purchase then order_date end) as purchase_day_count,
        sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_order_count,
        sum(case when status = 'returned' then 1 else 0 end) as returned_order_count,
        sum(case when is_credit_note then 1 else 0 end) as credit_note_count,
        min(case when is_purchase then ordered_at end) as first_purchase_at,
        max(case when is_purchase then ordered_at end) as last_purchase_at,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        coalesce(sum(case when is_purchase then merchandise_amount_reporting end), 0) as gross_revenue,
        coalesce(sum(net_revenue_reporting), 0) as net_revenue,
        sum(case when is_purchase and has_discount then 1 else 0 end) as discounted_purchase_count,
        coalesce(sum(case when is_purchase then item_quantity end), 0) as items_purchased,
        sum(case when is_purchase and order_date > {{ engaged_since }} then 1 else 0 end) as purchases_in_engaged_window
    from orders
    group by customer_id

)

select * from final
