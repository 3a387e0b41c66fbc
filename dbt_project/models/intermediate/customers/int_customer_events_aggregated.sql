{#
    Behaviour per customer as of the run date, from their stitched events and sessions
    (anonymous activity before a login included). Events after the run date are left out.
#}

{% set engaged_since = tailor.days_before_run_date(var('tailor__lifecycle_engaged_window_days')) %}

-- import CTEs, one per ref (dbt style): each model names what it reads
with events as (

    select * from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and event_at < {{ tailor.run_end_literal() }}

),

sessions as (

    select * from {{ ref('sessions') }}
    where customer_id is not null
        and started_at < {{ tailor.run_end_literal() }}

),

event_totals as (

    select
        customer_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as event_count,
        count(distinct event_date) as active_days,
        {{ tailor.event_counts([
            'page_views', 'product_views', 'cart_adds', 'cart_removes', 'searches',
            'checkouts_started', ['orders_completed', 'orders_completed_events'],
        ]) }},
        sum(case when event_name = 'Product Viewed' and not is_known_product then 1 else 0 end) as unknown_product_views,
        sum(case when event_type <> 'identify' and day_part = 'evening' then 1 else 0 end) as evening_events,
        sum(case when event_type <> 'identify' then 1 else 0 end) as activity_events
    from events
    group by customer_id

),

session_totals as (

    select
        customer_id,
        count(*) as session_count,
        sum(case when session_date > {{ engaged_since }} then 1 else 0 end) as sessions_in_engaged_window,
        sum(duration_seconds) as total_session_seconds,
        sum(case when device_type in ('mobile', 'smartphone', 'phone', 'ios', 'android') then 1 else 0 end) as mobile_sessions,
        sum(case when is_converted then 1 else 0 end) as converted_sessions
    from sessions
    group by customer_id

),

device_counts as (

    select
        customer_id,
        device_type,
        row_number() over (partition by customer_id order by count(*) desc, device_type) as preference_rank
    from sessions
    where device_type <> 'unknown'
    group by customer_id, device_type

),

day_part_counts as (

    select
        customer_id,
        day_part,
        row_number() over (partition by customer_id order by count(*) desc, day_part) as preference_rank
    from events
    where event_type <> 'identify'
    group by customer_id, day_part

),

timezone_counts as (

    select
        customer_id,
        timezone,
        row_number() over (partition by customer_id order by count(*) desc, timezone) as preference_rank
    from events
    where timezone is not null
    group by customer_id, timezone

),

-- zero where the left-joined input has no row (the coalesce shape recurs, with other columns)
final as (

    select
        event_totals.*,
        coalesce(session_totals.session_count, 0) as session_count,
        coalesce(session_totals.sessions_in_engaged_window, 0) as sessions_in_engaged_window,
        coalesce(session_totals.total_session_seconds, 0) as total_session_seconds,
        coalesce(session_totals.mobile_sessions, 0) as mobile_sessions,
        coalesce(session_totals.converted_sessions, 0) as converted_sessions,
        device_counts.device_type as preferred_device,
        day_part_counts.day_part as preferred_day_part,
        timezone_counts.timezone as event_timezone
    from event_totals
    left join session_totals
        on event_totals.customer_id = session_totals.customer_id
    left join device_counts
        on event_totals.customer_id = device_counts.customer_id
        and device_counts.preference_rank = 1
    left join day_part_counts
        on event_totals.customer_id = day_part_counts.customer_id
        and day_part_counts.preference_rank = 1
    left join timezone_counts
        on event_totals.customer_id = timezone_counts.customer_id
        and timezone_counts.preference_rank = 1

)

select * from final
