{#
    The customer profile, one row per known customer, as of the run date: demographic
    attributes from the CRM, behaviour from stitched events, sessions and orders
    (int_customer_activity_combined), context (device, day part, timezone) and the current
    consent per purpose.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with customers as (

    select * from {{ ref('int_customers_unioned') }}

),

crm as (

    select * from {{ ref('stg_crm__customers') }}

),

activity as (

    select * from {{ ref('int_customer_activity_combined') }}

),

preferences as (

    select * from {{ ref('int_customer_preferences_ranked') }}

),

carts as (

    select
        customer_id,
        sum(case when is_abandoned then 1 else 0 end) as abandoned_carts
    from {{ ref('int_carts_evaluated') }}
    group by customer_id

),

consents as (

    select * from {{ ref('int_consents_resolved') }}

),

consent_pivot as (

    select
        customer_id,
        max(case when purpose = 'email_marketing' and is_granted then 1 else 0 end) = 1 as has_email_marketing_consent,
        max(case when purpose = 'sms_marketing' and is_granted then 1 else 0 end) = 1 as has_sms_marketing_consent,
        max(case when purpose = 'personalization' and is_granted then 1 else 0 end) = 1 as has_personalization_consent,
        max(case when purpose = 'analytics' and is_granted then 1 else 0 end) = 1 as has_analytics_consent,
        max(consented_at) as consent_updated_at
    from consents
    group by customer_id

),

joined as (

    select
        customers.customer_id,
        customers.is_in_crm,
        crm.email,
        crm.email_sha256,
        crm.first_name,
        crm.last_name,
        crm.phone,
        coalesce(crm.gender, 'unknown') as gender,
        crm.birth_date,
        case
            when crm.birth_date is not null
                then floor({{ dbt.datediff('crm.birth_date', tailor.run_date_literal(), 'day') }} / 365.25)
        end as age,
        crm.country,
        crm.city,
        crm.created_at,
        activity.first_seen_at,
        activity.last_seen_at,
        activity.session_count,
        activity.page_views,
        activity.product_views,
        activity.cart_adds,
        activity.searches,
        activity.purchase_count as order_count,
        activity.cancelled_order_count,
        activity.returned_order_count,
        activity.first_purchase_at,
        activity.last_purchase_at,
        activity.gross_revenue,
        activity.net_revenue,
        activity.average_order_value,
        activity.discount_share,
        coalesce(carts.abandoned_carts, 0) as cart_abandonment_count,
        preferences.favourite_category,
        preferences.second_favourite_category,
        preferences.favourite_brand,
        activity.preferred_device,
        activity.preferred_day_part,
        coalesce(crm.timezone, activity.event_timezone) as timezone,
        coalesce(consent_pivot.has_email_marketing_consent, false) as has_email_marketing_consent,
        coalesce(consent_pivot.has_sms_marketing_consent, false) as has_sms_marketing_consent,
        coalesce(consent_pivot.has_personalization_consent, false) as has_personalization_consent,
        coalesce(consent_pivot.has_analytics_consent, false) as has_analytics_consent,
        consent_pivot.consent_updated_at
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from customers
    left join crm
        on customers.customer_id = crm.customer_id
    left join activity
        on customers.customer_id = activity.customer_id
    left join preferences
        on customers.customer_id = preferences.customer_id
    left join carts
        on customers.customer_id = carts.customer_id
    left join consent_pivot
        on customers.customer_id = consent_pivot.customer_id

),

-- final: one explicit cast per column, the model's contract (the same shape in every mart)
final as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        cast(is_in_crm as boolean) as is_in_crm,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(email_sha256 as {{ dbt.type_string() }}) as email_sha256,
        cast(first_name as {{ dbt.type_string() }}) as first_name,
        cast(last_name as {{ dbt.type_string() }}) as last_name,
        cast(phone as {{ dbt.type_string() }}) as phone,
        cast(gender as {{ dbt.type_string() }}) as gender,
        cast(birth_date as date) as birth_date,
        cast(age as integer) as age,
        cast(
            case
                when age is null then 'unknown'
                when age < 18 then 'under 18'
                when age < 25 then '18-24'
                when age < 35 then '25-34'
                when age < 45 then '35-44'
                when age < 55 then '45-54'
                when age < 65 then '55-64'
                else '65+'
            end as {{ dbt.type_string() }}
        ) as age_band,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(created_at as timestamp) as created_at,
        cast(first_seen_at as timestamp) as first_seen_at,
        cast(last_seen_at as timestamp) as last_seen_at,
        cast(session_count as bigint) as session_count,
        cast(page_views as bigint) as page_views,
        cast(product_views as bigint) as product_views,
        cast(cart_adds as bigint) as cart_adds,
        cast(searches as bigint) as searches,
        cast(order_count as bigint) as order_count,
        cast(cancelled_order_count as bigint) as cancelled_order_count,
        cast(returned_order_count as bigint) as returned_order_count,
        cast(first_purchase_at as timestamp) as first_purchase_at,
        cast(last_purchase_at as timestamp) as last_purchase_at,
        cast(gross_revenue as {{ tailor.type_double() }}) as gross_revenue,
        cast(net_revenue as {{ tailor.type_double() }}) as net_revenue,
        cast(average_order_value as {{ tailor.type_double() }}) as average_order_value,
        cast(discount_share as {{ tailor.type_double() }}) as discount_share,
        cast(cart_abandonment_count as bigint) as cart_abandonment_count,
        cast(favourite_category as {{ dbt.type_string() }}) as favourite_category,
        cast(second_favourite_category as {{ dbt.type_string() }}) as second_favourite_category,
        cast(favourite_brand as {{ dbt.type_string() }}) as favourite_brand,
        cast(preferred_device as {{ dbt.type_string() }}) as preferred_device,
        cast(preferred_day_part as {{ dbt.type_string() }}) as preferred_day_part,
        cast(timezone as {{ dbt.type_string() }}) as timezone,
        cast(has_email_marketing_consent as boolean) as has_email_marketing_consent,
        cast(has_sms_marketing_consent as boolean) as has_sms_marketing_consent,
        cast(has_personalization_consent as boolean) as has_personalization_consent,
        cast(has_analytics_consent as boolean) as has_analytics_consent,
        cast(consent_updated_at as timestamp) as consent_updated_at,
        cast('{{ var("tailor__reporting_currency") }}' as {{ dbt.type_string() }}) as reporting_currency,
        {{ tailor.run_date_literal() }} as as_of_date
    from joined

)

select * from final
