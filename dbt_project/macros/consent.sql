{#
    How consent records are read (the same rule as tailor/consent.py, which decides the
    exports; tests/integration/test_consent_dbt.py checks that both agree).
#}

{# Spellings of `granted`, lower-cased and trimmed. Anything else is unreadable. #}
{% macro consent_grant_words() -%}
    ('true', 't', 'yes', 'y', '1', 'granted')
{%- endmacro %}

{% macro consent_withdraw_words() -%}
    ('false', 'f', 'no', 'n', '0', 'withdrawn', 'revoked', 'denied')
{%- endmacro %}

{% macro consent_purposes() -%}
    {{ return(['email_marketing', 'sms_marketing', 'personalization', 'analytics']) }}
{%- endmacro %}

{# 'granted' | 'withdrawn' | null (unreadable) for a `granted` value. #}
{% macro consent_granted_state(expression) -%}
    {%- set text = "lower(trim(cast(" ~ expression ~ " as " ~ dbt.type_string() ~ ")))" -%}
    case
        when {{ text }} in {{ tailor.consent_grant_words() }} then 'granted'
        when {{ text }} in {{ tailor.consent_withdraw_words() }} then 'withdrawn'
    end
{%- endmacro %}

{# One of the known purposes (case, blanks and dashes forgiven), else null. #}
{% macro consent_purpose(expression) -%}
    {%- set text = "replace(replace(lower(trim(" ~ expression ~ ")), '-', '_'), ' ', '_')" -%}
    case
        when {{ text }} in ('{{ tailor.consent_purposes() | join("', '") }}') then {{ text }}
    end
{%- endmacro %}


{#
    A top-level field of a record's text: from the JSON object when the text parses,
    else recovered from the text itself ("field": "value"), so that a broken line still
    names its subject. Empty and 'null' give null.
#}
{% macro record_text_field(record, field) -%}
    {{ return(adapter.dispatch('record_text_field', 'tailor')(record, field)) }}
{%- endmacro %}

{% macro default__record_text_field(record, field) -%}
    nullif(nullif(trim(coalesce(
        {{ record }}::json ->> '{{ field }}',
        substring({{ record }} from '"{{ field }}"\s*:\s*"?([^",}]*)')
    )), ''), 'null')
{%- endmacro %}

{% macro duckdb__record_text_field(record, field) -%}
    nullif(nullif(trim(case when json_valid({{ record }})
        then json_extract_string({{ record }}, '$.{{ field }}')
        else regexp_extract({{ record }}, '"{{ field }}"\s*:\s*"?([^",}]*)', 1)
    end), ''), 'null')
{%- endmacro %}

{% macro spark__record_text_field(record, field) -%}
    nullif(nullif(trim(case when get_json_object({{ record }}, '$') is not null
        then get_json_object({{ record }}, '$.{{ field }}')
        else regexp_extract({{ record }}, '"{{ field }}"\\s*:\\s*"?([^",}]*)', 1)
    end), ''), 'null')
{%- endmacro %}


{# True when the record's text is a JSON object. #}
{% macro is_json_object(record) -%}
    {{ return(adapter.dispatch('is_json_object', 'tailor')(record)) }}
{%- endmacro %}

{% macro default__is_json_object(record) -%}
    coalesce(json_typeof({{ record }}::json) = 'object', false)
{%- endmacro %}

{% macro duckdb__is_json_object(record) -%}
    coalesce(json_type(try(json({{ record }}))) = 'OBJECT', false)
{%- endmacro %}

{% macro spark__is_json_object(record) -%}
    coalesce(get_json_object({{ record }}, '$') is not null and substr(trim({{ record }}), 1, 1) = chr(123), false)
{%- endmacro %}
