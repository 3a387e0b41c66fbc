{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=[
            "{{ tailor.delete_rows_arrived_after_run_date() }}",
            "{{ tailor.delete_rows_without_identity_evidence() }}"
        ]
    )
}}

-- depends_on: {{ ref('stg_tracking__events') }}

{#
    The events that are evidence for the identity graph, one row each, narrow: an
    anonymousId together with a userId or an identify email hash. int_identity_graph
    aggregates these instead of staging the whole event history every night.

    An incremental run stages only the events with a delivery in the lookback window or
    after the latest landing day the table holds (so the days after an earlier day rerun
    come back), and the events the table holds from data after the run date (rebuilt from
    the deliveries they had by then, or removed by the post-hook). Every event staged is
    inserted so that one which stopped being evidence (a corrected redelivery) replaces
    its row; the post-hook then drops the rows that are no evidence.
#}

{% if is_incremental() %}

{%- set batch_ids -%}
    select trim(message_id) from {{ source('tracking', 'events') }}
    where _dt <= {{ tailor.run_date_literal() }}
        and (
            _dt >= {{ tailor.lookback_start_literal() }}
            or _dt > (select max(last_arrived_date) from {{ this }})
        )
    union all
    select message_id from {{ this }}
    where last_arrived_date > {{ tailor.run_date_literal() }}
{%- endset %}

with events as (

    select * from ({{ tailor.staged_tracking_events(message_ids_sql=batch_ids) }}) as staged
    where anonymous_id is not null

),

{% else %}

with events as (

    select * from {{ ref('stg_tracking__events') }}
    where anonymous_id is not null
        and (user_id is not null or traits_email_sha256 is not null)

),

{% endif %}

final as (

    select
        message_id,
        anonymous_id,
        user_id,
        traits_email_sha256,
        event_at,
        last_arrived_date
    from events

)

select * from final
