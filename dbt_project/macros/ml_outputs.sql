{#
    Reading the ML outputs (tables the ml package writes outside dbt, declared as sources).

    ml_latest(src, columns): the rows of the latest ML run on or before the run date, with
    the given columns ([name, 'string' | 'int' | 'double'] pairs). Before the first ML run
    (or in a warehouse built without the ML jobs) the table does not exist: then it is an
    empty relation of the same columns and types, so the models still build.
#}

{% macro ml_latest(src, columns) -%}
    {%- set rel = adapter.get_relation(database=src.database, schema=src.schema, identifier=src.identifier) if execute else none -%}
    {%- set present = adapter.get_columns_in_relation(rel) | map(attribute='name') | map('lower') | list if rel is not none else [] -%}
    select
    {%- for name, typ in columns %}
        {% if name in present %}cast({{ adapter.quote(name) }} as {{ tailor.ml_type(typ) }}){% else %}cast(null as {{ tailor.ml_type(typ) }}){% endif %} as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endfor %}
    {% if rel is not none %}
    from {{ src }}
    {% if 'run_date' in present %}
    where run_date = (
        select max(run_date) from {{ src }}
        where run_date <= {{ tailor.run_date_literal() }}
    )
    {% endif %}
    {% else %}
    where 1 = 0
    {% endif %}
{%- endmacro %}

{% macro ml_type(typ) -%}
    {%- if typ == 'int' -%}{{ dbt.type_int() }}
    {%- elif typ == 'double' -%}{{ tailor.type_double() }}
    {%- elif typ == 'boolean' -%}{{ dbt.type_boolean() }}
    {%- else -%}{{ dbt.type_string() }}
    {%- endif -%}
{%- endmacro %}
