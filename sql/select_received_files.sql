-- Files archived but not parsed yet (new, or left by an interrupted run), oldest delivery first.
select sha256, original_name, source, delivered_at
from files
where status = 'received'
order by delivered_at, original_name
