{#
    Models land in the schema their folder names (staging, intermediate, marts, seeds),
    not in "<target schema>_<folder>": analysts and the rest of Tailor query fixed names.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
