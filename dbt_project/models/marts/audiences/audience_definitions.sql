{#
    Every audience Tailor can export, one row per audience, as of the run date, with its
    A/B experiment (an audience may have no members today). Audience ids (the macro
    audience_id, which audiences uses too):

      rfm_<segment>                       RFM segment (rfm_segment_map seed), e.g. rfm_champions
      lifecycle_<stage>                   lifecycle stage, e.g. lifecycle_at_risk
      ml_segment_<id>                     ML segment of the latest segmentation run
      propensity_<model>_decile_<d>       propensity decile of a model (1 = highest-scoring tenth)
                                          at its primary horizon
      propensity_<model>_<N>d_decile_<d>  the same at the horizon of N days (every horizon
                                          scored: config/tailor.yml, propensity.horizons)
      trigger_cart_abandoners             a cart abandoned (no purchase within
                                          tailor__cart_abandonment_hours) in the flag window
      trigger_browse_abandoners           viewed products without adding to cart
      trigger_high_intent                 the same product viewed repeatedly
      trigger_win_back                    past buyer gone quiet

    The control group of each audience is a deterministic hash of the customer and the
    audience's experiment (see audiences); tailor__audience_holdout_share sets its size and
    tailor__audience_holdout_overrides ({audience_id: share}) changes it per audience.
#}

{%- set overrides = var('tailor__audience_holdout_overrides', {}) or {} -%}

with rfm_segments as (

    select distinct segment
    from {{ ref('rfm_segment_map') }}

),

ml_segments as (

    select distinct segment_id, segment_name
    from (
        {{ tailor.ml_latest(source('ml_outputs', 'customer_segments'),
            [['segment_id', 'int'], ['segment_name', 'string']]) }}
    ) as latest

),

propensity_models as (

    select distinct model, horizon_days, coalesce(is_primary, true) as is_primary
    from (
        {{ tailor.ml_latest(source('ml_outputs', 'propensity_scores'),
            [['model', 'string'], ['horizon_days', 'int'], ['is_primary', 'boolean']]) }}
    ) as latest

),

deciles as (

    {% for d in range(1, 11) %}
    select {{ d }} as decile{% if not loop.last %} union all{% endif %}
    {% endfor %}

),

definitions as (

    select
        {{ tailor.audience_id('rfm_segment', 'segment') }} as audience_id,
        'RFM: ' || segment as audience_name,
        'rfm_segment' as audience_kind,
        segment as criterion,
        'Customers whose RFM segment is ' || segment || '.' as description
    from rfm_segments

    {% for stage, text in [
        ('new', 'first active at most ' ~ var('tailor__lifecycle_new_days') ~ ' days ago'),
        ('engaged', 'active, with at least ' ~ var('tailor__lifecycle_engaged_min_orders') ~ ' purchases or ' ~ var('tailor__lifecycle_engaged_min_sessions') ~ ' sessions in ' ~ var('tailor__lifecycle_engaged_window_days') ~ ' days'),
        ('active', 'last active at most ' ~ var('tailor__lifecycle_active_days') ~ ' days ago'),
        ('at_risk', 'last active at most ' ~ var('tailor__lifecycle_at_risk_days') ~ ' days ago'),
        ('lapsed', 'last active at most ' ~ var('tailor__lifecycle_lapsed_days') ~ ' days ago'),
        ('churned', 'last active more than ' ~ var('tailor__lifecycle_lapsed_days') ~ ' days ago'),
    ] %}
    union all
    select
        {{ tailor.audience_id('lifecycle_stage', "'" ~ stage ~ "'") }},
        'Lifecycle: {{ stage | replace("_", " ") }}',
        'lifecycle_stage',
        '{{ stage }}',
        'Customers in the {{ stage | replace("_", " ") }} lifecycle stage ({{ text }}).'
    {% endfor %}

    union all
    select
        {{ tailor.audience_id('ml_segment', 'segment_id') }},
        'ML segment: ' || segment_name,
        'ml_segment',
        segment_name,
        'Customers the latest segmentation run put in segment ' || cast(segment_id as {{ dbt.type_string() }}) || ' (' || segment_name || ').'
    from ml_segments

    union all
    select
        {{ tailor.audience_id('propensity_decile', 'model', 'decile') }},
        'Propensity: ' || model || ' decile ' || cast(decile as {{ dbt.type_string() }}),
        'propensity_decile',
        model || ':' || cast(decile as {{ dbt.type_string() }}),
        'Customers in decile ' || cast(decile as {{ dbt.type_string() }}) || ' (1 = highest-scoring tenth) of the ' || model || ' propensity score'
        || coalesce(' (primary horizon: the next ' || cast(horizon_days as {{ dbt.type_string() }}) || ' days)', '') || '.'
    from (select distinct model, horizon_days from propensity_models where is_primary) as primary_models
    cross join deciles

    union all
    select
        {{ tailor.audience_id('propensity_decile', 'model', 'decile', 'horizon_days') }},
        'Propensity: ' || model || ' in ' || cast(horizon_days as {{ dbt.type_string() }}) || ' days, decile ' || cast(decile as {{ dbt.type_string() }}),
        'propensity_decile',
        model || ':' || cast(horizon_days as {{ dbt.type_string() }}) || 'd:' || cast(decile as {{ dbt.type_string() }}),
        'Customers in decile ' || cast(decile as {{ dbt.type_string() }}) || ' (1 = highest-scoring tenth) of the ' || model || ' propensity score over the next ' || cast(horizon_days as {{ dbt.type_string() }}) || ' days.'
    from (select distinct model, horizon_days from propensity_models where horizon_days is not null) as horizon_models
    cross join deciles

    {% for trigger in tailor.audience_triggers() %}
    union all
    select
        {{ tailor.audience_id('behavioural_trigger', "'" ~ trigger.trigger ~ "'") }},
        'Trigger: {{ trigger.name }}',
        'behavioural_trigger',
        '{{ trigger.trigger }}',
        'Customers who {{ trigger.text }}.'
    {% endfor %}

),

final as (

    select
        cast(definitions.audience_id as {{ dbt.type_string() }}) as audience_id,
        cast(definitions.audience_name as {{ dbt.type_string() }}) as audience_name,
        cast(definitions.audience_kind as {{ dbt.type_string() }}) as audience_kind,
        cast(definitions.criterion as {{ dbt.type_string() }}) as criterion,
        cast(definitions.description as {{ dbt.type_string() }}) as description,
        cast(definitions.audience_id || ':' || '{{ var("tailor__audience_experiment", "holdout-v1") }}' as {{ dbt.type_string() }}) as experiment_id,
        cast(
            {%- if overrides %}
            case definitions.audience_id
                {%- for audience_id, share in overrides.items() %}
                when '{{ audience_id }}' then {{ share | float }}
                {%- endfor %}
                else {{ var('tailor__audience_holdout_share', 0.1) | float }}
            end
            {%- else %}
            {{ var('tailor__audience_holdout_share', 0.1) | float }}
            {%- endif %} as {{ tailor.type_double() }}
        ) as holdout_share,
        {{ tailor.run_date_literal() }} as as_of_date
    from definitions

)

select * from final
