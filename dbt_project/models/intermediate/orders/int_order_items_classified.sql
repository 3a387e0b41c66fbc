{#
    Order lines with what they are: a product, or a non-product charge or adjustment
    (postage, fees, manual adjustments, vouchers: the non_product_stock_codes seed), and
    whether the product is in the catalog. Amounts are in the order's currency.
#}

with order_items as (

    select * from {{ ref('int_order_items_unioned') }}

),

non_product_codes as (

    select * from {{ ref('non_product_stock_codes') }}

),

catalog as (

    select product_id from {{ ref('stg_shop__products') }}

),

final as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.line_number,
        order_items.product_id,
        order_items.title,
        order_items.quantity,
        order_items.unit_price,
        order_items.discount,
        order_items.currency,
        non_product_codes.stock_code is null as is_product,
        non_product_codes.kind as non_product_kind,
        catalog.product_id is not null as is_known_product,
        order_items.quantity * order_items.unit_price - order_items.discount as line_amount,
        order_items.arrived_date
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from order_items
    left join non_product_codes
        on order_items.product_id = non_product_codes.stock_code
    left join catalog
        on order_items.product_id = catalog.product_id

)

select * from final
