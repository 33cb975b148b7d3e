-- The latest period with a value, for freshness.
select max(period_start) as latest, any_value(grain) as grain
from kpi_values
where value is not null
