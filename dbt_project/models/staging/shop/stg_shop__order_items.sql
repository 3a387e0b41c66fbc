{# One row per order line (order_id, line_number): the latest delivery on or before the run date. #}

-- staging (dbt style): renames and casts its own source; every stg_ model has this shape
with source as (

    select * from {{ source('shop', 'order_items') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        trim(order_id) as order_id,
        line_number,
        trim(product_id) as product_id,
        nullif(trim(title), '') as title,
        quantity,
        cast(unit_price as {{ dbt.type_numeric() }}) as unit_price,
        cast(coalesce(discount, 0) as {{ dbt.type_numeric() }}) as discount,
        upper(nullif(trim(currency), '')) as currency,
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
            partition by order_id, line_number
            order by arrived_date desc, _source_file desc, _line desc
        ) as version_rank
    from renamed

),

final as (

    select
        {{ dbt.concat(["order_id", "'-'", dbt.cast("line_number", dbt.type_string())]) }} as order_item_id,
        order_id,
        line_number,
        product_id,
        title,
        quantity,
        unit_price,
        discount,
        currency,
        arrived_date
    from ranked
    where version_rank = 1

)

select * from final
