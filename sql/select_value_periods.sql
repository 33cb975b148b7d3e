-- Every period some value was delivered for (the periods a price index is needed at).
select distinct period_start, grain
from kpi_values
order by period_start
