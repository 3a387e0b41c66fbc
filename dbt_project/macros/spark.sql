{#
    What a build on Spark needs besides the dispatched SQL in cross_db.sql: the sources
    declared from Parquet, a seed loader that escapes its values, and the incremental
    strategy per engine.
#}

{#
    on-run-start: declare the DuckDB tables tailor.engines exported as Parquet
    (var tailor__parquet_sources: [{schema, table, path}]) as Spark tables, so that
    source('tracking', 'events') reads raw.events on Spark as on DuckDB. A declared source
    that was not exported (an ML or ops table before its first write) is dropped, so
    adapter.get_relation finds it missing exactly as on DuckDB. Nothing on DuckDB, nor
    when the variable is not given (a dbt command run by hand: the sources stay as the
    last build declared them).
#}
{% macro register_parquet_sources() -%}
    {%- set sources = var('tailor__parquet_sources', none) -%}
    {%- if target.type != 'spark' or not execute or sources is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set exported = {} -%}
    {%- for item in sources -%}
        {%- do exported.update({(item['schema'] ~ '.' ~ item['table']) | lower: item['path']}) -%}
    {%- endfor -%}
    {%- set schemas = [] -%}
    {%- for node in graph.sources.values() if node.schema not in schemas -%}
        {%- do schemas.append(node.schema) -%}
    {%- endfor -%}
    {%- for schema in schemas -%}
        {%- do run_query('create database if not exists ' ~ adapter.quote(schema)) -%}
    {%- endfor -%}
    {%- for node in graph.sources.values() -%}
        {%- set name = adapter.quote(node.schema) ~ '.' ~ adapter.quote(node.identifier) -%}
        {%- do run_query('drop table if exists ' ~ name) -%}
        {%- set path = exported.get((node.schema ~ '.' ~ node.identifier) | lower) -%}
        {%- if path -%}
            {%- do run_query('create table ' ~ name ~ ' using parquet location ' ~ tailor.spark_string(path)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}


{# A Spark SQL string literal: backslashes and single quotes escaped, null -> null. #}
{% macro spark_string(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ (value | string).replace('\\', '\\\\').replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}


{#
    dbt-spark's session method pastes seed values into the insert unescaped (its cursor
    formats "%s" with the raw text), so a value with a quote ("Can't Lose Them") breaks the
    seed. This loader writes each value as an escaped literal instead. Seeds are project
    files, but the values are treated as data all the same.
#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    {%- set value = row[loop.index0] -%}
                    cast({% if value is none %}null{% elif value is number and value is not sameas true and value is not sameas false %}{{ value }}{% else %}{{ tailor.spark_string(value) }}{% endif %} as {{ type }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor -%}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}


{#
    Incremental models per engine. DuckDB replaces changed rows (delete+insert on the
    model's unique_key, plus the delete hooks in incremental.sql). Spark's plain Parquet
    tables (Delta and Iceberg need jars from Maven) can neither delete nor merge rows:
    there a model keyed on a customer, visitor or event is rebuilt whole each night
    (materialized table; incremental_materialized()), which gives the same rows as the
    nightly increments (the day-by-day = full-refresh tests), and a daily snapshot
    replaces its day's partition (insert_overwrite partitioned by the day;
    snapshot_day_partition()). With Delta or Iceberg on a cluster, keyed models can use
    incremental_strategy 'merge' instead.
#}
{% macro engine_deletes_rows() -%}
    {{ return(target.type != 'spark') }}
{%- endmacro %}

{% macro incremental_materialized() -%}
    {{ return('incremental' if tailor.engine_deletes_rows() else 'table') }}
{%- endmacro %}

{% macro incremental_strategy() -%}
    {{ return('delete+insert' if tailor.engine_deletes_rows() else 'insert_overwrite') }}
{%- endmacro %}

{# incremental_strategy for a model that replaces each key's rows from a point on (see
   get_incremental_replace_from_sql); Spark rebuilds the table. #}
{% macro incremental_strategy_replace_from() -%}
    {{ return('replace_from' if tailor.engine_deletes_rows() else 'insert_overwrite') }}
{%- endmacro %}

{# partition_by for a model replacing one day per run: the day column on Spark, none on DuckDB. #}
{% macro snapshot_day_partition(date_column) -%}
    {{ return(none if tailor.engine_deletes_rows() else [date_column]) }}
{%- endmacro %}
