{#
    The SQL of stg_tracking__events, which is this macro called with no argument.

    message_ids_sql: a query returning trimmed message ids; only those events are staged.
    Incremental models call it with the ids that arrived in their window: the window
    function that picks each event's latest delivery then ranks those events' deliveries
    instead of every delivery in the history, which the nightly cost would otherwise
    follow. Models that call it declare `-- depends_on: {{ ref('stg_tracking__events') }}`.

    delivered_on (with message_ids_sql): the landing days, as 'YYYY-MM-DD' strings, that
    hold every delivery of those events (tailor.delivery_days). Their deliveries are then
    looked for on those days only: the probe reads those days' row groups, not the ids of
    the whole history. None looks everywhere.
#}
{% macro staged_tracking_events(message_ids_sql=none, delivered_on=none) %}
{%- set property_paths = ['product_id', 'price', 'quantity', 'currency', 'order_id', 'total', 'revenue',
                          'discount', 'coupon', 'query', 'category', 'brand'] -%}
{%- set context_paths = ['page.url', 'page.path', 'page.referrer', 'page.title', 'campaign.source',
                         'campaign.medium', 'campaign.name', 'device.type', 'os.name', 'browser.name',
                         'locale', 'timezone', 'ip'] -%}
{%- set trait_paths = ['email'] -%}
{%- set prop = {} -%}
{%- for path in property_paths -%}
    {%- do prop.update({path: tailor.json_path_value('property_values', property_paths, path)}) -%}
{%- endfor -%}
{%- set ctx = {} -%}
{%- for path in context_paths -%}
    {%- do ctx.update({path: tailor.json_path_value('context_values', context_paths, path)}) -%}
{%- endfor -%}

-- staging (dbt style): renames and casts its own source; every stg_ model has this shape
with source as (

    select * from {{ source('tracking', 'events') }}
    where _dt <= {{ tailor.run_date_literal() }}

),

deliveries as (

    select
        trim(message_id) as message_id,
        lower(trim(type)) as event_type,
        nullif(trim(event), '') as track_event,
        nullif(trim(name), '') as page_name,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(user_id), '') as user_id,
        {{ tailor.to_utc_timestamp('event_timestamp') }} as event_at,
        {{ tailor.to_utc_timestamp('received_at') }} as received_at,
        properties,
        context,
        traits,
        _dt,
        _source_file,
        _line
    from source

),

{% if message_ids_sql %}
-- only the events asked for. Their deliveries are ranked on the narrow columns, and the
-- wide row is read for the latest delivery alone: the join on its landing day lets DuckDB
-- skip the row groups of days that hold none, so the JSON columns of the whole history
-- are not read. Same rows as the whole model filtered to these events. (wanted_keys
-- reads the raw table itself: a second reference to `source` would make DuckDB
-- materialize that CTE, every column of the history.)
wanted_keys as (

    select
        trim(message_id) as message_id,
        {{ tailor.to_utc_timestamp('received_at') }} as received_at,
        _dt,
        _source_file,
        _line
    from {{ source('tracking', 'events') }}
    where _dt <= {{ tailor.run_date_literal() }}
        {%- if delivered_on is not none %}
        and {{ tailor.landing_day_in(delivered_on) }}
        {%- endif %}
        and trim(message_id) in ({{ message_ids_sql }})

),

{% endif %}

-- each event's deliveries: the latest (receivedAt, then landing day, file, line) is kept
ranked as (

    select
        *,
        row_number() over (
            partition by message_id
            order by received_at desc nulls last, _dt desc, _source_file desc, _line desc
        ) as delivery_rank,
        min(_dt) over (partition by message_id) as first_arrived_date,
        max(_dt) over (partition by message_id) as last_arrived_date,
        count(*) over (partition by message_id) as delivery_count
    from {{ 'wanted_keys' if message_ids_sql else 'deliveries' }}

),

{% if message_ids_sql %}
latest_delivery as (

    select
        deliveries.*,
        ranked.first_arrived_date,
        ranked.last_arrived_date,
        ranked.delivery_count
    from ranked
    inner join deliveries
        on deliveries._dt = ranked._dt
        and deliveries._source_file = ranked._source_file
        and deliveries._line = ranked._line
    where ranked.delivery_rank = 1

),
{% else %}
latest_delivery as (

    select * from ranked
    where delivery_rank = 1

),
{% endif %}

-- each JSON document is parsed once for all the paths read from it
parsed as (

    select
        *,
        {{ tailor.json_extract_paths('properties', property_paths) }} as property_values,
        {{ tailor.json_extract_paths('context', context_paths) }} as context_values,
        {{ tailor.json_extract_paths('traits', trait_paths) }} as trait_values
    from latest_delivery

),

final as (

    select
        message_id,
        event_type,
        case
            when event_type = 'track' then track_event
            when event_type = 'page' then 'Page Viewed'
            when event_type = 'screen' then 'Screen Viewed'
            when event_type = 'identify' then 'Identify'
            else coalesce(track_event, event_type)
        end as event_name,
        page_name,
        anonymous_id,
        user_id,
        event_at,
        cast(event_at as date) as event_date,
        received_at,

        -- properties
        nullif(trim({{ prop['product_id'] }}), '') as product_id,
        {{ tailor.try_cast(prop['price'], dbt.type_numeric()) }} as price,
        cast({{ tailor.try_cast(prop['quantity'], dbt.type_numeric()) }} as {{ dbt.type_int() }}) as quantity,
        upper(nullif(trim({{ prop['currency'] }}), '')) as currency,
        nullif(trim({{ prop['order_id'] }}), '') as order_id,
        {{ tailor.try_cast(prop['total'], dbt.type_numeric()) }} as order_total,
        {{ tailor.try_cast(prop['revenue'], dbt.type_numeric()) }} as order_revenue,
        {{ tailor.try_cast(prop['discount'], dbt.type_numeric()) }} as order_discount,
        nullif(trim({{ prop['coupon'] }}), '') as coupon_code,
        nullif(trim({{ prop['query'] }}), '') as search_query,
        nullif(trim({{ prop['category'] }}), '') as product_category,
        nullif(trim({{ prop['brand'] }}), '') as product_brand,
        -- the e-commerce spec's line items (Order Completed/Updated/Refunded, Cart Viewed,
        -- Checkout Started, ...): the properties.products array as delivered, else null
        {{ tailor.json_array_at('properties', 'products') }} as products,

        -- context
        nullif(trim({{ ctx['page.url'] }}), '') as page_url,
        coalesce(nullif(trim({{ ctx['page.path'] }}), ''), {{ tailor.url_path(ctx['page.url']) }}) as page_path,
        nullif(trim({{ ctx['page.referrer'] }}), '') as page_referrer,
        nullif(trim({{ ctx['page.title'] }}), '') as page_title,
        lower(nullif(trim({{ ctx['campaign.source'] }}), '')) as utm_source,
        lower(nullif(trim({{ ctx['campaign.medium'] }}), '')) as utm_medium,
        nullif(trim({{ ctx['campaign.name'] }}), '') as utm_campaign,
        lower(nullif(trim({{ ctx['device.type'] }}), '')) as device_type,
        nullif(trim({{ ctx['os.name'] }}), '') as os_name,
        nullif(trim({{ ctx['browser.name'] }}), '') as browser_name,
        nullif(trim({{ ctx['locale'] }}), '') as locale,
        nullif(trim({{ ctx['timezone'] }}), '') as timezone,
        {{ tailor.truncate_ip(ctx['ip']) }} as ip_truncated,

        -- identify traits: the email is kept only as the hash used for matching
        {{ tailor.email_sha256(tailor.json_path_value('trait_values', trait_paths, 'email')) }} as traits_email_sha256,

        first_arrived_date,
        last_arrived_date,
        delivery_count
    from parsed

)

select * from final
{% endmacro %}


{#
    The landing days holding every delivery of the events arrivals_sql returns, for
    staged_tracking_events(delivered_on=...): arrivals_sql returns each event's
    first_arrived_date, last_arrived_date and delivery_count, as int_events_stitched keeps
    them. An event delivered once was delivered on its last day; twice, on its first and
    last; more often, on days between them as well, so all of those count. `also` adds
    days (a window read whole). A sorted list of 'YYYY-MM-DD' strings.
#}
{% macro delivery_days(arrivals_sql, also=[]) %}
    {%- set days = [] -%}
    {%- for day in also -%}
        {%- do days.append(day) -%}
    {%- endfor -%}
    {%- if execute -%}
        {%- set spans_sql -%}
            select distinct
                cast(first_arrived_date as {{ dbt.type_string() }}),
                cast(last_arrived_date as {{ dbt.type_string() }}),
                case when delivery_count > 2 then 1 when delivery_count = 2 then 0 else -1 end
            from ({{ arrivals_sql }}) as arrivals
        {%- endset -%}
        {%- for first, last, between in run_query(spans_sql).rows -%}
            {%- set first_day = modules.datetime.datetime.strptime(first[:10], '%Y-%m-%d') -%}
            {%- set last_day = modules.datetime.datetime.strptime(last[:10], '%Y-%m-%d') -%}
            {%- do days.append(last_day.strftime('%Y-%m-%d')) -%}
            {%- if between >= 0 -%}
                {%- do days.append(first_day.strftime('%Y-%m-%d')) -%}
            {%- endif -%}
            {%- if between > 0 -%}
                {%- for offset in range(1, (last_day - first_day).days) -%}
                    {%- do days.append((first_day + modules.datetime.timedelta(days=offset)).strftime('%Y-%m-%d')) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(days | unique | sort | list) }}
{% endmacro %}


{# A condition on raw's landing day (or another date column): one of these 'YYYY-MM-DD'
   days (none: false). #}
{% macro landing_day_in(days, column='_dt') -%}
    {%- if days | length == 0 -%}
        1 = 0
    {%- else -%}
        {{ column }} in (
            {%- for day in days -%}
                {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', day) -%}
                    {{ exceptions.raise_compiler_error('unexpected landing day ' ~ day) }}
                {%- endif -%}
                cast('{{ day }}' as date){{ ', ' if not loop.last }}
            {%- endfor -%}
        )
    {%- endif -%}
{%- endmacro %}


{#
    Every staged event's message id with its first and last landing day and number of
    deliveries (as stg_tracking__events has them), from the narrow raw columns only.
#}
{% macro tracking_event_arrivals() %}
    select
        trim(message_id) as message_id,
        min(_dt) as first_arrived_date,
        max(_dt) as last_arrived_date,
        count(*) as delivery_count
    from {{ source('tracking', 'events') }}
    where _dt <= {{ tailor.run_date_literal() }}
    group by trim(message_id)
{% endmacro %}


{#
    True when the store sends events at all (any landed on or before the run date): an
    orders-only store has no clickstream, and its behavioural features are absent (null),
    not zero.
#}
{% macro has_clickstream() %}
    exists (
        select 1 from {{ source('tracking', 'events') }}
        where _dt <= {{ tailor.run_date_literal() }}
    )
{% endmacro %}
