-- How many values the client has ever delivered.
select count(*) as observations
from kpi_observations
