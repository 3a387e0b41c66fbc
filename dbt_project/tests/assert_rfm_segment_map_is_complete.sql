-- The rfm_segment_map seed names a segment for every (R, FM) score pair 1-5 exactly once.

with scores as (

    select r.score as r_score, fm.score as fm_score
    from (select 1 as score union all select 2 union all select 3 union all select 4 union all select 5) as r
    cross join (select 1 as score union all select 2 union all select 3 union all select 4 union all select 5) as fm

),

mapped as (

    select r_score, fm_score, count(*) as mappings
    from {{ ref('rfm_segment_map') }}
    group by r_score, fm_score

)

select scores.r_score, scores.fm_score, coalesce(mapped.mappings, 0) as mappings
from scores
left join mapped
    on scores.r_score = mapped.r_score
    and scores.fm_score = mapped.fm_score
where coalesce(mapped.mappings, 0) <> 1
