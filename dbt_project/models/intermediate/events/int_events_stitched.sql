{{
    config(
        materialized=tailor.incremental_materialized(),
        unique_key='message_id',
        incremental_strategy=tailor.incremental_strategy(),
        on_schema_change='append_new_columns',
        post_hook=[
            "{{ tailor.delete_rows_arrived_after_run_date() }}",
            "{{ tailor.record_events_reloaded_away() }}",
            "{{ tailor.delete_events_reloaded_away() }}"
        ]
    )
}}

{#
    Every event, deduplicated, attributed to a customer and flagged against the catalog.

    customer_id = the event's userId, else the customer its anonymous id is merged into
    (int_identity_graph). Attribution is retroactive: whenever the graph changes, the
    events whose stored customer no longer matches it are re-attributed, however old.

    An incremental run rebuilds:
      * from staging, events with a delivery that arrived in the lookback window (new,
        late and redelivered events; tailor__lookback_days), and the stored events of
        the window (one a reloaded window day lost comes back from an earlier delivery);
      * from staging, every event of an earlier landing day whose number of events in
        the table differs from staging, or whose loads changed since its events were
        built (the day was reloaded: _landing_batches, a fingerprint of the day's load
        batches in raw, differs). Nightly there is none; after an earlier day is rerun
        (which rolls back what arrived after it: rebuilt here from the deliveries it had,
        or removed by the post-hook) the later days come back this way, and a day
        reloaded with corrected files is rebuilt however old it is;
      * from the table itself, events whose customer_id or is_known_product disagrees
        with today's identity graph or catalog (their content has not changed, so no
        JSON is parsed again).
    An event a reloaded day no longer holds is rebuilt from its other deliveries, or,
    with none left, removed by the post-hook (which records where it was active and whose
    it was in private.events_reloaded_away, for sessions and the customer aggregates). So after building day D the table holds
    exactly what building days <= D in order would hold, whatever order days were built
    in.
    _processed_for_date and _previous_customer_id tell the downstream incremental models
    (sessions, user_item_interactions) which visitors and customers to rebuild;
    _previous_visitor_id and _previous_event_at where a rebuilt event was active before
    (a redelivery may move it in time, to another visitor, or make it an identify call),
    so that sessions also rebuilds the sessions it leaves.
#}

{%- set event_columns = [
    'message_id', 'event_type', 'event_name', 'page_name', 'visitor_id', 'anonymous_id', 'user_id',
    'customer_id', 'event_at', 'event_date', 'received_at', 'local_event_at', 'day_part', 'product_id',
    'is_known_product', 'price', 'quantity', 'currency', 'order_id', 'order_total', 'order_revenue',
    'order_discount', 'coupon_code', 'search_query', 'product_category', 'product_brand', 'page_url',
    'page_path', 'page_referrer', 'page_title', 'utm_source', 'utm_medium', 'utm_campaign',
    'device_type', 'os_name', 'browser_name', 'locale', 'timezone', 'ip_truncated',
    'first_arrived_date', 'last_arrived_date', 'delivery_count'
] -%}
{%- set attributed = ['customer_id', 'is_known_product'] -%}
{%- set stored_batches = '_landing_batches' -%}
{%- if is_incremental() -%}
    {%- set stored_batches = tailor.stored_landing_batches(this) -%}
{%- endif %}

with merged_links as (

    select anonymous_id, customer_id
    from {{ ref('int_identity_graph') }}
    where is_merged

),

catalog as (

    select product_id from {{ ref('stg_shop__products') }}

),

-- each landing day's loads: a day reloaded since its events were built differs
landing_days as (

    select _dt as landing_date, {{ tailor.distinct_values_fingerprint('_batch_id') }} as landing_batches
    from {{ source('tracking', 'events') }}
    where _dt <= {{ tailor.run_date_literal() }}
    group by _dt

),

{% if is_incremental() %}

{# the table itself is read directly where needed, not through a CTE: DuckDB would
   materialize a CTE read three times, i.e. copy the whole table #}

{#- Which earlier landing days to rebuild. A night that builds the days in order (no stored
    row arrived after the run date) needs only the load fingerprints: a day whose loads
    differ from those its rows were built from, or that has loads and no rows (never
    built), or rows and no loads any more. They are found before the select, by a query
    over one narrow raw column and the stored days, so that a night with none (nearly
    every night) does not look up every event's last landing day over the whole history.
    Rerunning an earlier day also compares each day's number of events with staging: an
    event whose later deliveries are rolled back comes back in the day of its earlier one. -#}
{%- set history = tailor.stitched_history(this) -%}
{%- set rerun = history['rerun'] -%}
{%- set fingerprint_days = history['days'] %}

{% if rerun or fingerprint_days %}
-- the staged events that last arrived before the window, from the narrow raw columns
staged_ids as (

    select message_id, last_arrived_date
    from ({{ tailor.tracking_event_arrivals() }}) as arrivals
    where last_arrived_date < {{ tailor.lookback_start_literal() }}

),

{% endif %}

{% if not rerun %}
days_to_rebuild as (

    {% if fingerprint_days -%}
    select cast(day as date) as last_arrived_date
    from (values {% for day in fingerprint_days %}('{{ day }}'){{ ', ' if not loop.last }}{% endfor %}) as days (day)
    {%- else -%}
    select cast(null as date) as last_arrived_date where false
    {%- endif %}

),
{% else %}
days_to_rebuild as (

    select coalesce(staged.last_arrived_date, stored.last_arrived_date) as last_arrived_date
    from (
        select last_arrived_date, count(*) as events from staged_ids group by last_arrived_date
    ) as staged
    full outer join (
        select
            last_arrived_date,
            count(*) as events,
            min({{ stored_batches }}) as first_batches,
            max({{ stored_batches }}) as last_batches
        from {{ this }}
        where last_arrived_date < {{ tailor.lookback_start_literal() }}
        group by last_arrived_date
    ) as stored
        on staged.last_arrived_date = stored.last_arrived_date
    left join landing_days
        on landing_days.landing_date = coalesce(staged.last_arrived_date, stored.last_arrived_date)
    where staged.events is distinct from stored.events
        or stored.first_batches is distinct from landing_days.landing_batches
        or stored.last_batches is distinct from landing_days.landing_batches

),
{% endif %}

-- each part stages only the events it rebuilds (stg_tracking__events' SQL restricted to
-- their message ids), so neither the ranking of deliveries nor the JSON extraction runs
-- over the whole history: an event with a delivery in the window last arrived in it
{#- and the stored events of the window, so that one its day no longer holds (the day was
    reloaded since) is rebuilt from its other deliveries; with none left, the post-hook
    removes it -#}
{%- set window_ids -%}
    select trim(message_id) from {{ source('tracking', 'events') }}
    where _dt >= {{ tailor.lookback_start_literal() }} and _dt <= {{ tailor.run_date_literal() }}
    union
    select message_id from {{ this }}
    where last_arrived_date >= {{ tailor.lookback_start_literal() }}
        and last_arrived_date <= {{ tailor.run_date_literal() }}
{%- endset %}
{#- Their deliveries before the window are on the landing days the table says they were
    delivered on: nightly (no day rerun, no earlier day reloaded or missing) it holds every
    event delivered up to the last day built, with its first and last landing day and
    number of deliveries. So the probe reads the window and those days, not every
    message id of the history. Otherwise it looks everywhere. -#}
{%- set delivered_on = none -%}
{%- if not rerun and not fingerprint_days -%}
    {%- set window_arrivals -%}
        select first_arrived_date, last_arrived_date, delivery_count from {{ this }}
        where message_id in ({{ window_ids }})
    {%- endset -%}
    {%- set delivered_on = tailor.delivery_days(window_arrivals, also=tailor.window_days()) -%}
{%- endif %}
-- (a stored event of the window whose window delivery is gone comes back from an earlier
-- one, before the window)
window_events as (

    select * from ({{ tailor.staged_tracking_events(message_ids_sql=window_ids, delivered_on=delivered_on) }}) as staged

),

{% if rerun or fingerprint_days %}
{#- a rebuilt day's events as staging has them now, and its stored events as well: one
    whose deliveries of that day were reloaded away comes back from an earlier delivery
    (the post-hook removes those with none left) -#}
{%- set rebuilt_day_ids -%}
    select message_id from staged_ids
    where last_arrived_date in (select last_arrived_date from days_to_rebuild)
    union
    select message_id from {{ this }}
    where last_arrived_date in (select last_arrived_date from days_to_rebuild)
{%- endset %}
day_events as (

    select * from ({{ tailor.staged_tracking_events(message_ids_sql=rebuilt_day_ids) }}) as staged
    where last_arrived_date < {{ tailor.lookback_start_literal() }}
        and message_id not in (select message_id from window_events)

),

batch as (

    select * from window_events
    union all
    select * from day_events

),
{% else %}
batch as (

    select * from window_events

),
{% endif %}

-- the stored events whose customer_id or is_known_product disagrees with today's graph or
-- catalog, found on the narrow columns: the wide row is read for those alone (restitched)
reattributed as (

    select
        existing.message_id,
        coalesce(existing.user_id, merged_links.customer_id) as new_customer_id,
        existing.product_id is not null and catalog.product_id is not null as new_is_known_product
    from {{ this }} as existing
    left join merged_links
        on existing.anonymous_id = merged_links.anonymous_id
    left join catalog
        on existing.product_id = catalog.product_id
    where existing.last_arrived_date < {{ tailor.lookback_start_literal() }}
        and existing.last_arrived_date not in (select last_arrived_date from days_to_rebuild)
        -- an event redelivered in the window is rebuilt from its new delivery, not here
        and existing.message_id not in (select message_id from batch)
        and (
            existing.customer_id is distinct from coalesce(existing.user_id, merged_links.customer_id)
            or existing.is_known_product
                is distinct from (existing.product_id is not null and catalog.product_id is not null)
        )

),

restitched as (

    select
        {% for column in event_columns -%}
        {%- if column in attributed -%}
        reattributed.new_{{ column }} as {{ column }},
        {%- else -%}
        existing.{{ column }},
        {%- endif %}
        {% endfor -%}
        {{ tailor.run_date_literal() }} as _processed_for_date,
        existing.customer_id as _previous_customer_id,
        {{ 'existing.' ~ stored_batches if stored_batches == '_landing_batches' else stored_batches }} as _landing_batches,
        -- (re-attribution moves no event in time or to another visitor)
        cast(null as {{ dbt.type_string() }}) as _previous_visitor_id,
        cast(null as {{ dbt.type_timestamp() }}) as _previous_event_at
    from {{ this }} as existing
    inner join reattributed
        on existing.message_id = reattributed.message_id

),

{% else %}

batch as (

    select * from {{ ref('stg_tracking__events') }}

),

{% endif %}

stitched as (

    select
        batch.*,
        coalesce(batch.anonymous_id, {{ dbt.concat(["'user:'", "batch.user_id"]) }}) as visitor_id,
        coalesce(batch.user_id, merged_links.customer_id) as customer_id,
        batch.product_id is not null and catalog.product_id is not null as is_known_product,
        {{ tailor.to_local_timestamp('batch.event_at', 'batch.timezone') }} as local_event_at,
        landing_days.landing_batches as _landing_batches
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from batch
    left join merged_links
        on batch.anonymous_id = merged_links.anonymous_id
    left join catalog
        on batch.product_id = catalog.product_id
    left join landing_days
        on batch.last_arrived_date = landing_days.landing_date

),

day_parts as (

    select
        *,
        case
            when extract(hour from local_event_at) between 5 and 11 then 'morning'
            when extract(hour from local_event_at) between 12 and 16 then 'afternoon'
            when extract(hour from local_event_at) between 17 and 21 then 'evening'
            else 'night'
        end as day_part
    from stitched

),

rebuilt as (

    select
        {% for column in event_columns -%}
        day_parts.{{ column }},
        {% endfor -%}
        {{ tailor.run_date_literal() }} as _processed_for_date,
        {% if is_incremental() -%}
        existing.customer_id as _previous_customer_id,
        {%- else -%}
        cast(null as {{ dbt.type_string() }}) as _previous_customer_id,
        {%- endif %}
        day_parts._landing_batches,
        {% if is_incremental() -%}
        -- where the stored row's activity was (identify calls are in no session)
        case when existing.event_type <> 'identify' then existing.visitor_id end as _previous_visitor_id,
        case when existing.event_type <> 'identify' then existing.event_at end as _previous_event_at
        {%- else -%}
        cast(null as {{ dbt.type_string() }}) as _previous_visitor_id,
        cast(null as {{ dbt.type_timestamp() }}) as _previous_event_at
        {%- endif %}
    from day_parts
    {% if is_incremental() -%}
    -- (the stored rows of the batch's events first: a semi join probes the table with the
    -- batch's ids, where a left join would build a hash table of the whole table)
    left join (
        select message_id, customer_id, event_type, visitor_id, event_at from {{ this }}
        where message_id in (select message_id from batch)
    ) as existing
        on day_parts.message_id = existing.message_id
    {%- endif %}

),

final as (

    select * from rebuilt
    {% if is_incremental() -%}
    union all
    select * from restitched
    {%- endif %}

)

select * from final
