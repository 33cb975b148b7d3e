-- One KPI's series, sites and totals, in time order: the impact analysis and the report read
-- a KPI at a time, so that a client with a hundred sites never holds every series at once.
select site, period_start, kpi, value
from kpi_series
where kpi = $kpi
order by site, period_start
