-- The files a report's data-quality appendix lists: name, status and reason, newest first.
select
    original_name,
    status,
    message,
    delivered_at
from files
order by delivered_at desc, original_name
