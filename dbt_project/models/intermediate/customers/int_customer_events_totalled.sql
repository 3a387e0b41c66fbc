{{
    config(
        materialized=tailor.incremental_materialized(),
        unique_key='customer_id',
        incremental_strategy=tailor.incremental_strategy(),
        on_schema_change='append_new_columns',
        post_hook=[
            "{{ tailor.delete_rows_arrived_after_run_date() }}",
            "{{ tailor.delete_customer_totals_without_events() }}"
        ]
    )
}}

{#
    Behaviour per customer as of the run date that does not depend on the run date itself
    (int_customer_events_aggregated adds the windowed counts): totals of their stitched
    events and sessions that happened before the end of the run date.

    The unit of an incremental rebuild is the customer: every customer with an event
    (re)built by int_events_stitched in the lookback window or who lost one to
    re-attribution, every customer of a session of a visitor whose events changed
    (sessions are rebuilt per visitor), every customer with an event or session between
    the end of the day their row was built for and the end of the run date (either way: a
    row built for a later day when an earlier one is rerun), and every row built from data
    after the run date. Their totals are computed again from all their events and
    sessions; everyone else's row is carried over, so a night aggregates the customers
    the day touched, not the history.
#}

{%- set run_end = tailor.run_end_literal() %}
{%- set lookback_start = tailor.lookback_start_literal() %}

with all_events as (

    select * from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and event_at < {{ run_end }}

),

all_sessions as (

    select * from {{ ref('sessions') }}
    where customer_id is not null
        and started_at < {{ run_end }}

),

{% if is_incremental() %}

-- (each part reads the tables, not the CTEs above: a CTE read twice is materialized whole)
changed_visitors as (

    select distinct visitor_id from {{ ref('int_events_stitched') }}
    where _processed_for_date >= {{ lookback_start }}
        or last_arrived_date >= {{ lookback_start }}

),

stored as (

    select
        customer_id,
        {{ dbt.dateadd('day', 1, 'cast(_built_for_date as ' ~ dbt.type_timestamp() ~ ')') }} as _built_for_end
    from {{ this }}

),

changed_customers as (

    select customer_id from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and (
            _processed_for_date >= {{ lookback_start }}
            or last_arrived_date >= {{ lookback_start }}
            or visitor_id in (select visitor_id from changed_visitors)
        )

    union

    {{ tailor.reattributed_customer_ids() }}

    union

    -- something happened between the day the row was built for and the run date
    select events.customer_id
    from {{ ref('int_events_stitched') }} as events
    left join stored
        on events.customer_id = stored.customer_id
    where events.customer_id is not null
        and (
            stored.customer_id is null and events.event_at < {{ run_end }}
            or events.event_at >= least(stored._built_for_end, {{ run_end }})
                and events.event_at < greatest(stored._built_for_end, {{ run_end }})
        )

    union

    select sessions.customer_id
    from {{ ref('sessions') }} as sessions
    inner join stored
        on sessions.customer_id = stored.customer_id
    where sessions.started_at >= least(stored._built_for_end, {{ run_end }})
        and sessions.started_at < greatest(stored._built_for_end, {{ run_end }})

    union

    select customer_id from {{ this }}
    where last_arrived_date > {{ tailor.run_date_literal() }}

),

events as (

    select all_events.*
    from all_events
    inner join changed_customers
        on all_events.customer_id = changed_customers.customer_id

),

sessions as (

    select all_sessions.*
    from all_sessions
    inner join changed_customers
        on all_sessions.customer_id = changed_customers.customer_id

),

{% else %}

events as (

    select * from all_events

),

sessions as (

    select * from all_sessions

),

{% endif %}

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
        sum(case when event_type <> 'identify' then 1 else 0 end) as activity_events,
        max(last_arrived_date) as last_arrived_date
    from events
    group by customer_id

),

session_totals as (

    select
        customer_id,
        count(*) as session_count,
        sum(duration_seconds) as total_session_seconds,
        sum(case when device_type in ('mobile', 'smartphone', 'phone', 'ios', 'android') then 1 else 0 end) as mobile_sessions,
        sum(case when is_converted then 1 else 0 end) as converted_sessions,
        max(last_arrived_date) as last_arrived_date
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
        event_totals.customer_id,
        event_totals.first_seen_at,
        event_totals.last_seen_at,
        event_totals.event_count,
        event_totals.active_days,
        event_totals.page_views,
        event_totals.product_views,
        event_totals.cart_adds,
        event_totals.cart_removes,
        event_totals.searches,
        event_totals.checkouts_started,
        event_totals.orders_completed_events,
        event_totals.unknown_product_views,
        event_totals.evening_events,
        event_totals.activity_events,
        coalesce(session_totals.session_count, 0) as session_count,
        coalesce(session_totals.total_session_seconds, 0) as total_session_seconds,
        coalesce(session_totals.mobile_sessions, 0) as mobile_sessions,
        coalesce(session_totals.converted_sessions, 0) as converted_sessions,
        device_counts.device_type as preferred_device,
        day_part_counts.day_part as preferred_day_part,
        timezone_counts.timezone as event_timezone,
        {{ tailor.run_date_literal() }} as _built_for_date,
        greatest(event_totals.last_arrived_date, coalesce(session_totals.last_arrived_date, event_totals.last_arrived_date)) as last_arrived_date
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
