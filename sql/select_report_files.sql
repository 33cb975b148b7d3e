-- The files a report's data-quality appendix lists: name, status and reason, newest first, and
-- whether the delivery still waits for its correction (the view `waiting_deliveries`).
select
    files.original_name,
    files.status,
    files.message,
    files.delivered_at,
    waiting.sha256 is not null as waiting
from files
left join waiting_deliveries as waiting
    on files.sha256 = waiting.sha256
    and files.original_name = waiting.original_name
order by files.delivered_at desc, files.original_name
