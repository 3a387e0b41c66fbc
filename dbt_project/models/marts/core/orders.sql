{# Orders placed on or before the run date, as they stood on it. #}

with orders as (

    select * from {{ ref('int_orders_enriched') }}

),

-- final: the enriched order's columns in the mart's order (stg_shop__orders lists the same columns)
final as (

    select
        order_id,
        customer_id,
        customer_id is null as is_guest_order,
        ordered_at,
        order_date,
        status,
        currency,
        subtotal,
        discount,
        shipping,
        total,
        coupon_code,
        has_discount,
        channel,
        country,
        line_count,
        product_line_count,
        item_quantity,
        unknown_product_line_count,
        merchandise_amount,
        non_product_amount,
        net_merchandise_amount,
        is_purchase,
        is_credit_note,
        has_exchange_rate,
        merchandise_amount_reporting,
        net_revenue_reporting,
        reporting_currency,
        updated_at
    from orders

)

select * from final
