{#
    Every known customer as of the run date: CRM customers, userIds seen in events and
    customers named on orders. A userId is the CRM customer_id, so a logged-in visitor
    whose CRM record has not arrived yet is a customer already.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

events as (

    select * from {{ ref('int_events_stitched') }}
    where user_id is not null
        and event_at < {{ tailor.run_end_literal() }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}
    where customer_id is not null
        and ordered_at < {{ tailor.run_end_literal() }}

),

identified as (

    select customer_id, 'crm' as first_source from crm_customers
    union all
    select distinct user_id as customer_id, 'events' as first_source from events
    union all
    select distinct customer_id, 'orders' as first_source from orders

),

final as (

    select
        customer_id,
        max(case when first_source = 'crm' then 1 else 0 end) = 1 as is_in_crm,
        max(case when first_source = 'events' then 1 else 0 end) = 1 as has_events,
        max(case when first_source = 'orders' then 1 else 0 end) = 1 as has_orders
    from identified
    group by customer_id

)

select * from final
