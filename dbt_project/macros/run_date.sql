{#
    The logical day a build is "as of".

    var('tailor__run_date') when set ('YYYY-MM-DD'), otherwise the latest landing day
    (_dt) of raw events or raw orders. Models never call now(): the same raw data and the
    same run date always give the same tables.
#}
{% macro run_date() %}
    {%- set value = var('tailor__run_date', none) -%}
    {%- if value is not none and (value | string | trim) != '' -%}
        {%- set text = value | string | trim -%}
        {%- set parsed = modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {%- if not parsed -%}
            {{ exceptions.raise_compiler_error("tailor__run_date must be a date 'YYYY-MM-DD', got '" ~ text ~ "'") }}
        {%- endif -%}
        {%- do modules.datetime.datetime.strptime(text, '%Y-%m-%d') -%}
        {{ return(text) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return('1970-01-01') }}
    {%- endif -%}
    {{ return(tailor.latest_landing_day()) }}
{% endmacro %}


{% macro latest_landing_day() %}
    {%- set parts = [] -%}
    {%- for table in ['events', 'orders'] -%}
        {%- set rel = adapter.get_relation(database=target.database, schema='raw', identifier=table) -%}
        {%- if rel is not none -%}
            {%- do parts.append('select max(_dt) as d from ' ~ rel) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}
        {{ return('1970-01-01') }}
    {%- endif -%}
    {%- set result = run_query('select cast(max(d) as ' ~ dbt.type_string() ~ ') from (' ~ (parts | join(' union all ')) ~ ') as days') -%}
    {%- set day = result.columns[0].values()[0] -%}
    {{ return(day if day else '1970-01-01') }}
{% endmacro %}


{# SQL literals derived from the run date. #}
{% macro run_date_literal() -%}
    cast('{{ tailor.run_date() }}' as date)
{%- endmacro %}

{# The first instant after the run date: "happened on or before the run date" is "< run_end". #}
{% macro run_end_literal() -%}
    {%- set day = modules.datetime.datetime.strptime(tailor.run_date(), '%Y-%m-%d') + modules.datetime.timedelta(days=1) -%}
    cast('{{ day.strftime("%Y-%m-%d") }} 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{# A day counted back from the run date, as a date literal. #}
{% macro days_before_run_date(days) -%}
    {%- set day = modules.datetime.datetime.strptime(tailor.run_date(), '%Y-%m-%d') - modules.datetime.timedelta(days=days | int) -%}
    cast('{{ day.strftime("%Y-%m-%d") }}' as date)
{%- endmacro %}

{# An instant counted back from the end of the run date. #}
{% macro hours_before_run_end(hours) -%}
    {%- set at = modules.datetime.datetime.strptime(tailor.run_date(), '%Y-%m-%d') + modules.datetime.timedelta(days=1) - modules.datetime.timedelta(hours=hours | int) -%}
    cast('{{ at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{# First landing day incremental models reprocess: run date minus tailor__lookback_days. #}
{% macro lookback_start_literal() -%}
    {{ tailor.days_before_run_date(var('tailor__lookback_days')) }}
{%- endmacro %}
