{#
    Every order line, in the columns of stg_shop__order_items: the backend's, and for the
    orders known only from events (int_orders_unioned, order_source 'events') the line
    items of their latest Order Completed or Order Updated that carries any, numbered by
    their place in products[]. Each product an Order Refunded names is a refunded line:
    negative quantity, numbered from 100001 on, so it reduces the order's amount.
#}

with backend_lines as (

    select distinct order_id from {{ ref('stg_shop__order_items') }}

),

event_orders as (

    -- an order whose header the backend has not sent (yet: a corrected row comes the next
    -- day) but whose lines it has is the backend's: its lines come from there, not twice
    select unioned.order_id, unioned.currency
    from {{ ref('int_orders_unioned') }} as unioned
    left join backend_lines
        on unioned.order_id = backend_lines.order_id
    where unioned.order_source = 'events'
        and backend_lines.order_id is null

),

event_lines as (

    select lines.*, event_orders.currency as order_currency
    from {{ ref('int_order_events_unnested') }} as lines
    inner join event_orders
        on lines.order_id = event_orders.order_id
    where lines.has_lines
        and lines.product_id is not null

),

placed as (

    select
        *,
        dense_rank() over (
            partition by order_id order by event_at desc, message_id desc
        ) as event_rank
    from event_lines
    where event_name in ('Order Completed', 'Order Updated')

),

refunded as (

    select
        *,
        row_number() over (partition by order_id order by event_at, message_id, position) as refund_line
    from event_lines
    where event_name = 'Order Refunded'

),

from_events as (

    select
        order_id,
        cast(position as integer) as line_number,
        product_id,
        title,
        coalesce(quantity, 1) as quantity,
        cast(coalesce(unit_price, 0) as {{ dbt.type_numeric() }}) as unit_price,
        cast(0 as {{ dbt.type_numeric() }}) as discount,
        order_currency as currency,
        last_arrived_date as arrived_date
    from placed
    where event_rank = 1

    union all

    select
        order_id,
        cast(100000 + refund_line as integer) as line_number,
        product_id,
        title,
        -abs(coalesce(quantity, 1)) as quantity,
        cast(coalesce(unit_price, 0) as {{ dbt.type_numeric() }}) as unit_price,
        cast(0 as {{ dbt.type_numeric() }}) as discount,
        order_currency as currency,
        last_arrived_date as arrived_date
    from refunded

),

final as (

    select * from {{ ref('stg_shop__order_items') }}

    union all

    select
        {{ dbt.concat(["order_id", "'-'", dbt.cast("line_number", dbt.type_string())]) }} as order_item_id,
        *
    from from_events

)

select * from final
