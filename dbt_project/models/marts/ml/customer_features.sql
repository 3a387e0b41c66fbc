{#
    The numeric feature table the ML jobs read: one row per known customer, as of the
    run date, no nulls (a customer with no activity of a kind gets 0). recency_days is the
    days since the last purchase, or, for a customer who never bought, since first seen.

    A store that sends no events at all (orders only: no clickstream) has no behavioural
    features: those columns (the ones under `clickstream.present` below) are null for
    everyone, absent rather than zero, and the ML jobs leave them out (they keep only
    columns that vary). The same list is expectations.suites.marts.BEHAVIOURAL_FEATURES.
#}

-- import CTEs, one per ref (dbt style): each model names what it reads
with customers as (

    select * from {{ ref('customers') }}

),

activity as (

    select * from {{ ref('int_customer_activity_combined') }}

),

preferences as (

    select * from {{ ref('int_customer_preferences_ranked') }}

),

clickstream as (

    select {{ tailor.has_clickstream() }} as present

),

features as (

    select
        customers.customer_id,
        case
            when customers.last_purchase_at is not null
                then {{ dbt.datediff('cast(customers.last_purchase_at as date)', tailor.run_date_literal(), 'day') }}
            else coalesce(activity.days_since_first_active, 0)
        end as recency_days,
        customers.order_count as frequency,
        customers.net_revenue as monetary,
        customers.average_order_value as average_order_value,
        activity.items_purchased,
        activity.cancelled_order_count + activity.returned_order_count as cancelled_or_returned_orders,
        customers.session_count as sessions,
        customers.page_views as page_views,
        case when customers.session_count > 0 then 1.0 * customers.page_views / customers.session_count else 0 end as page_views_per_session,
        case when customers.session_count > 0 then 1.0 * activity.total_session_seconds / customers.session_count else 0 end as average_session_seconds,
        customers.product_views as product_views,
        customers.cart_adds as cart_adds,
        activity.cart_removes,
        customers.searches as searches,
        customers.cart_abandonment_count as cart_abandonment_count,
        case when customers.session_count > 0 then 1.0 * activity.converted_sessions / customers.session_count else 0 end as session_conversion_rate,
        case when customers.product_views > 0 then 1.0 * customers.cart_adds / customers.product_views else 0 end as view_to_cart_rate,
        customers.discount_share as discount_share,
        case when customers.session_count > 0 then 1.0 * activity.mobile_sessions / customers.session_count else 0 end as mobile_share,
        case when activity.activity_events > 0 then 1.0 * activity.evening_events / activity.activity_events else 0 end as evening_share,
        activity.active_days,
        coalesce(activity.days_since_first_active, 0) as days_since_first_seen,
        coalesce(activity.days_since_last_active, 0) as days_since_last_active,
        coalesce(preferences.distinct_categories, 0) as distinct_categories,
        coalesce(preferences.distinct_brands, 0) as distinct_brands,
        case when customers.has_email_marketing_consent then 1 else 0 end as has_email_marketing_consent
    -- left join each input onto the spine, one row per key (the join shape every model of this grain has)
    from customers
    left join activity
        on customers.customer_id = activity.customer_id
    left join preferences
        on customers.customer_id = preferences.customer_id

),

-- final: one explicit cast per column, the model's contract (the same shape in every mart)
final as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        {{ tailor.run_date_literal() }} as as_of_date,
        cast(recency_days as integer) as recency_days,
        cast(frequency as integer) as frequency,
        cast(monetary as {{ tailor.type_double() }}) as monetary,
        cast(average_order_value as {{ tailor.type_double() }}) as average_order_value,
        cast(items_purchased as integer) as items_purchased,
        cast(cancelled_or_returned_orders as integer) as cancelled_or_returned_orders,
        case when clickstream.present then cast(sessions as integer) end as sessions,
        case when clickstream.present then cast(page_views as integer) end as page_views,
        case when clickstream.present then cast(page_views_per_session as {{ tailor.type_double() }}) end as page_views_per_session,
        case when clickstream.present then cast(average_session_seconds as {{ tailor.type_double() }}) end as average_session_seconds,
        case when clickstream.present then cast(product_views as integer) end as product_views,
        case when clickstream.present then cast(cart_adds as integer) end as cart_adds,
        case when clickstream.present then cast(cart_removes as integer) end as cart_removes,
        case when clickstream.present then cast(searches as integer) end as searches,
        case when clickstream.present then cast(cart_abandonment_count as integer) end as cart_abandonment_count,
        case when clickstream.present then cast(session_conversion_rate as {{ tailor.type_double() }}) end as session_conversion_rate,
        case when clickstream.present then cast(view_to_cart_rate as {{ tailor.type_double() }}) end as view_to_cart_rate,
        cast(discount_share as {{ tailor.type_double() }}) as discount_share,
        case when clickstream.present then cast(mobile_share as {{ tailor.type_double() }}) end as mobile_share,
        case when clickstream.present then cast(evening_share as {{ tailor.type_double() }}) end as evening_share,
        case when clickstream.present then cast(active_days as integer) end as active_days,
        cast(days_since_first_seen as integer) as days_since_first_seen,
        cast(days_since_last_active as integer) as days_since_last_active,
        cast(distinct_categories as integer) as distinct_categories,
        cast(distinct_brands as integer) as distinct_brands,
        cast(has_email_marketing_consent as integer) as has_email_marketing_consent
    from features
    cross join clickstream

)

select * from final
