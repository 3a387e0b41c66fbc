{{ config(materialized='view') }}

{#
    Every implicit-feedback event behind user_item_interactions, one row each: product
    views and cart adds of identified customers, and purchases: the product lines of
    completed orders (int_orders_unioned: backend orders, and the orders known only from
    Order Completed events with their products[] or top-level product, as in REES46),
    less any product an Order Refunded took back. A view: recommenders read it to split
    interactions by time.
#}

with events as (

    select * from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and product_id is not null

),

orders as (

    select * from {{ ref('int_orders_unioned') }}
    where customer_id is not null

),

order_items as (

    select * from {{ ref('int_order_items_classified') }}
    where is_product

),

-- products an order's refunds took back (negative lines): not a purchase any more
refunded as (

    select distinct order_id, product_id from order_items
    where quantity < 0

),

-- event -> interaction type; ml/recommend/data.py INTERACTION_EVENTS_SQL reads these events the same way
event_signals as (

    select
        events.message_id as interaction_id,
        events.customer_id,
        events.product_id,
        case
            when events.event_name = 'Product Viewed' then 'view'
            when events.event_name = 'Product Added' then 'cart'
            else 'cart'
        end as interaction_type,
        coalesce(events.quantity, 1) as quantity,
        events.event_at as interacted_at,
        'event' as signal_source,
        events.last_arrived_date,
        events._processed_for_date
    from events
    where events.event_name in ('Product Viewed', 'Product Added')

),

order_signals as (

    select
        order_items.order_item_id as interaction_id,
        orders.customer_id,
        order_items.product_id,
        'purchase' as interaction_type,
        order_items.quantity,
        orders.ordered_at as interacted_at,
        'order' as signal_source,
        -- the later arrival of the order and the item line (int_orders_enriched does the same per order)
        case
            when order_items.arrived_date > orders.arrived_date then order_items.arrived_date
            else orders.arrived_date
        end as last_arrived_date,
        -- the order tables are rebuilt by every run
        {{ tailor.run_date_literal() }} as _processed_for_date
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    left join refunded
        on order_items.order_id = refunded.order_id
        and order_items.product_id = refunded.product_id
    where orders.status = 'completed'
        and order_items.quantity > 0
        and refunded.order_id is null

),

final as (

    select * from event_signals
    union all
    select * from order_signals

)

select * from final
