{#
    The current consent of each customer for each purpose, as of the run date. The same
    rule as tailor/consent.py (which decides the exports), so marts.customers agrees with
    what is exported:

    - every delivered record counts, loaded or quarantined; the latest version of a
      consent_id (latest delivery) replaces the older ones;
    - a withdrawal counts once delivered, whatever its timestamp; a grant only once its
      consented_at is before the end of the run date;
    - among those, the latest consented_at wins; on a tie a withdrawal wins;
    - a record that cannot be read (granted neither a grant nor a withdrawal spelling, a
      timestamp that does not parse, a withdrawal without a known purpose, a line that is
      not JSON) withdraws its purpose - every purpose when the purpose cannot be read -
      until a readable grant arrives in a later delivery.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with loaded as (

    select * from {{ ref('stg_crm__consents') }}

),

quarantined as (

    select * from {{ ref('stg_loader__quarantined_consents') }}

),

-- the same columns from both inputs: loaded rows name the flag is_granted, quarantined rows granted
delivered as (

    select
        consent_id,
        customer_id,
        {{ tailor.consent_purpose('purpose') }} as purpose,
        {{ tailor.consent_granted_state('is_granted') }} as granted_state,
        consented_at,
        consent_source,
        arrived_date,
        source_file,
        source_line,
        true as is_parsed
    from loaded

    union all

    select
        consent_id,
        customer_id,
        {{ tailor.consent_purpose('purpose') }} as purpose,
        {{ tailor.consent_granted_state('granted') }} as granted_state,
        consented_at,
        consent_source,
        arrived_date,
        source_file,
        source_line,
        is_parsed
    from quarantined

),

versions as (

    select
        *,
        row_number() over (
            partition by coalesce(consent_id, {{ dbt.concat(["source_file", "':'", "cast(source_line as " ~ dbt.type_string() ~ ")"]) }})
            order by arrived_date desc, source_file desc, source_line desc
        ) as version_rank
    from delivered

),

-- mirrored in tailor/consent.py (the export gate's rule in Python); tests/integration/test_consent_dbt.py compares both
records as (

    select
        customer_id,
        purpose,
        case
            when granted_state = 'granted' and purpose is null then 'ignored'
            when granted_state = 'granted' and is_parsed and consent_id is not null
                and consented_at is not null then 'grant'
            when granted_state = 'withdrawn' and purpose is not null
                and consented_at is not null then 'withdrawal'
            else 'unreadable'
        end as kind,
        consented_at,
        consent_source,
        arrived_date,
        consent_id
    from versions
    where version_rank = 1 and customer_id is not null

),

purposes as (

    {% for purpose in tailor.consent_purposes() -%}
    select '{{ purpose }}' as purpose
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

{# An unreadable record without a purpose applies to every purpose. #}
per_purpose as (

    select
        records.customer_id,
        purposes.purpose,
        records.kind,
        records.consented_at,
        records.consent_source,
        records.arrived_date,
        records.consent_id
    from records
    inner join purposes
        on records.purpose = purposes.purpose
        or (records.purpose is null and records.kind = 'unreadable')

),

counted as (

    select * from per_purpose
    where kind = 'withdrawal'
        or (kind = 'grant' and consented_at < {{ tailor.run_end_literal() }})

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, purpose
            order by consented_at desc, case when kind = 'grant' then 1 else 0 end, consent_id desc
        ) as recency_rank,
        count(*) over (partition by customer_id, purpose) as record_count
    from counted

),

unreadable as (

    select
        customer_id,
        purpose,
        max(arrived_date) as unreadable_through,
        count(*) as unreadable_count
    from per_purpose
    where kind = 'unreadable'
    group by customer_id, purpose

),

regranted as (

    select
        customer_id,
        purpose,
        max(arrived_date) as granted_through
    from counted
    where kind = 'grant'
    group by customer_id, purpose

),

customer_purposes as (

    select customer_id, purpose from ranked where recency_rank = 1
    union
    select customer_id, purpose from unreadable

),

final as (

    select
        {{ dbt.hash(dbt.concat(["customer_purposes.customer_id", "'|'", "customer_purposes.purpose"])) }} as customer_purpose_id,
        customer_purposes.customer_id,
        customer_purposes.purpose,
        coalesce(
            ranked.kind = 'grant'
            and (
                unreadable.unreadable_through is null
                or regranted.granted_through > unreadable.unreadable_through
            ),
            false
        ) as is_granted,
        ranked.consented_at,
        ranked.consent_source,
        ranked.consent_id,
        coalesce(ranked.record_count, 0) + coalesce(unreadable.unreadable_count, 0) as record_count,
        coalesce(unreadable.unreadable_count, 0) as unreadable_count,
        unreadable.unreadable_through
    from customer_purposes
    left join ranked
        on customer_purposes.customer_id = ranked.customer_id
        and customer_purposes.purpose = ranked.purpose
        and ranked.recency_rank = 1
    left join unreadable
        on customer_purposes.customer_id = unreadable.customer_id
        and customer_purposes.purpose = unreadable.purpose
    left join regranted
        on customer_purposes.customer_id = regranted.customer_id
        and customer_purposes.purpose = regranted.purpose

)

select * from final
