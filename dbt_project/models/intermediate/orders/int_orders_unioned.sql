{#
    Every order, in the columns of stg_shop__orders plus order_source: the shop backend's
    orders ('backend'), and the orders known only from Segment e-commerce events ('events':
    int_order_events_unnested). An order both sources know is counted once, as the backend
    has it: its events add nothing here.

    An order from events:
      * status: cancelled when an Order Cancelled arrived, returned when an Order Refunded
        without products[] (a full refund) arrived, else completed when an Order Completed
        or Order Updated arrived, else pending. A refund naming products is partial: the
        order stays completed and its refunded lines (int_order_items_unioned) reduce it;
      * ordered_at: its first Order Completed (else its first order event);
      * customer, currency, total, discount and coupon: from its latest Order Completed or
        Order Updated (an update replaces what the order said before);
      * arrived_date: the last landing day of any of its events, so a late refund rebuilds it.
#}

with backend as (

    select *, 'backend' as order_source from {{ ref('stg_shop__orders') }}

),

event_rows as (

    select distinct
        message_id, event_name, order_id, customer_id, event_at, currency, order_total,
        order_revenue, order_discount, coupon_code, has_lines, last_arrived_date
    from {{ ref('int_order_events_unnested') }}

),

states as (

    select
        *,
        row_number() over (
            partition by order_id
            order by case when event_name in ('Order Completed', 'Order Updated') then 0 else 1 end,
                event_at desc, message_id desc
        ) as state_rank
    from event_rows

),

per_order as (

    select
        order_id,
        max(case when event_name = 'Order Cancelled' then 1 else 0 end) = 1 as is_cancelled,
        max(case when event_name = 'Order Refunded' and not has_lines then 1 else 0 end) = 1 as is_refunded,
        max(case when event_name in ('Order Completed', 'Order Updated') then 1 else 0 end) = 1 as is_placed,
        coalesce(
            min(case when event_name = 'Order Completed' then event_at end),
            min(event_at)
        ) as ordered_at,
        max(event_at) as updated_at,
        max(last_arrived_date) as arrived_date,
        max(customer_id) as any_customer_id
    from event_rows
    group by order_id

),

from_events as (

    select
        per_order.order_id,
        coalesce(states.customer_id, per_order.any_customer_id) as customer_id,
        per_order.ordered_at,
        cast(per_order.ordered_at as date) as order_date,
        case
            when per_order.is_cancelled then 'cancelled'
            when per_order.is_refunded then 'returned'
            when per_order.is_placed then 'completed'
            else 'pending'
        end as status,
        lower(states.event_name) as delivered_status,
        coalesce(states.currency, '{{ var("tailor__reporting_currency") }}') as currency,
        cast(states.order_revenue as {{ dbt.type_numeric() }}) as subtotal,
        cast(coalesce(states.order_discount, 0) as {{ dbt.type_numeric() }}) as discount,
        cast(0 as {{ dbt.type_numeric() }}) as shipping,
        cast(coalesce(states.order_total, states.order_revenue) as {{ dbt.type_numeric() }}) as total,
        states.coupon_code,
        cast('web' as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as country,
        per_order.updated_at,
        per_order.arrived_date,
        'events' as order_source
    from per_order
    inner join states
        on per_order.order_id = states.order_id
        and states.state_rank = 1
    where per_order.order_id not in (select order_id from backend)

),

final as (

    select * from backend
    union all
    select * from from_events

)

select * from final
