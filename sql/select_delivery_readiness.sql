-- What decides whether a report may be emailed: when the newest loaded file was received, and
-- the deliveries quarantined by a blocking check since then (their data is pending a correction).
with last_loaded as (
    select max(received_at) as received_at
    from files
    where status = 'loaded'
)

select
    last_loaded.received_at as last_loaded_at,
    list(files.original_name order by files.received_at)
        filter (where files.sha256 is not null) as pending_files
from last_loaded
left join files
    on files.status = 'quarantined'
    and (last_loaded.received_at is null or files.received_at > last_loaded.received_at)
group by last_loaded.received_at
