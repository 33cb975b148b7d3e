-- Names of the files `cap retry` can send back to be read again.
select original_name
from files
where status in ('rejected', 'quarantined')
order by original_name
