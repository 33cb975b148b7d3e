-- A sample of the latest stored values with their origin, for asset metadata.
select site, period_start, kpi, value, unit, sheet, "row", "column"
from kpi_observations
order by delivered_at desc, period_start desc, site, kpi
limit 20
