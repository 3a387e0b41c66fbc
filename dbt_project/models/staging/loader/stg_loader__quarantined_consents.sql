{#
    One row per quarantined consent record (as of the run date), with what can still be
    read from its text. An unreadable withdrawal must still withdraw: see
    int_consents_resolved.
#}

with source as (

    select * from {{ source('loader', 'quarantine') }}
    where source = 'consents'
        and record is not null
        and _dt <= {{ tailor.run_date_literal() }}

),

renamed as (

    select
        {{ tailor.record_text_field('record', 'consent_id') }} as consent_id,
        coalesce(
            {{ tailor.record_text_field('record', 'subject_id') }},
            {{ tailor.record_text_field('record', 'customer_id') }}
        ) as customer_id,
        {{ tailor.record_text_field('record', 'purpose') }} as purpose,
        {{ tailor.record_text_field('record', 'granted') }} as granted,
        {{ tailor.to_utc_timestamp(tailor.record_text_field('record', 'consented_at')) }} as consented_at,
        nullif(lower({{ tailor.record_text_field('record', 'source') }}), '') as consent_source,
        {{ tailor.is_json_object('record') }} as is_parsed,
        reason_code,
        _dt as arrived_date,
        source_file,
        line as source_line
    from source

)

select * from renamed
