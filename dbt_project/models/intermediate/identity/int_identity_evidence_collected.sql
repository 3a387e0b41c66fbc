{{
    config(
        materialized=tailor.incremental_materialized(),
        unique_key='message_id',
        incremental_strategy=tailor.incremental_strategy(),
        on_schema_change='append_new_columns',
        post_hook=[
            "{{ tailor.delete_rows_arrived_after_run_date() }}",
            "{{ tailor.delete_rows_without_identity_evidence() }}"
        ]
    )
}}

-- depends_on: {{ ref('stg_tracking__events') }}

{#
    The events that are evidence for the identity graph, one row each, narrow: an
    anonymousId together with a userId or an identify email hash. int_identity_graph
    aggregates these instead of staging the whole event history every night.

    An incremental run stages only the events with a delivery in the lookback window or
    after the latest landing day the table holds (so the days after an earlier day rerun
    come back), the events the table holds of those days, the events it holds from data
    after the run date (rebuilt from the deliveries they had by then, or removed by the
    post-hook), and the events of any earlier landing day reloaded since its events were
    built. Every event staged is inserted so that one which stopped being evidence (a
    corrected redelivery) replaces its row, a stored one that staging no longer gives (its
    day was reloaded without it) is written without evidence, and the post-hook then
    drops the rows that are no evidence. _processed_for_date is the run date of the run
    that wrote the row (the uniqueness test checks those).
#}

{% if is_incremental() %}

{#- the first landing day to stage, a constant so the scan skips the older row groups:
    the lookback start, or the day after the latest one the table holds when earlier #}
{%- set day = modules.datetime.datetime.strptime(tailor.run_date(), '%Y-%m-%d') -%}
{%- set first_day = day - modules.datetime.timedelta(days=var('tailor__lookback_days') | int) -%}
{%- if execute -%}
    {%- set held = run_query('select cast(max(last_arrived_date) as ' ~ dbt.type_string() ~ ') from ' ~ this).columns[0].values()[0] -%}
    {%- if held -%}
        {%- set after_held = modules.datetime.datetime.strptime((held | string)[:10], '%Y-%m-%d') + modules.datetime.timedelta(days=1) -%}
        {%- if after_held < first_day -%}
            {%- set first_day = after_held -%}
        {%- endif -%}
    {%- endif -%}
{%- endif %}

{#- int_events_stitched as it stands from the last run (it is built after this model)
    says which earlier landing days were reloaded since (tailor.stitched_history): their
    events are staged again too, whatever their age, like the stitched events' -#}
{%- set stitched = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_events_stitched') -%}
{%- set history = {'rerun': true, 'days': []} -%}
{%- if execute and stitched is not none and not (held and (held | string)[:10] > tailor.run_date()) -%}
    {%- set history = tailor.stitched_history(stitched) -%}
{%- endif -%}
{%- set reloaded_days = [] if history['rerun'] else history['days'] -%}

{%- set batch_ids -%}
    select trim(message_id) from {{ source('tracking', 'events') }}
    where _dt <= {{ tailor.run_date_literal() }}
        and _dt >= cast('{{ first_day.strftime("%Y-%m-%d") }}' as date)
    union all
    select message_id from {{ this }}
    where last_arrived_date > {{ tailor.run_date_literal() }}
    union all
    select message_id from {{ this }}
    where last_arrived_date >= cast('{{ first_day.strftime("%Y-%m-%d") }}' as date)
        and last_arrived_date <= {{ tailor.run_date_literal() }}
    {%- if reloaded_days %}
    union all
    select trim(message_id) from {{ source('tracking', 'events') }}
    where {{ tailor.landing_day_in(reloaded_days) }}
    union all
    select message_id from {{ this }}
    where {{ tailor.landing_day_in(reloaded_days, 'last_arrived_date') }}
    {%- endif %}
{%- endset %}

{#- Their earlier deliveries are on the landing days int_events_stitched says they were
    delivered on, when it holds the history before the window as raw has it (built in
    order up to the window, no day since reloaded) and this is no rerun of an earlier
    day: the probe then reads the days staged and those, not every message id of the
    history. Otherwise (or before it exists) it looks everywhere. -#}
{%- set delivered_on = none -%}
{%- if execute and stitched is not none and not (held and (held | string)[:10] > tailor.run_date()) -%}
    {%- if not history['rerun'] and not history['days'] -%}
        {%- set batch_arrivals -%}
            select first_arrived_date, last_arrived_date, delivery_count from {{ stitched }}
            where message_id in ({{ batch_ids }})
        {%- endset -%}
        {%- set delivered_on = tailor.delivery_days(batch_arrivals, also=tailor.window_days(since=first_day.strftime('%Y-%m-%d'))) -%}
    {%- endif -%}
{%- endif %}

with events as (

    select * from ({{ tailor.staged_tracking_events(message_ids_sql=batch_ids, delivered_on=delivered_on) }}) as staged
    where anonymous_id is not null

),

-- a stored row of the days staged or of a reloaded day that staging no longer gives (the
-- day was reloaded without the event, or its anonymousId): written without evidence, so
-- that it replaces the stored row and the post-hook removes it
lost as (

    select
        message_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as traits_email_sha256,
        event_at,
        last_arrived_date
    from {{ this }}
    where (
            (last_arrived_date >= cast('{{ first_day.strftime("%Y-%m-%d") }}' as date)
                and last_arrived_date <= {{ tailor.run_date_literal() }})
            or {{ tailor.landing_day_in(reloaded_days, 'last_arrived_date') }}
        )
        and message_id not in (select message_id from events)

),

{% else %}

with events as (

    select * from {{ ref('stg_tracking__events') }}
    where anonymous_id is not null
        and (user_id is not null or traits_email_sha256 is not null)

),

{% endif %}

final as (

    select
        message_id,
        anonymous_id,
        user_id,
        traits_email_sha256,
        event_at,
        last_arrived_date,
        {{ tailor.run_date_literal() }} as _processed_for_date
    from events
    {%- if is_incremental() %}
    union all
    select *, {{ tailor.run_date_literal() }} as _processed_for_date
    from lost
    {%- endif %}

)

select * from final
