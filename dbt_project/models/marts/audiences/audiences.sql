{#
    Audience members with their personalization payload, one row per audience and member,
    as of the run date (audiences are defined in audience_definitions).

    A/B holdout: each member gets holdout_bucket in [0, 1) from the first 16 bits of
    sha256(experiment_id || '|' || customer_id); members with holdout_bucket < holdout_share
    are the control group (is_control) and are never exported. The assignment depends only
    on the customer and the experiment, so a customer stays in the same group every day and
    in every destination of the audience; a new experiment id re-randomizes.

    Payload: name and contact fields from customers, the RFM segment, lifecycle stage and ML
    segment, the high-intent product (trigger audiences), the propensity score (propensity
    audiences) and the top tailor__audience_recommendations recommended products that are in
    the catalog and active (rec_<k>_product_id, _title, _price, _currency, _reason; rank 1
    first; the reason is the one the recommender shows people, e.g. 'because you viewed X').

    Consent is not applied here: it depends on the destination (its purpose) and is
    enforced when exporting, as of the run date.
#}

{%- set n_recs = var('tailor__audience_recommendations', 3) | int -%}
{%- set hex = "'0123456789abcdef'" -%}
{%- set recs_model = var('tailor__audience_recommendation_model', none) -%}

-- import CTEs, one per ref (dbt style): each model names what it reads
with customers as (

    select * from {{ ref('customers') }}

),

definitions as (

    select * from {{ ref('audience_definitions') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

lifecycle as (

    select * from {{ ref('customer_lifecycle') }}

),

flags as (

    select * from {{ ref('customer_flags') }}

),

products as (

    select * from {{ ref('products') }}

),

ml_segments as (

    {{ tailor.ml_latest(source('ml_outputs', 'customer_segments'),
        [['customer_id', 'string'], ['segment_id', 'int'], ['segment_name', 'string']]) }}

),

propensity as (

    select customer_id, model, score, decile, horizon_days, coalesce(is_primary, true) as is_primary
    from (
        {{ tailor.ml_latest(source('ml_outputs', 'propensity_scores'),
            [['customer_id', 'string'], ['model', 'string'], ['score', 'double'], ['decile', 'int'],
             ['horizon_days', 'int'], ['is_primary', 'boolean']]) }}
    ) as latest

),

recommendations as (

    select
        customer_id,
        product_id,
        {{ adapter.quote('rank') }} as recommendation_rank,
        model,
        reason
    from (
        {{ tailor.ml_latest(source('ml_outputs', 'recommendations'),
            [['customer_id', 'string'], ['product_id', 'string'], ['rank', 'int'], ['model', 'string'], ['reason', 'string']]) }}
    ) as latest
    {% if recs_model is not none %}
    where model = '{{ recs_model }}'
    {% endif %}

),

recommended_products as (

    -- catalog products only, each product once per customer (its best rank)
    select
        recommendations.customer_id,
        recommendations.product_id,
        products.title,
        cast(products.price as decimal(18, 2)) as price,
        products.currency,
        recommendations.reason,
        row_number() over (
            partition by recommendations.customer_id
            order by recommendations.recommendation_rank, recommendations.model, recommendations.product_id
        ) as product_rank
    from recommendations
    inner join products
        on recommendations.product_id = products.product_id
    where coalesce(products.is_active, true)
        and coalesce(products.is_product, true)

),

deduplicated_recommendations as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by product_rank
        ) as payload_rank
    from (
        select
            *,
            row_number() over (partition by customer_id, product_id order by product_rank) as duplicate_rank
        from recommended_products
    ) as ranked
    where duplicate_rank = 1

),

top_recommendations as (

    select
        customer_id,
        count(*) as recommendation_count
        {%- for k in range(1, n_recs + 1) %},
        max(case when payload_rank = {{ k }} then product_id end) as rec_{{ k }}_product_id,
        max(case when payload_rank = {{ k }} then title end) as rec_{{ k }}_title,
        max(case when payload_rank = {{ k }} then price end) as rec_{{ k }}_price,
        max(case when payload_rank = {{ k }} then currency end) as rec_{{ k }}_currency,
        max(case when payload_rank = {{ k }} then reason end) as rec_{{ k }}_reason
        {%- endfor %}
    from deduplicated_recommendations
    where payload_rank <= {{ n_recs }}
    group by customer_id

),

memberships as (

    select
        {{ tailor.audience_id('rfm_segment', 'rfm_segment') }} as audience_id,
        customer_id,
        cast(null as {{ tailor.type_double() }}) as propensity_score
    from rfm
    where rfm_segment is not null

    union all
    select
        {{ tailor.audience_id('lifecycle_stage', 'lifecycle_stage') }},
        customer_id,
        cast(null as {{ tailor.type_double() }})
    from lifecycle
    where lifecycle_stage is not null

    union all
    select
        {{ tailor.audience_id('ml_segment', 'segment_id') }},
        customer_id,
        cast(null as {{ tailor.type_double() }})
    from ml_segments
    where segment_id is not null

    union all
    select
        {{ tailor.audience_id('propensity_decile', 'model', 'decile') }},
        customer_id,
        score
    from propensity
    where decile is not null and is_primary

    union all
    select
        {{ tailor.audience_id('propensity_decile', 'model', 'decile', 'horizon_days') }},
        customer_id,
        score
    from propensity
    where decile is not null and horizon_days is not null

    {% for trigger in tailor.audience_triggers() %}
    union all
    select
        {{ tailor.audience_id('behavioural_trigger', "'" ~ trigger.trigger ~ "'") }},
        customer_id,
        cast(null as {{ tailor.type_double() }})
    from flags
    where {{ trigger.flag }}
    {% endfor %}

),

assigned as (

    select
        memberships.audience_id,
        memberships.customer_id,
        memberships.propensity_score,
        definitions.audience_name,
        definitions.audience_kind,
        definitions.experiment_id,
        definitions.holdout_share,
        {{ tailor.sha256_hex(dbt.concat(['definitions.experiment_id', "'|'", 'memberships.customer_id'])) }} as holdout_hash
    from memberships
    inner join definitions
        on memberships.audience_id = definitions.audience_id

),

bucketed as (

    select
        *,
        (
            ({{ dbt.position('substring(holdout_hash, 1, 1)', hex) }} - 1) * 4096
            + ({{ dbt.position('substring(holdout_hash, 2, 1)', hex) }} - 1) * 256
            + ({{ dbt.position('substring(holdout_hash, 3, 1)', hex) }} - 1) * 16
            + ({{ dbt.position('substring(holdout_hash, 4, 1)', hex) }} - 1)
        ) / 65536.0 as holdout_bucket
    from assigned

),

final as (

    select
        cast({{ dbt.hash(dbt.concat(['bucketed.audience_id', "'|'", 'bucketed.customer_id'])) }} as {{ dbt.type_string() }}) as audience_member_id,
        cast(bucketed.audience_id as {{ dbt.type_string() }}) as audience_id,
        cast(bucketed.audience_name as {{ dbt.type_string() }}) as audience_name,
        cast(bucketed.audience_kind as {{ dbt.type_string() }}) as audience_kind,
        cast(bucketed.experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(bucketed.holdout_share as {{ tailor.type_double() }}) as holdout_share,
        cast(bucketed.holdout_bucket as {{ tailor.type_double() }}) as holdout_bucket,
        bucketed.holdout_bucket < bucketed.holdout_share as is_control,
        cast(bucketed.customer_id as {{ dbt.type_string() }}) as customer_id,
        customers.email,
        customers.email_sha256,
        customers.first_name,
        customers.last_name,
        customers.phone,
        customers.country,
        customers.timezone,
        rfm.rfm_segment,
        lifecycle.lifecycle_stage,
        ml_segments.segment_id,
        ml_segments.segment_name,
        cast(bucketed.propensity_score as {{ tailor.type_double() }}) as propensity_score,
        case when bucketed.audience_id = 'trigger_high_intent' then flags.high_intent_product_id end as trigger_product_id,
        case when bucketed.audience_id = 'trigger_high_intent' then intent_products.title end as trigger_product_title,
        cast(coalesce(top_recommendations.recommendation_count, 0) as {{ dbt.type_int() }}) as recommendation_count,
        {%- for k in range(1, n_recs + 1) %}
        top_recommendations.rec_{{ k }}_product_id,
        top_recommendations.rec_{{ k }}_title,
        top_recommendations.rec_{{ k }}_price,
        top_recommendations.rec_{{ k }}_currency,
        top_recommendations.rec_{{ k }}_reason,
        {%- endfor %}
        {{ tailor.run_date_literal() }} as as_of_date
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from bucketed
    inner join customers
        on bucketed.customer_id = customers.customer_id
    left join rfm
        on bucketed.customer_id = rfm.customer_id
    left join lifecycle
        on bucketed.customer_id = lifecycle.customer_id
    left join ml_segments
        on bucketed.customer_id = ml_segments.customer_id
    left join flags
        on bucketed.customer_id = flags.customer_id
    left join products as intent_products
        on flags.high_intent_product_id = intent_products.product_id
    left join top_recommendations
        on bucketed.customer_id = top_recommendations.customer_id

)

select * from final
