{{
    config(
        materialized=tailor.incremental_materialized(),
        unique_key='visitor_id',
        incremental_strategy=tailor.incremental_strategy_replace_from(),
        replace_from='started_at',
        replace_from_cuts='session_rebuild_cuts',
        on_schema_change='append_new_columns',
        post_hook=["{{ tailor.delete_rows_arrived_after_run_date() }}"]
    )
}}

{#
    Sessions: a visitor's (anonymous id's) events split wherever more than
    tailor__session_timeout_minutes pass without one. Identify calls are not activity.

    Incremental runs rebuild the visitors with an event (re)built by int_events_stitched in
    the lookback window (new, late, redelivered or re-attributed events), and of each only
    the sessions a change can touch: from a cut (tailor.session_rebuild_cuts) at the first
    stored session that ends less than the timeout before the visitor's earliest changed
    event (or after it), or where an event was before a redelivery moved it or a reloaded
    day removed it. The sessions before that cut cannot change: no event of theirs
    changed, and the gap after them still exceeds the timeout. They are carried over as
    stored, and the rebuilt sessions are numbered after them. So a late event can still extend, merge or split
    sessions and a new identity link re-attributes old sessions (its re-stitched events are
    changes with their old times), while a returning visitor's long history is not
    sessionized again every night. A visitor with sessions built from data after the run
    date (an earlier day rerun) is rebuilt whole.
    The batch holds only the rebuilt sessions, and the 'replace_from' strategy deletes each
    changed visitor's stored sessions from the cut on (replace_from_cuts): the sessions
    before the cut stay where they are, so a night writes about a day of sessions, not
    every session of every visitor active that day. (A session before the cut that holds
    data arrived after the run date is removed by the post-hook.)
#}

{% set timeout_seconds = var('tailor__session_timeout_minutes') | int * 60 %}

with all_events as (

    select * from {{ ref('int_events_stitched') }}
    where event_type <> 'identify'

),

{% if is_incremental() %}

-- a changed visitor's events from cut_at on are sessionized again (null: all of them)
cuts as (

    {{ tailor.session_rebuild_cuts() | indent(4) }}

),

-- the rebuilt sessions are numbered after the ones before the cut, which stay stored
session_offsets as (

    select stored.visitor_id, count(*) as kept_count
    from {{ this }} as stored
    inner join cuts
        on stored.visitor_id = cuts.visitor_id
    where stored.started_at < cuts.cut_at
    group by stored.visitor_id

),

events as (

    select all_events.*
    from all_events
    inner join cuts
        on all_events.visitor_id = cuts.visitor_id
    where cuts.cut_at is null or all_events.event_at >= cuts.cut_at

),

{% else %}

events as (

    select * from all_events

),

{% endif %}

gaps as (

    select
        *,
        lag(event_at) over (partition by visitor_id order by event_at, message_id) as previous_event_at
    from events

),

boundaries as (

    select
        *,
        case
            when previous_event_at is null then 1
            when {{ dbt.datediff('previous_event_at', 'event_at', 'second') }} > {{ timeout_seconds }} then 1
            else 0
        end as is_session_start
    from gaps

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by visitor_id
            order by event_at, message_id
            rows between unbounded preceding and current row
        ) as session_number
    from boundaries

),

-- the first event of a session is the one that starts it
first_events as (

    select * from numbered
    where is_session_start = 1

),

-- (aggregates instead of one ranking window each: a window sorts every event again)
aggregated as (

    select
        visitor_id,
        session_number,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as event_count,
        {{ tailor.event_counts([
            'page_views', 'product_views', 'cart_adds', 'searches', 'checkouts_started',
            'orders_completed',
        ]) }},
        sum(case when event_name = 'Order Completed' then coalesce(order_revenue, order_total, price * coalesce(quantity, 1), 0) else 0 end) as revenue,
        min(case when event_name = 'Product Added' then event_at end) as first_cart_add_at,
        max(case when event_name = 'Product Added' then event_at end) as last_cart_add_at,
        max(case when event_name = 'Product Viewed' then event_at end) as last_product_view_at,
        max(last_arrived_date) as last_arrived_date,
        -- the customer of the session's latest identified event
        {{ tailor.arg_max_ignore_nulls('customer_id', ['event_at', 'message_id']) }} as customer_id,
        -- the session's first page (its url may be null: the first event's then)
        {{ tailor.arg_min_keep_nulls('page_url', ['event_at', 'message_id']) }}
            filter (where event_type = 'page' or page_url is not null) as landing_page_url,
        {{ tailor.arg_min_keep_nulls('page_path', ['event_at', 'message_id']) }}
            filter (where event_type = 'page' or page_url is not null) as landing_page_path
    from numbered
    group by visitor_id, session_number

),

final as (

    select
        {{ dbt.hash(dbt.concat(["first_events.visitor_id", "'|'", "first_events.message_id"])) }} as session_id,
        aggregated.visitor_id,
        first_events.anonymous_id,
        aggregated.customer_id,
        cast(aggregated.session_number {% if is_incremental() %}+ coalesce(session_offsets.kept_count, 0) {% endif %}as bigint) as session_number,
        aggregated.started_at,
        aggregated.ended_at,
        cast(aggregated.started_at as date) as session_date,
        cast({{ dbt.datediff('aggregated.started_at', 'aggregated.ended_at', 'second') }} as bigint) as duration_seconds,
        cast(aggregated.event_count as bigint) as event_count,
        cast(aggregated.page_views as bigint) as page_views,
        cast(aggregated.product_views as bigint) as product_views,
        cast(aggregated.cart_adds as bigint) as cart_adds,
        cast(aggregated.searches as bigint) as searches,
        cast(aggregated.checkouts_started as bigint) as checkouts_started,
        cast(aggregated.orders_completed as bigint) as orders_completed,
        cast(aggregated.revenue as {{ dbt.type_numeric() }}) as revenue,
        aggregated.orders_completed > 0 as is_converted,
        aggregated.first_cart_add_at,
        aggregated.last_cart_add_at,
        aggregated.last_product_view_at,
        coalesce(aggregated.landing_page_url, first_events.page_url) as landing_page_url,
        coalesce(aggregated.landing_page_path, first_events.page_path) as landing_page_path,
        first_events.page_referrer as referrer,
        coalesce(
            first_events.utm_source,
            {{ tailor.url_host('first_events.page_referrer') }},
            '(direct)'
        ) as traffic_source,
        coalesce(
            first_events.utm_medium,
            case when first_events.page_referrer is not null then 'referral' end,
            '(none)'
        ) as traffic_medium,
        first_events.utm_campaign as traffic_campaign,
        coalesce(first_events.device_type, 'unknown') as device_type,
        first_events.os_name,
        first_events.browser_name,
        first_events.locale,
        first_events.timezone,
        first_events.day_part as start_day_part,
        aggregated.last_arrived_date
    from aggregated
    inner join first_events
        on aggregated.visitor_id = first_events.visitor_id
        and aggregated.session_number = first_events.session_number
    {% if is_incremental() -%}
    left join session_offsets
        on aggregated.visitor_id = session_offsets.visitor_id
    {%- endif %}

)

select * from final
