{#
    The column is unique, checked where a run can break it: the rows this run (re)built
    (processed_column on or after the lookback start) against the whole table. Every
    earlier run checked the rows it wrote, and a stored row can only collide with a row
    written since, so a night's check follows the day, not the history. A full refresh
    rebuilds, and so checks, every row.
#}
{% test unique_since_last_run(model, column_name, processed_column='_processed_for_date') %}

select {{ column_name }}, count(*) as row_count
from {{ model }}
where {{ column_name }} in (
    select {{ column_name }} from {{ model }}
    where {{ processed_column }} >= {{ tailor.lookback_start_literal() }}
)
group by {{ column_name }}
having count(*) > 1

{% endtest %}
