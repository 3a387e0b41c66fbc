{#
    Recency, frequency and monetary value per customer with at least one purchase, as of
    the run date, scored 1-5 and named with the rfm_segment_map seed.

    * recency_days: days from the last purchase to the run date;
    * frequency: purchase days (completed orders with merchandise, or free ones: every
      line at 0; several orders on one day are one purchase; cancellations, returns and
      credit notes do not count);
    * monetary: net merchandise revenue in the reporting currency (credit notes such as
      Online Retail cancellations reduce it).

    Scores are real quintiles: each customer's position in one strict order, as a percent
    rank (position - 1) / (n - 1), bucketed 1 + floor(5 * percent rank) (5 = most recent /
    most frequent / highest spend), so each score holds a fifth of the customers (to one
    customer) even when most customers share a value (a shop where most people bought
    once). Ties in the measured value are broken by the other measures, never by chance:
      R: days since the last purchase, then the exact time of it, then F, then M;
      F: purchases, then spend, then recency;
      M: spend, then purchases, then recency;
    and the customer id last, so the result does not depend on row order.

    The segment comes from R and FM = round((F + M) / 2), with the scores capped by the
    calendar so that a name holds in absolute terms too: a customer whose last purchase
    is more than tailor__rfm_recent_days (90) days old scores at most R = 3 for the segment
    (never "Promising", "New" or "Champions"), more than tailor__rfm_lapsed_days (180) days
    at most R = 2; a customer with a single purchase at most FM = 2 (never named for
    buying often). r_score, f_score, m_score, fm_score and rfm_code are the uncapped
    quintile scores.
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
        purchase_day_count as frequency,
        net_revenue as monetary
    from customer_orders

),

ranked as (

    select
        *,
        row_number() over (
            order by recency_days desc, last_purchase_at, frequency, monetary, customer_id
        ) as recency_rank,
        row_number() over (
            order by frequency, monetary, recency_days desc, customer_id
        ) as frequency_rank,
        row_number() over (
            order by monetary, frequency, recency_days desc, customer_id
        ) as monetary_rank,
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

calendar as (

    -- the scores the segment is named from: capped by how long ago and how often
    select
        *,
        case
            when recency_days > {{ var('tailor__rfm_lapsed_days', 180) | int }} then least(r_score, 2)
            when recency_days > {{ var('tailor__rfm_recent_days', 90) | int }} then least(r_score, 3)
            else r_score
        end as segment_r_score,
        case when frequency <= 1 then least(fm_score, 2) else fm_score end as segment_fm_score
    from combined

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
    from calendar as combined
    left join segment_map
        on combined.segment_r_score = segment_map.r_score
        and combined.segment_fm_score = segment_map.fm_score

)

select * from final
