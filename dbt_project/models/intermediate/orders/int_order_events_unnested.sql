{{
    config(
        materialized=tailor.incremental_materialized(),
        unique_key='message_id',
        incremental_strategy=tailor.incremental_strategy(),
        on_schema_change='append_new_columns',
        post_hook=["{{ tailor.delete_order_lines_without_their_event() }}"]
    )
}}

{#
    The order events of the Segment e-commerce spec (v2), as Segment and RudderStack send
    them, one row per line item: Order Completed, Order Updated, Order Refunded and Order
    Cancelled, with properties.products[] unnested (position = the item's 1-based place in
    the array). An order event without a products array but with a top-level
    properties.product_id (REES46, older trackers) is one line; one with neither is a
    single row with a null position (a full refund, a cancellation, an order total alone).

    order_id is properties.order_id; an Order Completed event without one is its own order
    (its messageId). Other order events without an order id cannot be tied to an order and
    are left out here (they stay in the events).

    Incremental runs unnest again only the order events int_events_stitched (re)built in
    the lookback window (new, late, redelivered, re-attributed or reloaded) and those not
    in the table yet (an event dated after the day it was built for, now due); their
    stored lines are replaced. The post-hook removes the lines of events that are no
    longer order events as of the run date (a reloaded day that lost them, an earlier day
    rerun). So a night reads the products[] of the day's orders, not of every order ever.
#}

-- depends_on: {{ ref('stg_tracking__events') }}

{%- set order_event_filter = tailor.order_event_filter() %}

{%- set batch_filter -%}
    {{ order_event_filter }}
    {%- if is_incremental() %}
        and (
            _processed_for_date >= {{ tailor.lookback_start_literal() }}
            or last_arrived_date >= {{ tailor.lookback_start_literal() }}
            or message_id not in (select message_id from {{ this }})
        )
    {%- endif %}
{%- endset %}

with order_events as (

    select * from {{ ref('int_events_stitched') }}
    where {{ batch_filter }}

),

-- the products[] arrays are not kept in int_events_stitched: the order events alone are
-- staged again for them (their deliveries ranked, their JSON read), not the whole history.
-- An incremental run looks for their deliveries on the landing days int_events_stitched,
-- built before this model, says they were delivered on.
{%- set order_event_ids -%}
    select message_id from {{ ref('int_events_stitched') }}
    where {{ batch_filter }}
{%- endset %}
{%- set delivered_on = none -%}
{%- if is_incremental() -%}
    {%- set order_event_arrivals -%}
        select first_arrived_date, last_arrived_date, delivery_count from {{ ref('int_events_stitched') }}
        where {{ batch_filter }}
    {%- endset -%}
    {%- set delivered_on = tailor.delivery_days(order_event_arrivals) -%}
{%- endif %}
products as (

    select message_id, products, {{ tailor.json_array_length('products') }} as product_count
    from ({{ tailor.staged_tracking_events(message_ids_sql=order_event_ids, delivered_on=delivered_on) }}) as staged
    where products is not null
        and event_name in ('Order Completed', 'Order Updated', 'Order Refunded', 'Order Cancelled')

),

events as (

    select
        order_events.message_id,
        order_events.event_name,
        coalesce(order_events.order_id, order_events.message_id) as order_id,
        order_events.customer_id,
        order_events.event_at,
        order_events.currency,
        order_events.order_total,
        order_events.order_revenue,
        order_events.order_discount,
        order_events.coupon_code,
        order_events.product_id,
        order_events.price,
        order_events.quantity,
        order_events.last_arrived_date,
        products.products,
        coalesce(products.product_count, 0) as product_count
    from order_events
    left join products
        on order_events.message_id = products.message_id

),

positions as (

    select
        events.*,
        {{ tailor.series_1_to('product_count') }} as position
    from events
    where product_count > 0

),

array_lines as (

    select
        {{ tailor.star_except('positions', ['product_id', 'price', 'quantity', 'products']) }},
        {{ tailor.json_array_item('products', 'position') }} as item
    from positions

),

items as (

    select
        message_id, event_name, order_id, customer_id, event_at, currency, order_total,
        order_revenue, order_discount, coupon_code, last_arrived_date, product_count, position,
        coalesce(
            nullif(trim({{ tailor.json_text('item', 'product_id') }}), ''),
            nullif(trim({{ tailor.json_text('item', 'sku') }}), ''),
            nullif(trim({{ tailor.json_text('item', 'id') }}), '')
        ) as product_id,
        nullif(trim({{ tailor.json_text('item', 'name') }}), '') as title,
        {{ tailor.try_cast(tailor.json_text('item', 'price'), dbt.type_numeric()) }} as unit_price,
        cast({{ tailor.try_cast(tailor.json_text('item', 'quantity'), dbt.type_numeric()) }} as {{ dbt.type_int() }}) as quantity
    from array_lines

),

single_lines as (

    select
        message_id, event_name, order_id, customer_id, event_at, currency, order_total,
        order_revenue, order_discount, coupon_code, last_arrived_date, product_count,
        case when product_id is not null then 1 end as position,
        product_id,
        cast(null as {{ dbt.type_string() }}) as title,
        price as unit_price,
        quantity
    from events
    where product_count = 0

),

final as (

    select {{ tailor.star_except(none, ['product_count']) }}, product_count > 0 or product_id is not null as has_lines
    from items
    union all
    select {{ tailor.star_except(none, ['product_count']) }}, product_id is not null as has_lines
    from single_lines

)

select * from final
