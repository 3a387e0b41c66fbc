{#
    RFM score 1-5 from a rank (1 = worst) among n customers: 1 + floor(5 * percent rank),
    percent rank = (rank - 1) / (n - 1), with the division done last so that a value on a
    quintile boundary is never pushed into the lower quintile by float rounding.
#}
{% macro rfm_quintile(rank_column, count_column) -%}
    cast(
        case
            when {{ count_column }} <= 1 then 1
            when 1 + floor(5.0 * ({{ rank_column }} - 1) / ({{ count_column }} - 1)) > 5 then 5
            else 1 + floor(5.0 * ({{ rank_column }} - 1) / ({{ count_column }} - 1))
        end as integer
    )
{%- endmacro %}
