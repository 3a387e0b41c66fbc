{# One row per consent record (consent_id), as of the run date. #}

with source as (

    select * from {{ source('crm', 'consents') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        trim(consent_id) as consent_id,
        trim(subject_id) as customer_id,
        lower(trim(purpose)) as purpose,
        granted as is_granted,
        {{ tailor.to_utc_timestamp('consented_at') }} as consented_at,
        nullif(lower(trim(source)), '') as consent_source,
        _dt as arrived_date,
        _source_file as source_file,
        _line as source_line
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by consent_id
            order by arrived_date desc, source_file desc, source_line desc
        ) as version_rank
    from renamed

),

final as (

    select
        consent_id,
        customer_id,
        purpose,
        is_granted,
        consented_at,
        consent_source,
        arrived_date,
        source_file,
        source_line
    from ranked
    where version_rank = 1

)

select * from final
