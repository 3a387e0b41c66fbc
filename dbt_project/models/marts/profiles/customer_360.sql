{#
    One row per customer with what Tailor knows about them as of the run date: the unified
    profile (customers: identity, demographics, behaviour, consent), the RFM segment, the
    lifecycle stage, the behavioural flags, the ML segment, the churn and purchase
    propensity, the expected purchases and value (both at the primary horizon), and the
    top three recommended products.

    Built after the ML jobs (the nightly `dbt_audiences` stage); before the first ML run the
    ML columns are null.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with customers as (

    select * from {{ ref('customers') }}

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

    {{ tailor.ml_latest(source('ml_outputs', 'propensity_scores'),
        [['customer_id', 'string'], ['model', 'string'], ['score', 'double'], ['decile', 'int'],
         ['is_primary', 'int']]) }}

),

customer_value as (

    {{ tailor.ml_latest(source('ml_outputs', 'customer_value'),
        [['customer_id', 'string'], ['expected_purchases', 'double'], ['expected_value', 'double'],
         ['is_primary', 'int']]) }}

),

recommendations as (

    {{ tailor.ml_latest(source('ml_outputs', 'recommendations'),
        [['customer_id', 'string'], ['product_id', 'string'], ['rank', 'int']]) }}

),

scores as (

    select
        customer_id,
        max(case when model = 'churn' then score end) as churn_score,
        max(case when model = 'churn' then decile end) as churn_decile,
        max(case when model = 'purchase' then score end) as purchase_score,
        max(case when model = 'purchase' then decile end) as purchase_decile
    from propensity
    -- the primary horizon (the first of config/tailor.yml's propensity.horizons)
    where coalesce(is_primary, 1) = 1
    group by customer_id

),

top_recommendations as (

    select
        recommendations.customer_id
        {%- for k in range(1, 4) %},
        max(case when recommendations.{{ adapter.quote('rank') }} = {{ k }} then products.title end) as recommended_product_{{ k }}
        {%- endfor %}
    from recommendations
    inner join products
        on recommendations.product_id = products.product_id
    where recommendations.{{ adapter.quote('rank') }} <= 3
    group by recommendations.customer_id

)

select
    customers.*,
    rfm.rfm_segment,
    rfm.r_score,
    rfm.f_score,
    rfm.m_score,
    lifecycle.lifecycle_stage,
    coalesce(flags.is_cart_abandoner, false) as is_cart_abandoner,
    coalesce(flags.is_browse_abandoner, false) as is_browse_abandoner,
    coalesce(flags.is_high_intent, false) as is_high_intent,
    coalesce(flags.is_win_back_candidate, false) as is_win_back_candidate,
    ml_segments.segment_id as ml_segment_id,
    ml_segments.segment_name as ml_segment_name,
    scores.churn_score,
    scores.churn_decile,
    scores.purchase_score,
    scores.purchase_decile,
    customer_value.expected_purchases,
    customer_value.expected_value,
    top_recommendations.recommended_product_1,
    top_recommendations.recommended_product_2,
    top_recommendations.recommended_product_3
-- left join each input onto the spine, one row per key (the join shape every model of this grain has)
from customers
left join rfm
    on customers.customer_id = rfm.customer_id
left join lifecycle
    on customers.customer_id = lifecycle.customer_id
left join flags
    on customers.customer_id = flags.customer_id
left join ml_segments
    on customers.customer_id = ml_segments.customer_id
left join scores
    on customers.customer_id = scores.customer_id
left join customer_value
    on customers.customer_id = customer_value.customer_id
    and coalesce(customer_value.is_primary, 1) = 1
left join top_recommendations
    on customers.customer_id = top_recommendations.customer_id
