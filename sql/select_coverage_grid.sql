-- Coverage: for each site and recent period, how many KPIs have a current value.
with recent as (
    select distinct period_start
    from kpi_values
    order by period_start desc
    limit $periods
)

select v.site, v.period_start, count(v.value) as kpis
from kpi_values as v
semi join recent as r using (period_start)
group by v.site, v.period_start
order by v.site, v.period_start
