-- One line per KPI and scope of `kpi_series`: how many sites, periods and values, from when.
select
    kpi,
    scope,
    count(distinct site) as sites,
    count(distinct period_start) as periods,
    min(period_start) as first_period,
    max(period_start) as last_period,
    count(value) as "values"
from kpi_series
group by kpi, scope
order by kpi, scope
