{{
    config(
        materialized=tailor.incremental_materialized(),
        unique_key='customer_id',
        incremental_strategy=tailor.incremental_strategy(),
        on_schema_change='append_new_columns',
        post_hook=[
            "{{ tailor.delete_rows_arrived_after_run_date() }}",
            "{{ tailor.delete_interactions_of_vanished_customers() }}"
        ]
    )
}}

{#
    Implicit feedback for the recommenders: one row per customer and product with the
    views, cart adds and purchases of user_item_events (product lines of completed orders,
    from the backend or from Order Completed events with their products) and a
    weighted score

        score = sum over interactions of weight * 0.5 ^ (age_days / tailor__interaction_half_life_days)

    where age_days is measured back from the customer's most recent interaction. Anchoring
    the decay there (not at the run date) means a row changes only when its customer acts,
    so the table can be incremental; last_interaction_at lets a reader decay further to
    any date (multiply by 0.5 ^ (days since last_interaction_at / half-life)).

    The unit of an incremental rebuild is the customer: all rows of every customer with
    new or re-attributed events (int_events_stitched), orders or order lines that arrived
    in the lookback window, or a product whose catalog status changed.
#}

{% set w_view = var('tailor__interaction_weight_view') %}
{% set w_cart = var('tailor__interaction_weight_cart') %}
{% set w_purchase = var('tailor__interaction_weight_purchase') %}
{% set half_life = var('tailor__interaction_half_life_days') %}

with all_signals as (

    select * from {{ ref('user_item_events') }}

),

orders as (

    select * from {{ ref('int_orders_unioned') }}
    where customer_id is not null

),

all_order_items as (

    select * from {{ ref('int_order_items_classified') }}

),

catalog as (

    select product_id from {{ ref('stg_shop__products') }}

),

{% if is_incremental() %}

changed_customers as (

    select customer_id from {{ ref('int_events_stitched') }}
    where customer_id is not null
        and (
            _processed_for_date >= {{ tailor.lookback_start_literal() }}
            or last_arrived_date >= {{ tailor.lookback_start_literal() }}
        )

    union

    select _previous_customer_id from {{ ref('int_events_stitched') }}
    where _previous_customer_id is not null
        and _processed_for_date >= {{ tailor.lookback_start_literal() }}

    union

    select orders.customer_id
    from orders
    left join all_order_items as items
        on orders.order_id = items.order_id
    where orders.arrived_date >= {{ tailor.lookback_start_literal() }}
        or items.arrived_date >= {{ tailor.lookback_start_literal() }}

    union

    select customer_id from {{ this }}
    where last_arrived_date > {{ tailor.run_date_literal() }}

    union

    select existing.customer_id
    from {{ this }} as existing
    left join catalog
        on existing.product_id = catalog.product_id
    where existing.is_known_product <> (catalog.product_id is not null)

),

signals as (

    select all_signals.*
    from all_signals
    inner join changed_customers
        on all_signals.customer_id = changed_customers.customer_id

),

{% else %}

signals as (

    select * from all_signals

),

{% endif %}

anchored as (

    select
        *,
        max(interacted_at) over (partition by customer_id) as customer_last_interaction_at
    from signals

),

weighted as (

    select
        *,
        -- each term rounded to a fixed-point number, so the sum does not depend on the
        -- order rows are added in (float sums do, and incremental runs must match)
        cast(
            case interaction_type
                when 'view' then {{ w_view }}
                when 'cart' then {{ w_cart }}
                else {{ w_purchase }}
            end
            * power(
                0.5,
                {{ dbt.datediff('interacted_at', 'customer_last_interaction_at', 'second') }} / 86400.0 / {{ half_life }}
            )
            as {{ dbt.type_numeric() }}
        ) as weighted_signal
    from anchored

),

aggregated as (

    select
        customer_id,
        product_id,
        sum(case when interaction_type = 'view' then 1 else 0 end) as view_count,
        sum(case when interaction_type = 'cart' then 1 else 0 end) as cart_count,
        sum(case when interaction_type = 'purchase' then 1 else 0 end) as purchase_count,
        sum(case when interaction_type = 'purchase' then quantity else 0 end) as purchased_quantity,
        sum(weighted_signal) as interaction_score,
        min(interacted_at) as first_interaction_at,
        max(interacted_at) as last_interaction_at,
        max(last_arrived_date) as last_arrived_date
    from weighted
    group by customer_id, product_id

),

final as (

    select
        cast(aggregated.customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(aggregated.product_id as {{ dbt.type_string() }}) as product_id,
        cast(aggregated.view_count as integer) as view_count,
        cast(aggregated.cart_count as integer) as cart_count,
        cast(aggregated.purchase_count as integer) as purchase_count,
        cast(aggregated.purchased_quantity as integer) as purchased_quantity,
        cast(aggregated.interaction_score as {{ tailor.type_double() }}) as interaction_score,
        cast(aggregated.first_interaction_at as timestamp) as first_interaction_at,
        cast(aggregated.last_interaction_at as timestamp) as last_interaction_at,
        catalog.product_id is not null as is_known_product,
        cast(aggregated.last_arrived_date as date) as last_arrived_date
    from aggregated
    left join catalog
        on aggregated.product_id = catalog.product_id

)

select * from final
