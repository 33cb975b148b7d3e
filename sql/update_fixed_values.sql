-- Values Python read where the SQL reading did not (registered by the caller as `fixed_values`).
update parsed_cells as p
set value = f.value, unparsed = false
from fixed_values as f
where p.seq = f.seq
