{#
    Behaviour per customer as of the run date, from their stitched events and sessions
    (anonymous activity before a login included). Events after the run date are left out.
    The totals are kept incrementally (int_customer_events_totalled); what depends on the
    run date itself, the sessions in the engaged window, is counted here from the recent
    sessions alone.
#}

{% set engaged_since = tailor.days_before_run_date(var('tailor__lifecycle_engaged_window_days')) %}

-- import CTEs, one per ref (dbt style): each model names what it reads
with totals as (

    select * from {{ ref('int_customer_events_totalled') }}

),

recent_sessions as (

    select * from {{ ref('sessions') }}
    where customer_id is not null
        and session_date > {{ engaged_since }}
        and started_at < {{ tailor.run_end_literal() }}

),

engaged_window as (

    select
        customer_id,
        count(*) as sessions_in_engaged_window
    from recent_sessions
    group by customer_id

),

final as (

    select
        totals.customer_id,
        totals.first_seen_at,
        totals.last_seen_at,
        totals.event_count,
        totals.active_days,
        totals.page_views,
        totals.product_views,
        totals.cart_adds,
        totals.cart_removes,
        totals.searches,
        totals.checkouts_started,
        totals.orders_completed_events,
        totals.unknown_product_views,
        totals.evening_events,
        totals.activity_events,
        totals.session_count,
        coalesce(engaged_window.sessions_in_engaged_window, 0) as sessions_in_engaged_window,
        totals.total_session_seconds,
        totals.mobile_sessions,
        totals.converted_sessions,
        totals.preferred_device,
        totals.preferred_day_part,
        totals.event_timezone
    from totals
    left join engaged_window
        on totals.customer_id = engaged_window.customer_id

)

select * from final
