{#
    Recency, frequency and monetary value per customer with at least one purchase, as of
    the run date, scored 1-5 and named with the rfm_segment_map seed.

    * recency_days: days from the last purchase to the run date;
    * frequency: purchases (completed orders with merchandise; cancellations, returns and
      credit notes do not count);
    * monetary: net merchandise revenue in the reporting currency (credit notes such as
      Online Retail cancellations reduce it).
    Scores are quintiles of the percent rank, (rank - 1) / (n - 1), computed in integers
    so a boundary value never lands in the wrong quintile (5 = most recent / most
    frequent / highest spend). Tied values always share a score, so the result does not
    depend on row order.
    The segment comes from R and FM = round((F + M) / 2).
#}

with customer_orders as (

    select * from {{ ref('int_customer_orders_aggregated') }}
    where purchase_count > 0

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

measured as (

    select
        customer_id,
        last_purchase_at,
        {{ dbt.datediff('cast(last_purchase_at as date)', tailor.run_date_literal(), 'day') }} as recency_days,
        purchase_count as frequency,
        net_revenue as monetary
    from customer_orders

),

ranked as (

    select
        *,
        rank() over (order by recency_days desc) as recency_rank,
        rank() over (order by frequency) as frequency_rank,
        rank() over (order by monetary) as monetary_rank,
        count(*) over () as customer_count
    from measured

),

scored as (

    select
        *,
        {{ tailor.rfm_quintile('recency_rank', 'customer_count') }} as r_score,
        {{ tailor.rfm_quintile('frequency_rank', 'customer_count') }} as f_score,
        {{ tailor.rfm_quintile('monetary_rank', 'customer_count') }} as m_score
    from ranked

),

combined as (

    select
        *,
        cast(floor((f_score + m_score + 1) / 2.0) as integer) as fm_score
    from scored

),

final as (

    select
        cast(combined.customer_id as {{ dbt.type_string() }}) as customer_id,
        {{ tailor.run_date_literal() }} as as_of_date,
        cast(combined.last_purchase_at as timestamp) as last_purchase_at,
        cast(combined.recency_days as integer) as recency_days,
        cast(combined.frequency as integer) as frequency,
        cast(combined.monetary as {{ tailor.type_double() }}) as monetary,
        combined.r_score,
        combined.f_score,
        combined.m_score,
        combined.fm_score,
        cast(
            {{ dbt.concat([
                dbt.cast("combined.r_score", dbt.type_string()),
                dbt.cast("combined.f_score", dbt.type_string()),
                dbt.cast("combined.m_score", dbt.type_string())
            ]) }} as {{ dbt.type_string() }}
        ) as rfm_code,
        cast(segment_map.segment as {{ dbt.type_string() }}) as rfm_segment,
        cast('{{ var("tailor__reporting_currency") }}' as {{ dbt.type_string() }}) as reporting_currency
    from combined
    left join segment_map
        on combined.r_score = segment_map.r_score
        and combined.fm_score = segment_map.fm_score

)

select * from final
