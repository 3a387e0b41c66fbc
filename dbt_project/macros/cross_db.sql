{#
    Everything engine-specific lives here, behind adapter.dispatch, so that the models
    stay portable: a default__ implementation (ANSI / Postgres flavour), duckdb__ for the
    embedded warehouse and spark__ for a distributed target.
#}

{# Text at a dotted path inside a JSON value ('page.url'); null when absent. #}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'tailor')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_path_text({{ column }}{% for key in path.split('.') %}, '{{ key }}'{% endfor %})
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{% for key in path.split('.') %}"{{ key }}"{{ "." if not loop.last }}{% endfor %}')
{%- endmacro %}

{% macro spark__json_text(column, path) -%}
    get_json_object({{ column }}, '$.{{ path }}')
{%- endmacro %}


{# Lower-case hex sha256 of a text expression. #}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'tailor')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}

{% macro spark__sha256_hex(expression) -%}
    sha2({{ expression }}, 256)
{%- endmacro %}


{# Aggregate: one value for the set of distinct values of a text column (its sorted list,
   hashed); equal sets give equal values. #}
{% macro distinct_values_fingerprint(column) -%}
    {{ return(adapter.dispatch('distinct_values_fingerprint', 'tailor')(column)) }}
{%- endmacro %}

{% macro default__distinct_values_fingerprint(column) -%}
    md5(string_agg(distinct {{ column }}, ',' order by {{ column }}))
{%- endmacro %}

{% macro spark__distinct_values_fingerprint(column) -%}
    md5(concat_ws(',', array_sort(collect_set({{ column }}))))
{%- endmacro %}


{# The normalized email used for matching: trimmed and lower-cased, empty -> null. #}
{% macro normalize_email(expression) -%}
    nullif(lower(trim({{ expression }})), '')
{%- endmacro %}

{% macro email_sha256(expression) -%}
    case when {{ tailor.normalize_email(expression) }} is not null
        then {{ tailor.sha256_hex(tailor.normalize_email(expression)) }}
    end
{%- endmacro %}


{#
    An ISO-8601 text timestamp as a UTC timestamp without time zone. Text with an offset
    ("2026-10-01T10:00:00+02:00", "...Z") is converted to UTC; text without one is taken
    to be UTC already. Unparseable text gives null.
#}
{% macro to_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'tailor')(expression)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(expression) -%}
    cast(cast({{ expression }} as timestamp with time zone) at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(expression) -%}
    case
        when regexp_matches(trim({{ expression }}), '[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$')
            then timezone('UTC', try_cast(trim({{ expression }}) as timestamptz))
        else try_cast(trim({{ expression }}) as timestamp)
    end
{%- endmacro %}

{# The session time zone must be UTC (dbt_project/profiles.yml sets it): text without an
   offset is then read as UTC, as on DuckDB. #}
{% macro spark__to_utc_timestamp(expression) -%}
    try_to_timestamp(trim({{ expression }}))
{%- endmacro %}


{# A UTC timestamp as wall-clock time in an IANA time zone; unknown or null zone -> UTC. #}
{% macro to_local_timestamp(utc_timestamp, time_zone) -%}
    {{ return(adapter.dispatch('to_local_timestamp', 'tailor')(utc_timestamp, time_zone)) }}
{%- endmacro %}

{% macro default__to_local_timestamp(utc_timestamp, time_zone) -%}
    cast(({{ utc_timestamp }} at time zone 'UTC') at time zone coalesce({{ time_zone }}, 'UTC') as timestamp)
{%- endmacro %}

{% macro duckdb__to_local_timestamp(utc_timestamp, time_zone) -%}
    timezone(
        case when {{ time_zone }} in (select name from pg_timezone_names()) then {{ time_zone }} else 'UTC' end,
        timezone('UTC', {{ utc_timestamp }})
    )
{%- endmacro %}

{# A zone Java does not know (from_utc_timestamp would fail the query) counts as UTC. #}
{% macro spark__to_local_timestamp(utc_timestamp, time_zone) -%}
    from_utc_timestamp({{ utc_timestamp }}, case
        when {{ time_zone }} rlike '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$'
            and try_reflect('java.time.ZoneId', 'of', {{ time_zone }}) is not null
            then {{ time_zone }}
        else 'UTC'
    end)
{%- endmacro %}


{#
    A raw IP with its host part removed before it is stored: IPv4 keeps the first three
    octets (a.b.c.0), IPv6 the first three groups (the /48 network). Anything else -> null.
#}
{% macro truncate_ip(expression) -%}
    {{ return(adapter.dispatch('truncate_ip', 'tailor')(expression)) }}
{%- endmacro %}

{% macro default__truncate_ip(expression) -%}
    case
        when {{ expression }} ~ '^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
            then regexp_replace({{ expression }}, '\.[0-9]{1,3}$', '.0')
        when {{ expression }} like '%:%:%'
            then split_part({{ expression }}, ':', 1) || ':' || split_part({{ expression }}, ':', 2) || ':' || split_part({{ expression }}, ':', 3) || '::'
    end
{%- endmacro %}

{% macro duckdb__truncate_ip(expression) -%}
    case
        when regexp_matches(trim({{ expression }}), '^[0-9]{1,3}(\.[0-9]{1,3}){3}$')
            then regexp_replace(trim({{ expression }}), '\.[0-9]{1,3}$', '.0')
        when regexp_matches(trim({{ expression }}), '^[0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:[0-9a-fA-F:.]*$')
            then lower(regexp_extract(trim({{ expression }}), '^([0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4})', 1)) || '::'
    end
{%- endmacro %}

{% macro spark__truncate_ip(expression) -%}
    case
        when {{ expression }} rlike '^[0-9]{1,3}([.][0-9]{1,3}){3}$'
            then regexp_replace({{ expression }}, '[.][0-9]{1,3}$', '.0')
        when {{ expression }} like '%:%:%'
            then concat_ws(':', slice(split({{ expression }}, ':'), 1, 3)) || '::'
    end
{%- endmacro %}


{# The host of a URL ("https://www.example.com/x" -> "www.example.com"). #}
{% macro url_host(expression) -%}
    {{ return(adapter.dispatch('url_host', 'tailor')(expression)) }}
{%- endmacro %}

{% macro default__url_host(expression) -%}
    nullif(substring({{ expression }} from '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)'), '')
{%- endmacro %}

{% macro duckdb__url_host(expression) -%}
    nullif(lower(regexp_extract({{ expression }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)', 1)), '')
{%- endmacro %}

{% macro spark__url_host(expression) -%}
    nullif(lower(regexp_extract({{ expression }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)', 1)), '')
{%- endmacro %}


{# The path of a URL ("https://x.com/a/b?q=1" -> "/a/b"). #}
{% macro url_path(expression) -%}
    {{ return(adapter.dispatch('url_path', 'tailor')(expression)) }}
{%- endmacro %}

{% macro default__url_path(expression) -%}
    coalesce(substring({{ expression }} from '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)'), '/')
{%- endmacro %}

{% macro duckdb__url_path(expression) -%}
    coalesce(nullif(regexp_extract({{ expression }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)', 1), ''), '/')
{%- endmacro %}

{% macro spark__url_path(expression) -%}
    coalesce(nullif(regexp_extract({{ expression }}, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)', 1), ''), '/')
{%- endmacro %}


{# An 8-byte float (dbt.type_float() is a 4-byte REAL on DuckDB). #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'tailor')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}


{#
    Several text values out of one JSON document, parsing it once. In a first CTE select
    json_extract_paths(column, paths) as <name>, then read each value in a later CTE with
    json_path_value(<name>, paths, path). On DuckDB the first returns a list of texts (one
    parse per document instead of one per path, ~8x faster on event context); elsewhere it
    passes the document through and the second extracts the path from it.
#}
{% macro json_extract_paths(column, paths) -%}
    {{ return(adapter.dispatch('json_extract_paths', 'tailor')(column, paths)) }}
{%- endmacro %}

{% macro default__json_extract_paths(column, paths) -%}
    {{ column }}
{%- endmacro %}

{% macro duckdb__json_extract_paths(column, paths) -%}
    json_extract_string({{ column }}, [
        {%- for path in paths -%}
            '$.{% for key in path.split('.') %}"{{ key }}"{{ "." if not loop.last }}{% endfor %}'{{ ", " if not loop.last }}
        {%- endfor -%}
    ])
{%- endmacro %}

{% macro json_path_value(extracted, paths, path) -%}
    {{ return(adapter.dispatch('json_path_value', 'tailor')(extracted, paths, path)) }}
{%- endmacro %}

{% macro default__json_path_value(extracted, paths, path) -%}
    {{ tailor.json_text(extracted, path) }}
{%- endmacro %}

{% macro duckdb__json_path_value(extracted, paths, path) -%}
    {%- if path not in paths -%}
        {{ exceptions.raise_compiler_error("json_path_value: '" ~ path ~ "' is not among the extracted paths " ~ paths) }}
    {%- endif -%}
    {{ extracted }}[{{ paths.index(path) + 1 }}]
{%- endmacro %}


{# Cast that gives null instead of failing on a malformed value (dbt.safe_cast is a plain
   cast on DuckDB, so one bad value in a JSON property would fail the whole build). #}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast', 'tailor')(expression, type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, type) -%}
    {{ dbt.safe_cast(expression, type) }}
{%- endmacro %}

{% macro duckdb__try_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{% macro spark__try_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}


{#
    json_array_at(column, key): the JSON array at the top-level key of a JSON document, or
    null when the key is absent or holds anything but an array.
    json_array_length_of(column) / json_array_item(column, position): its length and its
    element at a 1-based position, as JSON.
#}
{% macro json_array_at(column, key) -%}
    {{ return(adapter.dispatch('json_array_at', 'tailor')(column, key)) }}
{%- endmacro %}

{% macro default__json_array_at(column, key) -%}
    {{ exceptions.raise_compiler_error("json_array_at has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__json_array_at(column, key) -%}
    case when json_type({{ column }}, '$.{{ key }}') = 'ARRAY' then json_extract({{ column }}, '$.{{ key }}') end
{%- endmacro %}

{% macro json_array_item(column, position) -%}
    {{ return(adapter.dispatch('json_array_item', 'tailor')(column, position)) }}
{%- endmacro %}

{% macro default__json_array_item(column, position) -%}
    {{ exceptions.raise_compiler_error("json_array_item has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__json_array_item(column, position) -%}
    json_extract({{ column }}, '$[' || cast({{ position }} - 1 as {{ dbt.type_string() }}) || ']')
{%- endmacro %}

{% macro json_array_length(column) -%}
    {{ return(adapter.dispatch('json_array_length', 'tailor')(column)) }}
{%- endmacro %}

{% macro default__json_array_length(column) -%}
    {{ exceptions.raise_compiler_error("json_array_length has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__json_array_length(column) -%}
    cast(json_array_length({{ column }}) as {{ dbt.type_int() }})
{%- endmacro %}

{# One row per n in 1..<count column> (a set-returning expression in a select list). #}
{% macro series_1_to(count_column) -%}
    {{ return(adapter.dispatch('series_1_to', 'tailor')(count_column)) }}
{%- endmacro %}

{% macro default__series_1_to(count_column) -%}
    {{ exceptions.raise_compiler_error("series_1_to has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__series_1_to(count_column) -%}
    unnest(generate_series(1, {{ count_column }}))
{%- endmacro %}

{% macro spark__json_array_at(column, key) -%}
    case when substr(ltrim(get_json_object({{ column }}, '$.{{ key }}')), 1, 1) = '[' then get_json_object({{ column }}, '$.{{ key }}') end
{%- endmacro %}

{% macro spark__json_array_item(column, position) -%}
    get_json_object({{ column }}, concat('$[', cast({{ position }} - 1 as string), ']'))
{%- endmacro %}

{% macro spark__json_array_length(column) -%}
    cast(json_array_length({{ column }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__series_1_to(count_column) -%}
    explode(sequence(1, {{ count_column }}))
{%- endmacro %}


{#
    Aggregates picking one row of a group by an ordering (the first fields break ties
    with the later ones, e.g. ['event_at', 'message_id']):
    arg_max_ignore_nulls(arg, fields): arg at the greatest ordering among the rows whose
    arg is not null; arg_min_keep_nulls(arg, fields): arg at the least ordering, null when
    that row's arg is null. Both may be followed by a filter (where ...) clause.
#}
{% macro arg_max_ignore_nulls(arg, fields) -%}
    {{ return(adapter.dispatch('arg_max_ignore_nulls', 'tailor')(arg, fields)) }}
{%- endmacro %}

{% macro default__arg_max_ignore_nulls(arg, fields) -%}
    {{ exceptions.raise_compiler_error("arg_max_ignore_nulls has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__arg_max_ignore_nulls(arg, fields) -%}
    arg_max({{ arg }}, {{ tailor.duckdb__ordering(fields) }})
{%- endmacro %}

{% macro spark__arg_max_ignore_nulls(arg, fields) -%}
    max_by({{ arg }}, case when {{ arg }} is not null then struct({{ fields | join(', ') }}) end)
{%- endmacro %}

{% macro arg_min_keep_nulls(arg, fields) -%}
    {{ return(adapter.dispatch('arg_min_keep_nulls', 'tailor')(arg, fields)) }}
{%- endmacro %}

{% macro default__arg_min_keep_nulls(arg, fields) -%}
    {{ exceptions.raise_compiler_error("arg_min_keep_nulls has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__arg_min_keep_nulls(arg, fields) -%}
    arg_min_null({{ arg }}, {{ tailor.duckdb__ordering(fields) }})
{%- endmacro %}

{% macro spark__arg_min_keep_nulls(arg, fields) -%}
    min_by({{ arg }}, struct({{ fields | join(', ') }}))
{%- endmacro %}

{# DuckDB only (called by the duckdb__ macros above): the fields as one struct, which compares field by field. #}
{% macro duckdb__ordering(fields) -%}
    { {%- for field in fields %}'k{{ loop.index }}': {{ field }}{{ ", " if not loop.last }}{% endfor -%} }
{%- endmacro %}


{# select-list: every column of a relation (alias, or none for all) except some. #}
{% macro star_except(alias, columns) -%}
    {{ return(adapter.dispatch('star_except', 'tailor')(alias, columns)) }}
{%- endmacro %}

{% macro default__star_except(alias, columns) -%}
    {{ exceptions.raise_compiler_error("star_except has no implementation for this adapter yet") }}
{%- endmacro %}

{% macro duckdb__star_except(alias, columns) -%}
    {{ alias ~ '.' if alias }}* exclude ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(alias, columns) -%}
    {{ alias ~ '.' if alias }}* except ({{ columns | join(', ') }})
{%- endmacro %}


{#
    dbt-spark's dateadd goes through unix seconds (dropping the fraction of a second) and
    raises on a null timestamp; timestampadd keeps microseconds and gives null for null,
    as DuckDB's interval arithmetic does.
#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, {{ interval }}, cast({{ from_date_or_timestamp }} as timestamp))
{%- endmacro %}
