{#
    The tracked events every grain counts (per customer in int_customer_events_aggregated,
    per session in sessions), defined once: counter name -> the events it counts.
#}
{% macro event_condition(counter) -%}
    {%- set conditions = {
        'page_views': "event_type = 'page'",
        'product_views': "event_name = 'Product Viewed'",
        'cart_adds': "event_name = 'Product Added'",
        'cart_removes': "event_name = 'Product Removed'",
        'searches': "event_name = 'Products Searched'",
        'checkouts_started': "event_name = 'Checkout Started'",
        'orders_completed': "event_name = 'Order Completed'",
    } -%}
    {%- if counter not in conditions -%}
        {{ exceptions.raise_compiler_error("event_condition: unknown counter " ~ counter) }}
    {%- endif -%}
    {{ conditions[counter] }}
{%- endmacro %}

{#
    One `sum(case when <events> then 1 else 0 end) as <column>` per counter, comma-separated
    (no trailing comma). A counter is a name of event_condition, or a pair [name, column].
#}
{% macro event_counts(counters) -%}
    {%- for counter in counters -%}
        {%- set name = counter if counter is string else counter[0] -%}
        {%- set column = counter if counter is string else counter[1] -%}
        sum(case when {{ tailor.event_condition(name) }} then 1 else 0 end) as {{ column }}
        {%- if not loop.last %},
        {% endif -%}
    {%- endfor -%}
{%- endmacro %}
