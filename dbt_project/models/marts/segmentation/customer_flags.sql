{#
    Behavioural flags for audiences, one row per known customer, as of the run date.

    * cart abandoner: a cart (session with cart adds) from the last tailor__flag_window_days
      days with no purchase within tailor__cart_abandonment_hours, and no purchase since;
    * browse abandoner: viewed products in a session of the last tailor__flag_window_days
      days without adding to cart or buying, nothing added or bought since, and not a cart
      abandoner;
    * high intent: the same product viewed at least tailor__high_intent_min_views times in
      the last tailor__high_intent_window_days days;
    * win-back candidate: has bought, but the last purchase is between
      tailor__win_back_min_days and tailor__win_back_max_days days old.
#}

{% set flag_since = tailor.days_before_run_date(var('tailor__flag_window_days')) %}
{% set intent_since = tailor.days_before_run_date(var('tailor__high_intent_window_days')) %}

-- import CTEs, one per ref (dbt style): each model names what it reads
with customers as (

    select * from {{ ref('int_customers_unioned') }}

),

carts as (

    select * from {{ ref('int_carts_evaluated') }}

),

sessions as (

    select * from {{ ref('sessions') }}
    where customer_id is not null
        and started_at < {{ tailor.run_end_literal() }}

),

events as (

    select * from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and event_at < {{ tailor.run_end_literal() }}

),

order_stats as (

    select * from {{ ref('int_customer_orders_aggregated') }}

),

last_actions as (

    select
        customer_id,
        max(case when event_name = 'Product Added' then event_at end) as last_cart_add_at,
        max(case when event_name = 'Order Completed' then event_at end) as last_order_event_at
    from events
    group by customer_id

),

last_purchase as (

    select
        customers.customer_id,
        case
            when order_stats.last_purchase_at is null then last_actions.last_order_event_at
            when last_actions.last_order_event_at is null then order_stats.last_purchase_at
            when last_actions.last_order_event_at > order_stats.last_purchase_at then last_actions.last_order_event_at
            else order_stats.last_purchase_at
        end as last_purchase_at,
        last_actions.last_cart_add_at
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from customers
    left join order_stats
        on customers.customer_id = order_stats.customer_id
    left join last_actions
        on customers.customer_id = last_actions.customer_id

),

abandoned_carts as (

    select
        carts.customer_id,
        count(*) as abandoned_carts_in_window,
        max(carts.last_cart_add_at) as last_abandoned_cart_at
    from carts
    left join last_purchase
        on carts.customer_id = last_purchase.customer_id
    where carts.is_abandoned
        and cast(carts.last_cart_add_at as date) > {{ flag_since }}
        and (last_purchase.last_purchase_at is null or last_purchase.last_purchase_at < carts.last_cart_add_at)
    group by carts.customer_id

),

browsed as (

    select
        sessions.customer_id,
        max(sessions.last_product_view_at) as last_browse_at
    from sessions
    where sessions.product_views > 0
        and sessions.cart_adds = 0
        and not sessions.is_converted
        and sessions.session_date > {{ flag_since }}
    group by sessions.customer_id

),

browse_abandoners as (

    select browsed.customer_id, browsed.last_browse_at
    from browsed
    left join last_purchase
        on browsed.customer_id = last_purchase.customer_id
    where (last_purchase.last_purchase_at is null or last_purchase.last_purchase_at < browsed.last_browse_at)
        and (last_purchase.last_cart_add_at is null or last_purchase.last_cart_add_at < browsed.last_browse_at)

),

product_views as (

    select
        customer_id,
        product_id,
        count(*) as view_count,
        max(event_at) as last_viewed_at
    from events
    where event_name = 'Product Viewed'
        and product_id is not null
        and event_date > {{ intent_since }}
    group by customer_id, product_id

),

high_intent as (

    select
        customer_id,
        product_id as high_intent_product_id,
        view_count as high_intent_product_views,
        row_number() over (partition by customer_id order by view_count desc, last_viewed_at desc, product_id) as intent_rank
    from product_views
    where view_count >= {{ var('tailor__high_intent_min_views') }}

),

final as (

    select
        customers.customer_id,
        {{ tailor.run_date_literal() }} as as_of_date,
        abandoned_carts.customer_id is not null as is_cart_abandoner,
        coalesce(abandoned_carts.abandoned_carts_in_window, 0) as abandoned_carts_in_window,
        abandoned_carts.last_abandoned_cart_at,
        browse_abandoners.customer_id is not null and abandoned_carts.customer_id is null as is_browse_abandoner,
        browse_abandoners.last_browse_at,
        high_intent.customer_id is not null as is_high_intent,
        high_intent.high_intent_product_id,
        high_intent.high_intent_product_views,
        coalesce(order_stats.purchase_count, 0) > 0
            and {{ dbt.datediff('cast(order_stats.last_purchase_at as date)', tailor.run_date_literal(), 'day') }}
                between {{ var('tailor__win_back_min_days') }} and {{ var('tailor__win_back_max_days') }}
            as is_win_back_candidate,
        order_stats.last_purchase_at
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from customers
    left join abandoned_carts
        on customers.customer_id = abandoned_carts.customer_id
    left join browse_abandoners
        on customers.customer_id = browse_abandoners.customer_id
    left join high_intent
        on customers.customer_id = high_intent.customer_id
        and high_intent.intent_rank = 1
    left join order_stats
        on customers.customer_id = order_stats.customer_id

)

select * from final
