{# The product catalog as of the run date, one row per product. #}

-- import CTEs, one per ref (dbt style): each model names what it reads
with products as (

    select * from {{ ref('stg_shop__products') }}

),

non_product_codes as (

    select * from {{ ref('non_product_stock_codes') }}

),

exchange_rates as (

    select * from {{ ref('exchange_rates') }}

),

final as (

    select
        products.product_id,
        products.title,
        products.description,
        products.category_path,
        products.category_level_1,
        products.category_level_2,
        products.category_level_3,
        products.brand,
        products.price,
        products.currency,
        cast(products.price / rates.units_per_usd * reporting.units_per_usd as {{ tailor.type_double() }}) as price_reporting,
        products.is_active,
        non_product_codes.stock_code is null as is_product,
        products.created_at,
        products.updated_at
    from products
    left join non_product_codes
        on products.product_id = non_product_codes.stock_code
    left join exchange_rates as rates
        on products.currency = rates.currency_code
    left join exchange_rates as reporting
        on reporting.currency_code = '{{ var("tailor__reporting_currency") }}'

)

select * from final
