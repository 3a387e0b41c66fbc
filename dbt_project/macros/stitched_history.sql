{#
    What int_events_stitched (relation: the table as stored, before this run writes it)
    holds of the landing days before the lookback window, compared with raw:
      rerun: it holds events that last arrived after the run date (an earlier day is being
        rerun);
      days: the days before the window whose loads differ from those its rows were built
        from, or that have loads and no rows (never built), or rows and no loads any more.
        Not looked for on a rerun (the model then compares every day with staging).
    With rerun false and no days, the table holds every event delivered before the window
    with its first and last landing day and number of deliveries as raw has them, so
    those say where an event's earlier deliveries are (tailor.delivery_days).
    At parse time (no query runs): rerun true.
#}
{% macro stitched_history(relation) %}
    {%- set result = {'rerun': true, 'days': []} -%}
    {%- if execute -%}
        {%- set stored_batches = tailor.stored_landing_batches(relation) -%}
        {%- set rerun_sql -%}
            select count(*) from {{ relation }} where last_arrived_date > {{ tailor.run_date_literal() }}
        {%- endset -%}
        {%- do result.update({'rerun': run_query(rerun_sql).columns[0].values()[0] > 0}) -%}
        {%- set days_sql -%}
            with landing_days as (
                select _dt as landing_date, {{ tailor.distinct_values_fingerprint('_batch_id') }} as landing_batches
                from {{ source('tracking', 'events') }}
                where _dt < {{ tailor.lookback_start_literal() }}
                group by _dt
            ),
            stored as (
                select
                    last_arrived_date,
                    min({{ stored_batches }}) as first_batches,
                    max({{ stored_batches }}) as last_batches
                from {{ relation }}
                where last_arrived_date < {{ tailor.lookback_start_literal() }}
                group by last_arrived_date
            )
            select distinct cast(coalesce(landing_days.landing_date, stored.last_arrived_date) as {{ dbt.type_string() }})
            from landing_days
            full outer join stored
                on landing_days.landing_date = stored.last_arrived_date
            where stored.first_batches is distinct from landing_days.landing_batches
                or stored.last_batches is distinct from landing_days.landing_batches
        {%- endset -%}
        {%- if not result['rerun'] -%}
            {%- for day in run_query(days_sql).columns[0].values() | sort -%}
                {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', day) -%}
                    {{ exceptions.raise_compiler_error('unexpected landing day ' ~ day) }}
                {%- endif -%}
                {%- do result['days'].append(day) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(result) }}
{% endmacro %}


{#- The stored _landing_batches column of int_events_stitched as an expression: a table
    built before it existed gets it as nulls (on_schema_change) only after a run's select,
    and until then every stored day counts as changed, and is rebuilt. -#}
{% macro stored_landing_batches(relation) %}
    {%- if execute -%}
        {%- set stored_columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- if '_landing_batches' not in stored_columns -%}
            {{ return('cast(null as ' ~ dbt.type_string() ~ ')') }}
        {%- endif -%}
    {%- endif -%}
    {{ return('_landing_batches') }}
{% endmacro %}


{#
    The landing days of the lookback window, from its start to the run date, as a sorted
    list of 'YYYY-MM-DD'; `since` (a 'YYYY-MM-DD' string) starts it earlier.
#}
{% macro window_days(since=none) %}
    {%- set run_day = modules.datetime.datetime.strptime(tailor.run_date(), '%Y-%m-%d') -%}
    {%- set count = var('tailor__lookback_days') | int -%}
    {%- if since is not none -%}
        {%- set since_day = modules.datetime.datetime.strptime(since, '%Y-%m-%d') -%}
        {%- if (run_day - since_day).days > count -%}
            {%- set count = (run_day - since_day).days -%}
        {%- endif -%}
    {%- endif -%}
    {%- set days = [] -%}
    {%- for offset in range(count + 1) -%}
        {%- do days.append((run_day - modules.datetime.timedelta(days=offset)).strftime('%Y-%m-%d')) -%}
    {%- endfor -%}
    {{ return(days | sort | list) }}
{% endmacro %}
