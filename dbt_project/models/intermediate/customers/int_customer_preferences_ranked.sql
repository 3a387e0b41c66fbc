{#
    Favourite category and brand per customer as of the run date, from product views
    (weight tailor__interaction_weight_view), cart adds (..._cart) and purchased lines
    (..._purchase). Catalog attributes first, event properties when the product is not in
    the catalog (e.g. REES46 category codes).
#}

{% set w_view = var('tailor__interaction_weight_view') %}
{% set w_cart = var('tailor__interaction_weight_cart') %}
{% set w_purchase = var('tailor__interaction_weight_purchase') %}

with events as (

    select * from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and product_id is not null
        and event_name in ('Product Viewed', 'Product Added')
        and event_at < {{ tailor.run_end_literal() }}

),

orders as (

    select * from {{ ref('int_orders_enriched') }}
    where is_purchase and customer_id is not null

),

order_items as (

    select * from {{ ref('int_order_items_classified') }}
    where is_product

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

signals as (

    select
        events.customer_id,
        events.product_id,
        events.product_category as event_category,
        events.product_brand as event_brand,
        case when events.event_name = 'Product Added' then {{ w_cart }} else {{ w_view }} end as weight
    from events

    union all

    select
        orders.customer_id,
        order_items.product_id,
        cast(null as {{ dbt.type_string() }}) as event_category,
        cast(null as {{ dbt.type_string() }}) as event_brand,
        {{ w_purchase }} as weight
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id

),

attributed as (

    select
        signals.customer_id,
        signals.weight,
        coalesce(products.category_level_1, nullif(trim({{ dbt.split_part('signals.event_category', "'>'", 1) }}), '')) as category,
        coalesce(products.brand, signals.event_brand) as brand
    from signals
    left join products
        on signals.product_id = products.product_id

),

categories as (

    select
        customer_id,
        category,
        row_number() over (partition by customer_id order by sum(weight) desc, category) as preference_rank
    from attributed
    where category is not null
    group by customer_id, category

),

brands as (

    select
        customer_id,
        brand,
        row_number() over (partition by customer_id order by sum(weight) desc, brand) as preference_rank
    from attributed
    where brand is not null
    group by customer_id, brand

),

customers as (

    select distinct customer_id from attributed

),

final as (

    select
        customers.customer_id,
        max(case when categories.preference_rank = 1 then categories.category end) as favourite_category,
        max(case when categories.preference_rank = 2 then categories.category end) as second_favourite_category,
        max(case when brands.preference_rank = 1 then brands.brand end) as favourite_brand,
        count(distinct categories.category) as distinct_categories,
        count(distinct brands.brand) as distinct_brands
    from customers
    left join categories
        on customers.customer_id = categories.customer_id
    left join brands
        on customers.customer_id = brands.customer_id
    group by customers.customer_id

)

select * from final
