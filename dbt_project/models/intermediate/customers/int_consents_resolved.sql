{#
    The current consent of each customer for each purpose: the record with the latest
    consented_at on or before the run date wins. On a tie a withdrawal beats a grant, so
    an ambiguous record never turns marketing on.
#}

with consents as (

    select * from {{ ref('stg_crm__consents') }}
    where consented_at < {{ tailor.run_end_literal() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, purpose
            order by consented_at desc, case when is_granted then 1 else 0 end, consent_id desc
        ) as recency_rank,
        count(*) over (partition by customer_id, purpose) as record_count
    from consents

),

final as (

    select
        {{ dbt.hash(dbt.concat(["customer_id", "'|'", "purpose"])) }} as customer_purpose_id,
        customer_id,
        purpose,
        is_granted,
        consented_at,
        consent_source,
        consent_id,
        record_count
    from ranked
    where recency_rank = 1

)

select * from final
