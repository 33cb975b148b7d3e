-- The series the impact analysis reads: sites and totals, in time order.
select site, period_start, kpi, value
from kpi_series
order by kpi, site, period_start
