{#
    The lifecycle stage of every known customer as of the run date. Activity is anything
    the customer did: an order, a tracked event, or the CRM record being created.

      new       first active at most tailor__lifecycle_new_days ago
      engaged   active within tailor__lifecycle_active_days and, within
                tailor__lifecycle_engaged_window_days, at least
                tailor__lifecycle_engaged_min_orders purchases or
                tailor__lifecycle_engaged_min_sessions sessions
      active    active within tailor__lifecycle_active_days
      at_risk   last active at most tailor__lifecycle_at_risk_days ago
      lapsed    last active at most tailor__lifecycle_lapsed_days ago
      churned   otherwise
#}

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

activity as (

    select
        customers.customer_id,
        crm.created_at,
        order_stats.first_order_at,
        order_stats.last_order_at,
        event_stats.first_seen_at,
        event_stats.last_seen_at,
        coalesce(order_stats.purchase_count, 0) as purchase_count,
        coalesce(order_stats.purchases_in_engaged_window, 0) as purchases_in_engaged_window,
        coalesce(event_stats.sessions_in_engaged_window, 0) as sessions_in_engaged_window
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
            coalesce(created_at, first_order_at, first_seen_at),
            coalesce(first_order_at, first_seen_at, created_at),
            coalesce(first_seen_at, created_at, first_order_at)
        ) as first_active_at,
        greatest(
            coalesce(created_at, last_order_at, last_seen_at),
            coalesce(last_order_at, last_seen_at, created_at),
            coalesce(last_seen_at, created_at, last_order_at)
        ) as last_active_at
    from activity

),

measured as (

    select
        *,
        {{ dbt.datediff('cast(first_active_at as date)', tailor.run_date_literal(), 'day') }} as days_since_first_active,
        {{ dbt.datediff('cast(last_active_at as date)', tailor.run_date_literal(), 'day') }} as days_since_last_active
    from bounds

),

staged as (

    select
        *,
        case
            when days_since_first_active is null then 'churned'
            when days_since_first_active <= {{ var('tailor__lifecycle_new_days') }} then 'new'
            when days_since_last_active <= {{ var('tailor__lifecycle_active_days') }}
                and (
                    purchases_in_engaged_window >= {{ var('tailor__lifecycle_engaged_min_orders') }}
                    or sessions_in_engaged_window >= {{ var('tailor__lifecycle_engaged_min_sessions') }}
                ) then 'engaged'
            when days_since_last_active <= {{ var('tailor__lifecycle_active_days') }} then 'active'
            when days_since_last_active <= {{ var('tailor__lifecycle_at_risk_days') }} then 'at_risk'
            when days_since_last_active <= {{ var('tailor__lifecycle_lapsed_days') }} then 'lapsed'
            else 'churned'
        end as lifecycle_stage
    from measured

),

final as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        {{ tailor.run_date_literal() }} as as_of_date,
        cast(lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(first_active_at as timestamp) as first_active_at,
        cast(last_active_at as timestamp) as last_active_at,
        cast(days_since_first_active as integer) as days_since_first_active,
        cast(days_since_last_active as integer) as days_since_last_active,
        cast(purchase_count as integer) as purchase_count,
        cast(purchases_in_engaged_window as integer) as purchases_in_engaged_window,
        cast(sessions_in_engaged_window as integer) as sessions_in_engaged_window
    from staged

)

select * from final
