{#
    The identity graph: one row per link between an anonymous id and a customer.

    Evidence for a link:
      * an event that carries both the anonymousId and a userId (identify on login,
        anything tracked while logged in): userId is the CRM customer_id;
      * an identify whose traits.email hashes to exactly one CRM customer's email.

    Merging rules, in order:
      1. an anonymous id joins at most one customer: its earliest link wins, later links
         to other customers are kept as 'claimed_by_other_customer';
      2. a customer absorbs at most tailor__max_ids_per_customer anonymous ids (earliest
         first); links past the cap are kept as 'over_cap' and not merged, so a shared
         or scripted login cannot fold thousands of visitors into one profile.
    Customers are never merged with each other.
#}

{% set max_ids = var('tailor__max_ids_per_customer') | int %}

-- (int_identity_evidence_collected: the narrow evidence events, kept incrementally)
with events as (

    select * from {{ ref('int_identity_evidence_collected') }}

),

crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

unambiguous_emails as (

    -- an email shared by several CRM records identifies none of them
    select
        email_sha256,
        min(customer_id) as customer_id
    from crm_customers
    where email_sha256 is not null
    group by email_sha256
    having count(*) = 1

),

user_id_evidence as (

    select
        anonymous_id,
        user_id as customer_id,
        'user_id' as link_source,
        event_at
    from events
    where user_id is not null

),

email_evidence as (

    select
        events.anonymous_id,
        unambiguous_emails.customer_id,
        'email' as link_source,
        events.event_at
    from events
    inner join unambiguous_emails
        on events.traits_email_sha256 = unambiguous_emails.email_sha256

),

evidence as (

    select * from user_id_evidence
    union all
    select * from email_evidence

),

links as (

    select
        anonymous_id,
        customer_id,
        min(event_at) as first_linked_at,
        max(event_at) as last_linked_at,
        count(*) as evidence_count,
        max(case when link_source = 'user_id' then 1 else 0 end) = 1 as has_user_id_evidence,
        max(case when link_source = 'email' then 1 else 0 end) = 1 as has_email_evidence
    from evidence
    group by anonymous_id, customer_id

),

ranked_per_anonymous_id as (

    select
        *,
        row_number() over (
            partition by anonymous_id
            order by first_linked_at, customer_id
        ) as anonymous_id_rank
    from links

),

ranked_per_customer as (

    select
        *,
        case
            when anonymous_id_rank = 1
                then row_number() over (
                    partition by customer_id, case when anonymous_id_rank = 1 then 1 else 0 end
                    order by first_linked_at, anonymous_id
                )
        end as customer_link_rank
    from ranked_per_anonymous_id

),

final as (

    select
        {{ dbt.hash(dbt.concat(["anonymous_id", "'|'", "customer_id"])) }} as identity_link_id,
        anonymous_id,
        customer_id,
        case
            when has_user_id_evidence and has_email_evidence then 'user_id+email'
            when has_user_id_evidence then 'user_id'
            else 'email'
        end as link_source,
        first_linked_at,
        last_linked_at,
        evidence_count,
        anonymous_id_rank,
        customer_link_rank,
        anonymous_id_rank = 1 and customer_link_rank <= {{ max_ids }} as is_merged,
        case
            when anonymous_id_rank > 1 then 'claimed_by_other_customer'
            when customer_link_rank > {{ max_ids }} then 'over_cap'
        end as unmerged_reason
    from ranked_per_customer

)

select * from final
