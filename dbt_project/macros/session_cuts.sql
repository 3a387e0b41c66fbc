{#
    Where an incremental build of sessions starts sessionizing each changed visitor again
    (visitor_id, cut_at; cut_at null: all of the visitor's sessions). Read twice in a build
    with the stored sessions as they were: by the model, to choose the events it sessionizes,
    and by its 'replace_from' strategy (config replace_from_cuts), to delete every stored
    session from the cut on, including those of a visitor left with no session to rebuild
    (a redelivery moved their only events away, or made them identify calls).

    A visitor changed when one of their events was (re)built in the lookback window, at
    the event's time; where a rebuilt event was before (_previous_visitor_id,
    _previous_event_at: a redelivery may move an event later, to another visitor, or make
    it an identify call, and the session it was in must go); and where an event was that
    a reloaded day lost tonight (private.events_reloaded_away). The cut is the first
    stored session that ends less than the timeout before the visitor's earliest change
    (or after it), else the change itself. A visitor with sessions built from data after
    the run date (an earlier day rerun) is rebuilt whole.
#}
{% macro session_rebuild_cuts() -%}
{%- set timeout_seconds = var('tailor__session_timeout_minutes') | int * 60 -%}
{%- set changed_since = tailor.lookback_start_literal() -%}
{%- set removed = tailor.events_reloaded_away_relation() -%}
with changed_events as (

    -- (reads the table: the model's own CTE over it would be materialized whole)
    select visitor_id, event_at from {{ ref('int_events_stitched') }}
    where event_type <> 'identify'
        and (_processed_for_date >= {{ changed_since }}
            or last_arrived_date >= {{ changed_since }})
    union all
    select _previous_visitor_id as visitor_id, _previous_event_at as event_at
    from {{ ref('int_events_stitched') }}
    where _previous_visitor_id is not null
        and _processed_for_date >= {{ changed_since }}
    {%- if removed %}
    union all
    select visitor_id, event_at from {{ removed }}
    where event_at is not null and removed_for_date = {{ tailor.run_date_literal() }}
    {%- endif %}

),

-- earliest_changed_at null: rebuild every session of the visitor
changed_visitors as (

    select
        visitor_id,
        case when max(rebuild_all) = 1 then null else min(event_at) end as earliest_changed_at
    from (
        select visitor_id, event_at, 0 as rebuild_all from changed_events
        union all
        select visitor_id, cast(null as {{ dbt.type_timestamp() }}) as event_at, 1 as rebuild_all
        from {{ this }}
        where last_arrived_date > {{ tailor.run_date_literal() }}
    ) as changes
    group by visitor_id

),

-- the first stored session the earliest change can touch: it ends within the timeout
-- before the change, or after it
first_touched as (

    select
        stored.visitor_id,
        min(stored.started_at) as started_at
    from {{ this }} as stored
    inner join changed_visitors
        on stored.visitor_id = changed_visitors.visitor_id
    where changed_visitors.earliest_changed_at is not null
        and {{ dbt.datediff('stored.ended_at', 'changed_visitors.earliest_changed_at', 'second') }} <= {{ timeout_seconds }}
    group by stored.visitor_id

)

select
    changed_visitors.visitor_id,
    case
        when changed_visitors.earliest_changed_at is null then null
        when first_touched.started_at < changed_visitors.earliest_changed_at then first_touched.started_at
        else changed_visitors.earliest_changed_at
    end as cut_at
from changed_visitors
left join first_touched
    on changed_visitors.visitor_id = first_touched.visitor_id
{%- endmacro %}
