-- Every customer with a purchase on or before the run date has an RFM row, scored 1-5 and
-- named; returns the customers for whom that does not hold.

with buyers as (

    select distinct customer_id
    from {{ ref('orders') }}
    where is_purchase and customer_id is not null

),

rfm as (

    select * from {{ ref('customer_rfm') }}

)

select buyers.customer_id
from buyers
left join rfm
    on buyers.customer_id = rfm.customer_id
where rfm.customer_id is null
    or rfm.r_score not between 1 and 5
    or rfm.f_score not between 1 and 5
    or rfm.m_score not between 1 and 5
    or rfm.rfm_segment is null
