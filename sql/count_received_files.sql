-- Files archived and waiting to be read (new, retried, or left by an interrupted run).
select count(*)
from files
where status = 'received'
