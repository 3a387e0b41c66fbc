{#
    Helpers for Tailor's incremental models.

    An incremental row records the latest landing day of the data it was built from
    (last_arrived_date). Building day D keeps only what arrived on or before D, so when a day
    earlier than the last one built is (re)run, rows built from later data are rebuilt
    (they are part of the batch) or, when nothing of them arrived by D, removed here.
#}
{% macro delete_rows_arrived_after_run_date() -%}
    {%- if tailor.engine_deletes_rows() -%}
    delete from {{ this }} where last_arrived_date > {{ tailor.run_date_literal() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{# Replace a whole snapshot day: rows of customers that no longer exist must go too. #}
{% macro delete_snapshot_day(date_column='snapshot_date') -%}
    {%- if is_incremental() and tailor.engine_deletes_rows() -%}
        delete from {{ this }} where {{ date_column }} = {{ tailor.run_date_literal() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#
    user_item_interactions rebuilds the customers it touches, but delete+insert can only
    replace a customer who still has rows in the batch. A customer whose every event was
    re-attributed to someone else (identity stitching moved them) has none: remove them.
#}
{% macro delete_interactions_of_vanished_customers() -%}
    {%- if not tailor.engine_deletes_rows() -%}
        {{ return('select 1') }}
    {%- endif -%}
    delete from {{ this }}
    where customer_id in (
        select _previous_customer_id
        from {{ ref('int_events_stitched') }}
        where _previous_customer_id is not null
            and _processed_for_date >= {{ tailor.lookback_start_literal() }}
    )
    and customer_id not in (
        select customer_id from {{ ref('int_events_stitched') }}
        where customer_id is not null
            and product_id is not null
            and event_name in ('Product Viewed', 'Product Added', 'Order Completed')
    )
    and customer_id not in (
        select customer_id from {{ ref('int_orders_unioned') }}
        where customer_id is not null
    )
{%- endmacro %}
