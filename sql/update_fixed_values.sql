-- Values Python read where the SQL reading did not (registered by the caller as `fixed_readings`).
insert into fixed_values by name
select seq, value
from fixed_readings
