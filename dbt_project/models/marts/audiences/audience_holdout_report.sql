{#
    Did sending work? For every audience, experiment and send day before the run date:
    conversion of the treated group versus the control group in the
    tailor__holdout_conversion_days days after the send, with a two-proportion z-test.

    * Groups come from ops.holdout_assignments (written by every export): members who
      passed the destination's consent and key checks, split by the audience's
      deterministic hash. The comparison is intention-to-treat: treated members count
      whether or not the frequency cap let them through (treated_sent says how many were).
    * A member converted when they made a purchase (marts.orders, is_purchase) on one of
      the tailor__holdout_conversion_days days after the send day, and on or before the
      run date. Windows still open on the run date are reported with is_window_complete =
      false and the days observed so far.
    * z = (p_treated - p_control) / sqrt(p (1 - p) (1 / n_treated + 1 / n_control)), with
      p the pooled rate; the two-sided p-value uses the normal tail approximation of
      Abramowitz & Stegun 26.2.17 (error below 1e-7). The 95% interval of the difference
      uses the unpooled standard error.
#}

{%- set window = var('tailor__holdout_conversion_days', 7) | int -%}
{%- set alpha = var('tailor__holdout_alpha', 0.05) | float -%}
{%- set assignments_source = source('ops', 'holdout_assignments') -%}
{%- set assignments_rel = adapter.get_relation(database=assignments_source.database, schema=assignments_source.schema, identifier=assignments_source.identifier) if execute else none -%}

with assignments as (

    {% if assignments_rel is not none %}
    select
        send_date,
        audience_id,
        experiment_id,
        customer_id,
        max(case when is_control then 1 else 0 end) as is_control,
        max(case when is_sent then 1 else 0 end) as is_sent
    from {{ assignments_source }}
    where send_date < {{ tailor.run_date_literal() }}
    group by send_date, audience_id, experiment_id, customer_id
    {% else %}
    select
        cast(null as date) as send_date,
        cast(null as {{ dbt.type_string() }}) as audience_id,
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        0 as is_control,
        0 as is_sent
    where 1 = 0
    {% endif %}

),

orders as (

    select customer_id, ordered_at
    from {{ ref('orders') }}
    where is_purchase
        and customer_id is not null
        and ordered_at < {{ tailor.run_end_literal() }}

),

outcomes as (

    select
        assignments.send_date,
        assignments.audience_id,
        assignments.experiment_id,
        assignments.customer_id,
        assignments.is_control,
        assignments.is_sent,
        max(case when orders.customer_id is not null then 1 else 0 end) as is_converted
    from assignments
    left join orders
        on assignments.customer_id = orders.customer_id
        and orders.ordered_at >= {{ dbt.dateadd('day', 1, 'cast(assignments.send_date as ' ~ dbt.type_timestamp() ~ ')') }}
        and orders.ordered_at < {{ dbt.dateadd('day', window + 1, 'cast(assignments.send_date as ' ~ dbt.type_timestamp() ~ ')') }}
    group by
        assignments.send_date,
        assignments.audience_id,
        assignments.experiment_id,
        assignments.customer_id,
        assignments.is_control,
        assignments.is_sent

),

aggregated as (

    select
        send_date,
        audience_id,
        experiment_id,
        sum(1 - is_control) as treated_members,
        sum(case when is_control = 0 then is_sent else 0 end) as treated_sent,
        sum(case when is_control = 0 then is_converted else 0 end) as treated_conversions,
        sum(is_control) as control_members,
        sum(case when is_control = 1 then is_converted else 0 end) as control_conversions
    from outcomes
    group by send_date, audience_id, experiment_id

),

rates as (

    select
        *,
        case when treated_members > 0 then 1.0 * treated_conversions / treated_members end as treated_rate,
        case when control_members > 0 then 1.0 * control_conversions / control_members end as control_rate,
        case
            when treated_members > 0 and control_members > 0
                then 1.0 * (treated_conversions + control_conversions) / (treated_members + control_members)
        end as pooled_rate
    from aggregated

),

tested as (

    select
        *,
        case
            when pooled_rate > 0 and pooled_rate < 1
                then (treated_rate - control_rate)
                    / sqrt(pooled_rate * (1 - pooled_rate) * (1.0 / treated_members + 1.0 / control_members))
        end as z_score,
        case
            when treated_members > 0 and control_members > 0
                then sqrt(
                    treated_rate * (1 - treated_rate) / treated_members
                    + control_rate * (1 - control_rate) / control_members
                )
        end as unpooled_standard_error
    from rates

),

tails as (

    select
        *,
        1.0 / (1.0 + 0.2316419 * abs(z_score)) as tail_t
    from tested

),

-- final: one explicit cast per column, the model's contract (the same shape in every mart)
final as (

    select
        cast({{ dbt.hash(dbt.concat(['audience_id', "'|'", 'experiment_id', "'|'", dbt.cast('send_date', dbt.type_string())])) }} as {{ dbt.type_string() }}) as holdout_report_id,
        cast(audience_id as {{ dbt.type_string() }}) as audience_id,
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        send_date,
        {{ window }} as conversion_window_days,
        cast(
            case
                when {{ dbt.datediff('send_date', tailor.run_date_literal(), 'day') }} < {{ window }}
                    then {{ dbt.datediff('send_date', tailor.run_date_literal(), 'day') }}
                else {{ window }}
            end as {{ dbt.type_int() }}
        ) as observed_days,
        {{ dbt.datediff('send_date', tailor.run_date_literal(), 'day') }} >= {{ window }} as is_window_complete,
        cast(treated_members as bigint) as treated_members,
        cast(treated_sent as bigint) as treated_sent,
        cast(treated_conversions as bigint) as treated_conversions,
        cast(control_members as bigint) as control_members,
        cast(control_conversions as bigint) as control_conversions,
        cast(treated_rate as {{ tailor.type_double() }}) as treated_conversion_rate,
        cast(control_rate as {{ tailor.type_double() }}) as control_conversion_rate,
        cast(treated_rate - control_rate as {{ tailor.type_double() }}) as absolute_uplift,
        cast(case when control_rate > 0 then (treated_rate - control_rate) / control_rate end as {{ tailor.type_double() }}) as relative_uplift,
        cast(treated_rate - control_rate - 1.959964 * unpooled_standard_error as {{ tailor.type_double() }}) as uplift_ci95_lower,
        cast(treated_rate - control_rate + 1.959964 * unpooled_standard_error as {{ tailor.type_double() }}) as uplift_ci95_upper,
        cast(z_score as {{ tailor.type_double() }}) as z_score,
        cast(
            case
                when z_score is not null
                    then least(1.0, 2.0 * exp(-0.5 * z_score * z_score) / 2.5066282746310002 * tail_t
                        * (0.319381530 + tail_t * (-0.356563782 + tail_t * (1.781477937
                        + tail_t * (-1.821255978 + tail_t * 1.330274429)))))
            end as {{ tailor.type_double() }}
        ) as p_value,
        coalesce(
            z_score is not null
            and 2.0 * exp(-0.5 * z_score * z_score) / 2.5066282746310002 * tail_t
                * (0.319381530 + tail_t * (-0.356563782 + tail_t * (1.781477937
                + tail_t * (-1.821255978 + tail_t * 1.330274429)))) < {{ alpha }},
            false
        ) as is_significant,
        {{ tailor.run_date_literal() }} as as_of_date
    from tails

)

select * from final
