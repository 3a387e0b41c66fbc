-- An order's merchandise and non-product amounts add up to its lines (net of the
-- order-level discount the lines do not carry), so no line is lost or counted twice.

with orders as (

    select * from {{ ref('int_orders_enriched') }}
    where line_count > 0

),

lines as (

    select order_id, sum(line_amount) as line_amount
    from {{ ref('int_order_items_classified') }}
    group by order_id

)

select orders.order_id, orders.merchandise_amount, orders.non_product_amount, lines.line_amount
from orders
inner join lines
    on orders.order_id = lines.order_id
where abs(orders.merchandise_amount + orders.non_product_amount - lines.line_amount)
    > abs(orders.discount) + 0.01
