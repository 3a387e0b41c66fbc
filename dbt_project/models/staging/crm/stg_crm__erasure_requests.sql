{# One row per erasure request; the email is kept only as its matching hash. #}

-- staging (dbt style): renames and casts its own source; every stg_ model has this shape
with source as (

    select * from {{ source('crm', 'erasure_requests') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        trim(request_id) as request_id,
        nullif(trim(customer_id), '') as customer_id,
        {{ tailor.email_sha256('email') }} as email_sha256,
        {{ tailor.to_utc_timestamp('requested_at') }} as requested_at,
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
            partition by request_id
            order by arrived_date desc, _source_file desc, _line desc
        ) as version_rank
    from renamed

),

final as (

    select
        request_id,
        customer_id,
        email_sha256,
        requested_at,
        arrived_date
    from ranked
    where version_rank = 1

)

select * from final
