-- Current values per site and KPI: how many periods, from when to when, how many missing.
select
    site,
    kpi,
    count(value) as "values",
    count(*) - count(value) as missing,
    min(period_start) as first_period,
    max(period_start) as last_period
from kpi_values
group by site, kpi
order by site, kpi
