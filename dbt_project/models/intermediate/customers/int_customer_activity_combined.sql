{#
    What each known customer did, as of the run date, one row per customer: the order and
    event aggregates (0 where the customer has none of a kind), a few measures derived from
    them, and the span of their activity. Activity is anything the customer did: an order,
    a tracked event, or the CRM record being created. The customer marts (customers,
    customer_lifecycle, customer_features) read their behaviour from here, so each measure
    is defined once.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with customers as (

    select * from {{ ref('int_customers_unioned') }}

),

crm as (

    select customer_id, created_at
    from {{ ref('stg_crm__customers') }}
    where created_at < {{ tailor.run_end_literal() }}

),

order_stats as (

    select * from {{ ref('int_customer_orders_aggregated') }}

),

event_stats as (

    select * from {{ ref('int_customer_events_aggregated') }}

),

-- zero where the left-joined input has no row (the coalesce shape recurs, with other columns)
joined as (

    select
        customers.customer_id,
        crm.created_at as crm_created_at,
        order_stats.first_order_at,
        order_stats.last_order_at,
        order_stats.first_purchase_at,
        order_stats.last_purchase_at,
        coalesce(order_stats.purchase_count, 0) as purchase_count,
        coalesce(order_stats.cancelled_order_count, 0) as cancelled_order_count,
        coalesce(order_stats.returned_order_count, 0) as returned_order_count,
        coalesce(order_stats.gross_revenue, 0) as gross_revenue,
        coalesce(order_stats.net_revenue, 0) as net_revenue,
        case
            when coalesce(order_stats.purchase_count, 0) > 0
                then order_stats.gross_revenue / order_stats.purchase_count
            else 0
        end as average_order_value,
        case
            when coalesce(order_stats.purchase_count, 0) > 0
                then 1.0 * order_stats.discounted_purchase_count / order_stats.purchase_count
            else 0
        end as discount_share,
        coalesce(order_stats.items_purchased, 0) as items_purchased,
        coalesce(order_stats.purchases_in_engaged_window, 0) as purchases_in_engaged_window,
        event_stats.first_seen_at,
        event_stats.last_seen_at,
        coalesce(event_stats.active_days, 0) as active_days,
        coalesce(event_stats.page_views, 0) as page_views,
        coalesce(event_stats.product_views, 0) as product_views,
        coalesce(event_stats.cart_adds, 0) as cart_adds,
        coalesce(event_stats.cart_removes, 0) as cart_removes,
        coalesce(event_stats.searches, 0) as searches,
        coalesce(event_stats.evening_events, 0) as evening_events,
        coalesce(event_stats.activity_events, 0) as activity_events,
        coalesce(event_stats.session_count, 0) as session_count,
        coalesce(event_stats.sessions_in_engaged_window, 0) as sessions_in_engaged_window,
        coalesce(event_stats.total_session_seconds, 0) as total_session_seconds,
        coalesce(event_stats.mobile_sessions, 0) as mobile_sessions,
        coalesce(event_stats.converted_sessions, 0) as converted_sessions,
        event_stats.preferred_device,
        event_stats.preferred_day_part,
        event_stats.event_timezone
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from customers
    left join crm
        on customers.customer_id = crm.customer_id
    left join order_stats
        on customers.customer_id = order_stats.customer_id
    left join event_stats
        on customers.customer_id = event_stats.customer_id

),

bounds as (

    select
        *,
        least(
            coalesce(crm_created_at, first_order_at, first_seen_at),
            coalesce(first_order_at, first_seen_at, crm_created_at),
            coalesce(first_seen_at, crm_created_at, first_order_at)
        ) as first_active_at,
        greatest(
            coalesce(crm_created_at, last_order_at, last_seen_at),
            coalesce(last_order_at, last_seen_at, crm_created_at),
            coalesce(last_seen_at, crm_created_at, last_order_at)
        ) as last_active_at
    from joined

),

final as (

    select
        *,
        {{ dbt.datediff('cast(first_active_at as date)', tailor.run_date_literal(), 'day') }} as days_since_first_active,
        {{ dbt.datediff('cast(last_active_at as date)', tailor.run_date_literal(), 'day') }} as days_since_last_active
    from bounds

)

select * from final
