-- The values of the file being loaded, in file order.
select site, period_start, grain, kpi, value, unit, sheet, "row", "column"
from new_observations
order by seq
