-- The inputs of the latest client run that completed.
select inputs_fingerprint
from client_runs
where completed_at is not null
order by completed_at desc
limit 1
