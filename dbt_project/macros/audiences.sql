{#
    The audiences, defined once for audience_definitions (one row per audience) and
    audiences (one row per member).

    audience_id(kind, value, decile): the id of the audience of a kind for a criterion value
    (a SQL expression):
      rfm_segment          rfm_<slug of the segment>
      lifecycle_stage      lifecycle_<stage>
      ml_segment           ml_segment_<segment id>
      propensity_decile    propensity_<slug of the model>_decile_<decile> (the primary
                           horizon), or with a horizon: propensity_<slug>_<N>d_decile_<decile>
      behavioural_trigger  trigger_<trigger>
    The slug is lower-case with spaces, dashes and slashes as underscores, '&' as 'and' and
    apostrophes dropped.

    audience_triggers(): the behavioural trigger audiences, each with the customer_flags
    column that selects its members, its name and what its members did.
#}

{% macro audience_slug(value) -%}
    lower(replace(replace(replace(replace(replace({{ value }}, '''', ''), ' ', '_'), '-', '_'), '/', '_'), '&', 'and'))
{%- endmacro %}

{% macro audience_id(kind, value, decile=none, horizon=none) -%}
    {%- if kind == 'rfm_segment' -%}
        'rfm_' || {{ tailor.audience_slug(value) }}
    {%- elif kind == 'lifecycle_stage' -%}
        'lifecycle_' || {{ value }}
    {%- elif kind == 'ml_segment' -%}
        'ml_segment_' || cast({{ value }} as {{ dbt.type_string() }})
    {%- elif kind == 'propensity_decile' -%}
        'propensity_' || {{ tailor.audience_slug(value) }}
        {%- if horizon is not none %} || '_' || cast({{ horizon }} as {{ dbt.type_string() }}) || 'd'{% endif %}
        || '_decile_' || cast({{ decile }} as {{ dbt.type_string() }})
    {%- elif kind == 'behavioural_trigger' -%}
        'trigger_' || {{ value }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown audience kind: " ~ kind) }}
    {%- endif -%}
{%- endmacro %}

{% macro audience_triggers() -%}
    {%- do return([
        {'trigger': 'cart_abandoners', 'flag': 'is_cart_abandoner', 'name': 'Cart abandoners',
         'text': 'abandoned a cart (no purchase within ' ~ var('tailor__cart_abandonment_hours') ~ ' hours of the last cart add) in the last ' ~ var('tailor__flag_window_days') ~ ' days and bought nothing since'},
        {'trigger': 'browse_abandoners', 'flag': 'is_browse_abandoner', 'name': 'Browse abandoners',
         'text': 'viewed products in the last ' ~ var('tailor__flag_window_days') ~ ' days without adding to cart or buying'},
        {'trigger': 'high_intent', 'flag': 'is_high_intent', 'name': 'High intent',
         'text': 'viewed the same product at least ' ~ var('tailor__high_intent_min_views') ~ ' times in ' ~ var('tailor__high_intent_window_days') ~ ' days'},
        {'trigger': 'win_back', 'flag': 'is_win_back_candidate', 'name': 'Win-back',
         'text': 'bought before, but last ' ~ var('tailor__win_back_min_days') ~ ' to ' ~ var('tailor__win_back_max_days') ~ ' days ago'},
    ]) -%}
{%- endmacro %}
