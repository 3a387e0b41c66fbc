{#
    The lifecycle stage of every known customer as of the run date, from the span of their
    activity (int_customer_activity_combined: an order, a tracked event, or the CRM record
    being created).

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

with activity as (

    select * from {{ ref('int_customer_activity_combined') }}

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
    from activity

),

-- final: one explicit cast per column, the model's contract (the same shape in every mart)
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
