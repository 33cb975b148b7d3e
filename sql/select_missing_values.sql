-- Completeness: for each site and KPI the client usually sends (a value in at least half of
-- the last $periods periods), the recent periods without a value.
with recent as (
    select distinct period_start
    from kpi_values
    order by period_start desc
    limit $periods
),

usual as (
    select v.site, v.kpi
    from kpi_values as v
    semi join recent as r using (period_start)
    where v.value is not null
    group by v.site, v.kpi
    having count(*) * 2 >= (select count(*) from recent)
)

select u.site, r.period_start, u.kpi
from usual as u
cross join recent as r
anti join kpi_values as v
    on v.site = u.site and v.kpi = u.kpi and v.period_start = r.period_start
    and v.value is not null
order by r.period_start desc, u.site, u.kpi
