-- The date of the newest delivery among the loaded files: what the report's figures rest on.
select max(delivered_at) as delivered_at
from files
where status = 'loaded'
