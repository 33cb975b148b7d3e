-- Move the ledger's id sequence past the ids of carried-over rows (`$count` values drawn).
select max(nextval('deliveries_id'))
from range($count)
