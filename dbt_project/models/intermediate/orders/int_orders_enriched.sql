{#
    One row per order placed on or before the run date, with the amounts RFM and the
    profiles use, in the order's currency and in the reporting currency.

    merchandise_amount: product lines only (postage, fees, adjustments and vouchers are
    not merchandise), net of line discounts and of an order-level discount the lines do
    not already carry.

    How an order counts:
      * completed with positive merchandise -> a purchase (frequency) and its amount (monetary);
      * a credit note (merchandise < 0, e.g. an Online Retail cancellation invoice 'C...'
        with negative quantities) -> not a purchase, its negative amount reduces monetary;
      * cancelled or returned with positive merchandise -> the sale did not stand: neither.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with orders as (

    select * from {{ ref('int_orders_unioned') }}
    where ordered_at < {{ tailor.run_end_literal() }}

),

order_items as (

    select * from {{ ref('int_order_items_classified') }}

),

exchange_rates as (

    select * from {{ ref('exchange_rates') }}

),

items_per_order as (

    select
        order_id,
        count(*) as line_count,
        cast(sum(case when is_product then 1 else 0 end) as bigint) as product_line_count,
        cast(sum(case when is_product then quantity else 0 end) as bigint) as item_quantity,
        sum(case when is_product then line_amount else 0 end) as product_line_amount,
        sum(case when is_product then discount else 0 end) as line_discount,
        sum(case when not is_product then line_amount else 0 end) as non_product_amount,
        cast(sum(case when is_product and not is_known_product then 1 else 0 end) as bigint) as unknown_product_line_count,
        max(arrived_date) as last_item_arrived_date
    from order_items
    group by order_id

),

-- zero where the left-joined input has no row (the coalesce shape recurs, with other columns)
amounts as (

    select
        orders.*,
        coalesce(items_per_order.line_count, 0) as line_count,
        coalesce(items_per_order.product_line_count, 0) as product_line_count,
        coalesce(items_per_order.item_quantity, 0) as item_quantity,
        coalesce(items_per_order.non_product_amount, 0) as non_product_amount,
        coalesce(items_per_order.unknown_product_line_count, 0) as unknown_product_line_count,
        case
            when items_per_order.order_id is null then coalesce(orders.subtotal, orders.total, 0) - orders.discount
            else items_per_order.product_line_amount
                - case
                    when orders.discount > items_per_order.line_discount
                        then orders.discount - items_per_order.line_discount
                    else 0
                end
        end as merchandise_amount,
        -- the later arrival of the order and its items (user_item_events does the same per item line)
        case
            when items_per_order.last_item_arrived_date > orders.arrived_date then items_per_order.last_item_arrived_date
            else orders.arrived_date
        end as last_arrived_date
    from orders
    left join items_per_order
        on orders.order_id = items_per_order.order_id

),

classified as (

    select
        *,
        -- a completed order with merchandise is a purchase; so is a free one (product
        -- lines at 0: a sample, a gift, a 100 % voucher; or an order without lines whose
        -- header says 0): it counts for frequency and recency and adds nothing to
        -- monetary. Not a purchase: fees or postage only, or no lines and no amount.
        status = 'completed' and (
            merchandise_amount > 0
            or (
                merchandise_amount = 0
                and (
                    product_line_count > 0
                    or (line_count = 0 and coalesce(subtotal, total) is not null)
                )
            )
        ) as is_purchase,
        merchandise_amount < 0 as is_credit_note,
        case
            when status = 'completed' and merchandise_amount > 0 then merchandise_amount
            when merchandise_amount < 0 then merchandise_amount
            else 0
        end as net_merchandise_amount
    from amounts

),

final as (

    select
        classified.order_id,
        classified.customer_id,
        classified.ordered_at,
        classified.order_date,
        classified.status,
        classified.currency,
        classified.subtotal,
        classified.discount,
        classified.shipping,
        classified.total,
        classified.coupon_code,
        classified.coupon_code is not null or classified.discount > 0 as has_discount,
        classified.channel,
        classified.country,
        classified.line_count,
        classified.product_line_count,
        classified.item_quantity,
        classified.unknown_product_line_count,
        classified.merchandise_amount,
        classified.non_product_amount,
        classified.net_merchandise_amount,
        classified.is_purchase,
        classified.is_credit_note,
        rates.units_per_usd is not null and reporting.units_per_usd is not null as has_exchange_rate,
        cast(classified.merchandise_amount * (reporting.units_per_usd / rates.units_per_usd) as {{ dbt.type_numeric() }}) as merchandise_amount_reporting,
        cast(classified.net_merchandise_amount * (reporting.units_per_usd / rates.units_per_usd) as {{ dbt.type_numeric() }}) as net_revenue_reporting,
        '{{ var("tailor__reporting_currency") }}' as reporting_currency,
        classified.updated_at,
        classified.last_arrived_date
    from classified
    left join exchange_rates as rates
        on classified.currency = rates.currency_code
    left join exchange_rates as reporting
        on reporting.currency_code = '{{ var("tailor__reporting_currency") }}'

)

select * from final
