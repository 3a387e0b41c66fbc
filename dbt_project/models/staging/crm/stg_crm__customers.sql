{#
    One row per CRM customer: the latest version (updated_at, then landing day) among the
    rows that arrived on or before the run date.
#}

-- staging (dbt style): renames and casts its own source; every stg_ model has this shape
with source as (

    select * from {{ source('crm', 'customers') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        trim(customer_id) as customer_id,
        {{ tailor.normalize_email('email') }} as email,
        {{ tailor.email_sha256('email') }} as email_sha256,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        case
            when lower(trim(gender)) in ('f', 'female', 'w', 'woman') then 'female'
            when lower(trim(gender)) in ('m', 'male', 'man') then 'male'
            when nullif(trim(gender), '') is null then 'unknown'
            else 'other'
        end as gender,
        birth_date,
        nullif(trim(country), '') as country,
        nullif(trim(city), '') as city,
        nullif(trim(timezone), '') as timezone,
        nullif(trim(phone), '') as phone,
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
            partition by customer_id
            order by updated_at desc nulls last, arrived_date desc, _source_file desc, _line desc
        ) as version_rank
    from renamed

),

final as (

    select
        customer_id,
        email,
        email_sha256,
        first_name,
        last_name,
        gender,
        birth_date,
        country,
        city,
        timezone,
        phone,
        created_at,
        updated_at,
        arrived_date
    from ranked
    where version_rank = 1

)

select * from final
