{#
    One row per order: the latest version (updated_at, then landing day) among the rows
    that arrived on or before the run date, so a return recorded later does not change
    what an earlier day saw.

    `status` is one of four outcomes whatever the shop calls it: completed (the sale
    stands: processing, shipped, delivered, partially refunded), cancelled (cancelled,
    failed), returned (returned, refunded) or pending (pending, on-hold, and any status
    not known here, so that an unknown one never counts as a purchase). The shop's own
    word is kept in `delivered_status`.
#}

-- staging (dbt style): renames and casts its own source; every stg_ model has this shape
with source as (

    select * from {{ source('shop', 'orders') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        trim(order_id) as order_id,
        nullif(trim(customer_id), '') as customer_id,
        {{ tailor.to_utc_timestamp('ordered_at') }} as ordered_at,
        case
            when replace(lower(trim(status)), '-', '_') in (
                'completed', 'complete', 'processing', 'shipped', 'delivered', 'partially_refunded'
            ) then 'completed'
            when replace(lower(trim(status)), '-', '_') in ('cancelled', 'canceled', 'failed') then 'cancelled'
            when replace(lower(trim(status)), '-', '_') in ('returned', 'refunded') then 'returned'
            else 'pending'
        end as status,
        nullif(lower(trim(status)), '') as delivered_status,
        coalesce(upper(nullif(trim(currency), '')), '{{ var("tailor__reporting_currency") }}') as currency,
        cast(subtotal as {{ dbt.type_numeric() }}) as subtotal,
        cast(coalesce(discount, 0) as {{ dbt.type_numeric() }}) as discount,
        cast(coalesce(shipping, 0) as {{ dbt.type_numeric() }}) as shipping,
        cast(total as {{ dbt.type_numeric() }}) as total,
        nullif(trim(coupon_code), '') as coupon_code,
        nullif(lower(trim(channel)), '') as channel,
        nullif(trim(country), '') as country,
        {{ tailor.to_utc_timestamp('updated_at') }} as updated_at,
        _dt as arrived_date,
        _source_file,
        _line
    from source

),

-- latest version per key: the same dedup in every staging model of a source that re-sends rows
ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by updated_at desc nulls last, arrived_date desc, _source_file desc, _line desc
        ) as version_rank
    from renamed

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as order_date,
        status,
        delivered_status,
        currency,
        subtotal,
        discount,
        shipping,
        total,
        coupon_code,
        channel,
        country,
        updated_at,
        arrived_date
    from ranked
    where version_rank = 1

)

select * from final
