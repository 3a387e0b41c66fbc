{#
    One row per identified session with a cart add, as of the run date: was it followed by
    a purchase (an order, or an Order Completed event) between its first cart add and
    tailor__cart_abandonment_hours after its last one? A cart is abandoned once that time
    has passed by the end of the run date without a purchase; until then it is undecided.
#}

{% set hours = var('tailor__cart_abandonment_hours') | int %}

with sessions as (

    select * from {{ ref('sessions') }}
    where customer_id is not null
        and cart_adds > 0
        and started_at < {{ tailor.run_end_literal() }}

),

purchases as (

    select customer_id, ordered_at as purchased_at
    from {{ ref('int_orders_enriched') }}
    where is_purchase and customer_id is not null

    union all

    select customer_id, event_at as purchased_at
    from {{ ref('int_events_stitched') }}
    where event_name = 'Order Completed'
        and customer_id is not null
        and event_at < {{ tailor.run_end_literal() }}

),

evaluated as (

    select
        sessions.session_id,
        sessions.customer_id,
        sessions.first_cart_add_at,
        sessions.last_cart_add_at,
        {{ dbt.dateadd('hour', hours, 'sessions.last_cart_add_at') }} as decision_at,
        min(purchases.purchased_at) as purchased_at
    from sessions
    left join purchases
        on sessions.customer_id = purchases.customer_id
        and purchases.purchased_at >= sessions.first_cart_add_at
        and purchases.purchased_at <= {{ dbt.dateadd('hour', hours, 'sessions.last_cart_add_at') }}
    group by
        sessions.session_id,
        sessions.customer_id,
        sessions.first_cart_add_at,
        sessions.last_cart_add_at

),

final as (

    select
        session_id,
        customer_id,
        first_cart_add_at,
        last_cart_add_at,
        cast(decision_at as {{ dbt.type_timestamp() }}) as decision_at,
        purchased_at,
        purchased_at is not null as is_purchased,
        purchased_at is null and decision_at <= {{ tailor.run_end_literal() }} as is_abandoned,
        purchased_at is null and decision_at > {{ tailor.run_end_literal() }} as is_undecided
    from evaluated

)

select * from final
