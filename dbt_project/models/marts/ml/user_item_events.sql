{{ config(materialized='view') }}

{#
    Every implicit-feedback event behind user_item_interactions, one row each: product
    views and cart adds of identified customers, and purchases (product lines of completed
    orders, or Order Completed events naming a product when there is no order record, as
    in REES46). A view: recommenders read it to split interactions by time.
#}

with events as (

    select * from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and product_id is not null

),

orders as (

    select * from {{ ref('stg_shop__orders') }}
    where customer_id is not null

),

order_items as (

    select * from {{ ref('int_order_items_classified') }}
    where is_product

),

event_signals as (

    select
        events.message_id as interaction_id,
        events.customer_id,
        events.product_id,
        case
            when events.event_name = 'Product Viewed' then 'view'
            when events.event_name = 'Product Added' then 'cart'
            else 'purchase'
        end as interaction_type,
        coalesce(events.quantity, 1) as quantity,
        events.event_at as interacted_at,
        'event' as signal_source,
        events.last_arrived_date
    from events
    left join orders
        on events.order_id = orders.order_id
    where events.event_name in ('Product Viewed', 'Product Added')
        or (events.event_name = 'Order Completed' and orders.order_id is null)

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
        case
            when order_items.arrived_date > orders.arrived_date then order_items.arrived_date
            else orders.arrived_date
        end as last_arrived_date
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    where orders.status = 'completed'
        and order_items.quantity > 0

),

final as (

    select * from event_signals
    union all
    select * from order_signals

)

select * from final
