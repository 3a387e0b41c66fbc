{# One row per catalog product: the latest version on or before the run date. #}

-- staging (dbt style): renames and casts its own source; every stg_ model has this shape
with source as (

    select * from {{ source('shop', 'products') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        trim(product_id) as product_id,
        nullif(trim(title), '') as title,
        nullif(trim(description), '') as description,
        nullif(trim(category_path), '') as category_path,
        nullif(trim(brand), '') as brand,
        cast(price as {{ dbt.type_numeric() }}) as price,
        coalesce(upper(nullif(trim(currency), '')), '{{ var("tailor__reporting_currency") }}') as currency,
        coalesce(is_active, true) as is_active,
        {{ tailor.to_utc_timestamp('created_at') }} as created_at,
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
            partition by product_id
            order by updated_at desc nulls last, arrived_date desc, _source_file desc, _line desc
        ) as version_rank
    from renamed

),

final as (

    select
        product_id,
        title,
        description,
        category_path,
        nullif(trim({{ dbt.split_part('category_path', "'>'", 1) }}), '') as category_level_1,
        nullif(trim({{ dbt.split_part('category_path', "'>'", 2) }}), '') as category_level_2,
        nullif(trim({{ dbt.split_part('category_path', "'>'", 3) }}), '') as category_level_3,
        brand,
        price,
        currency,
        is_active,
        created_at,
        updated_at,
        arrived_date
    from ranked
    where version_rank = 1

)

select * from final
