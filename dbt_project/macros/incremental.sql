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


{# int_identity_evidence_collected inserts every event it stages: keep the evidence only. #}
{% macro delete_rows_without_identity_evidence() -%}
    {%- if tailor.engine_deletes_rows() -%}
        delete from {{ this }} where user_id is null and traits_email_sha256 is null
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#
    int_customer_events_totalled: a customer left with no event before the end of the run
    date (an earlier day rerun, or every event re-attributed to someone else) is not in
    the batch, so delete+insert cannot replace their row: remove it.
#}
{% macro delete_customer_totals_without_events() -%}
    {%- if not tailor.engine_deletes_rows() -%}
        {{ return('select 1') }}
    {%- endif %}
    delete from {{ this }}
    where first_seen_at >= {{ tailor.run_end_literal() }}
        or (
            customer_id in ({{ tailor.reattributed_customer_ids() }})
            and customer_id not in (
                select customer_id from {{ ref('int_events_stitched') }}
                where customer_id is not null
                    and event_at < {{ tailor.run_end_literal() }}
            )
        )
{%- endmacro %}


{# Replace a whole snapshot day: rows of customers that no longer exist must go too. #}
{% macro delete_snapshot_day(date_column='snapshot_date') -%}
    {%- if is_incremental() and tailor.engine_deletes_rows() -%}
        delete from {{ this }} where {{ date_column }} = {{ tailor.run_date_literal() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{# Customers whose events this run re-attributed to someone else (int_events_stitched), or
   removed (a reloaded day lost them). #}
{% macro reattributed_customer_ids() -%}
    {%- set removed = tailor.events_reloaded_away_relation() -%}
    select _previous_customer_id from {{ ref('int_events_stitched') }}
    where _previous_customer_id is not null
        and _processed_for_date >= {{ tailor.lookback_start_literal() }}
    {%- if removed %}
    -- and those of the events a reloaded day lost tonight
    union all
    select customer_id from {{ removed }}
    where customer_id is not null and removed_for_date = {{ tailor.run_date_literal() }}
    {%- endif %}
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
    where customer_id in ({{ tailor.reattributed_customer_ids() }})
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


{#
    Incremental strategy 'replace_from' (config: unique_key, replace_from): for each key in
    the batch, delete the stored rows whose replace_from column is at or after the batch's
    earliest one for that key, then insert the batch. A model whose rows of a key are an
    ordered series (sessions of a visitor) rebuilds only the tail a change can touch and
    leaves the earlier rows where they are, instead of deleting and inserting every row of
    the key (delete+insert): the write follows the new day, not the key's history.
    The batch must hold every row of a key from its earliest one on.
    With replace_from_cuts (the name of a macro of this project giving (key, cut_at) rows;
    cut_at null: every row of the key), the stored rows deleted are those of each key it
    names from its cut on, whatever the batch holds: a key may have rows to remove and none
    to rebuild. The macro reads the stored table as the model's SQL did (nothing is
    deleted before it runs).
#}
{% macro get_incremental_replace_from_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set from_column = config.get('replace_from') -%}
    {%- set cuts_macro = config.get('replace_from_cuts') -%}
    {%- if not key or key is not string or not from_column -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'replace_from' needs one unique_key column and replace_from") }}
    {%- endif -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute="name")) -%}
    {%- if cuts_macro %}
    delete from {{ target }} as stored
    using (
        {{ tailor[cuts_macro]() | indent(8) }}
    ) as cuts (key_value, replace_from)
    where stored.{{ key }} = cuts.key_value
        and (cuts.replace_from is null or stored.{{ from_column }} >= cuts.replace_from);
    {%- else %}
    delete from {{ target }} as stored
    using (
        select {{ key }}, min({{ from_column }}) as replace_from
        from {{ source }}
        group by {{ key }}
    ) as batch
    where stored.{{ key }} = batch.{{ key }}
        and stored.{{ from_column }} >= batch.replace_from;
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}


{# The stitched events int_order_events_unnested unnests: order events up to the end of the
   run date that can be tied to an order. #}
{% macro order_event_filter() -%}
    event_name in ('Order Completed', 'Order Updated', 'Order Refunded', 'Order Cancelled')
        and event_at < {{ tailor.run_end_literal() }}
        and (order_id is not null or event_name = 'Order Completed')
{%- endmacro %}


{# int_order_events_unnested keeps only the lines of events that are still order events as
   of the run date (a reloaded day may have lost some; an earlier day rerun drops later ones). #}
{% macro delete_order_lines_without_their_event() -%}
    {%- if tailor.engine_deletes_rows() -%}
    delete from {{ this }}
    where message_id not in (
        select message_id from {{ ref('int_events_stitched') }}
        where {{ tailor.order_event_filter() }}
    )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{# int_events_stitched: the stored events of a rebuilt landing day that the rebuild did
   not write (the reloaded files lost them, and no other delivery is left). A rebuilt
   day's events all carry its new load fingerprint; a day whose rows were only
   re-attributed tonight keeps one fingerprint throughout, and loses nothing. #}
{% macro events_reloaded_away() -%}
    (
        last_arrived_date < {{ tailor.lookback_start_literal() }}
        and _processed_for_date is distinct from {{ tailor.run_date_literal() }}
        and last_arrived_date in (
            select last_arrived_date from {{ this }}
            where _processed_for_date = {{ tailor.run_date_literal() }}
                and last_arrived_date < {{ tailor.lookback_start_literal() }}
        )
        and (last_arrived_date, coalesce(_landing_batches, '')) not in (
            select last_arrived_date, coalesce(_landing_batches, '') from {{ this }}
            where _processed_for_date = {{ tailor.run_date_literal() }}
                and last_arrived_date < {{ tailor.lookback_start_literal() }}
        )
    ) or (
        -- the window is rebuilt every night (its stored events too): a row of it that
        -- does not carry its day's loads as they are now was not rebuilt, because no
        -- delivery of it is left (the same day rerun after a reload, say)
        last_arrived_date >= {{ tailor.lookback_start_literal() }}
        and last_arrived_date <= {{ tailor.run_date_literal() }}
        and (last_arrived_date, coalesce(_landing_batches, '')) not in (
            select _dt, {{ tailor.distinct_values_fingerprint('_batch_id') }}
            from {{ source('tracking', 'events') }}
            where _dt >= {{ tailor.lookback_start_literal() }}
                and _dt <= {{ tailor.run_date_literal() }}
            group by _dt
        )
    )
{%- endmacro %}

{#- Where the events int_events_stitched removes tonight were active and whose they were,
    for sessions and the customer aggregates to rebuild what they were part of
    (tailor.session_rebuild_cuts, tailor.reattributed_customer_ids): a table of tonight's
    only, in the schema of state only the pipeline reads (the analyst snapshot never
    copies it). -#}
{% macro events_reloaded_away_table() -%}
    {{ return(api.Relation.create(database=target.database, schema='private', identifier='events_reloaded_away')) }}
{%- endmacro %}

{#- The table as it stands, or none before a night created it. -#}
{% macro events_reloaded_away_relation() -%}
    {%- set table = tailor.events_reloaded_away_table() -%}
    {{ return(adapter.get_relation(database=table.database, schema=table.schema, identifier=table.identifier)) }}
{%- endmacro %}

{% macro record_events_reloaded_away() -%}
    {%- if not tailor.engine_deletes_rows() -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set removed = tailor.events_reloaded_away_table() -%}
    create schema if not exists {{ removed.database }}.{{ removed.schema }};
    create or replace table {{ removed }} as
    select
        {{ tailor.run_date_literal() }} as removed_for_date,
        visitor_id,
        case when event_type <> 'identify' then event_at end as event_at,
        customer_id
    from {{ this }}
    where {{ tailor.events_reloaded_away() }}
{%- endmacro %}

{% macro delete_events_reloaded_away() -%}
    {%- if tailor.engine_deletes_rows() -%}
    delete from {{ this }}
    where {{ tailor.events_reloaded_away() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
