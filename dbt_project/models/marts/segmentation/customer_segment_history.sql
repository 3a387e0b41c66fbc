{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'snapshot_date'],
        incremental_strategy=tailor.incremental_strategy(),
        partition_by=tailor.snapshot_day_partition('snapshot_date'),
        on_schema_change='append_new_columns',
        full_refresh=false,
        pre_hook=["{{ tailor.delete_snapshot_day() }}"]
    )
}}

{#
    A daily snapshot of every customer's RFM segment and lifecycle stage, one row per
    customer and run date, so migrations between segments can be queried. Rerunning a day
    replaces that day's snapshot (pre-hook + delete+insert) and, because every input is
    "as of" the run date, reproduces it exactly. full_refresh=false: the history cannot be
    rebuilt from today's data, so --full-refresh does not drop it.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with lifecycle as (

    select * from {{ ref('customer_lifecycle') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

final as (

    select
        lifecycle.customer_id,
        {{ tailor.run_date_literal() }} as snapshot_date,
        lifecycle.lifecycle_stage,
        rfm.rfm_segment,
        rfm.rfm_code,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        rfm.recency_days,
        rfm.frequency,
        rfm.monetary
    from lifecycle
    left join rfm
        on lifecycle.customer_id = rfm.customer_id

)

select * from final
