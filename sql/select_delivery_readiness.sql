-- What decides whether a report may be emailed: when the newest loaded file was received, and
-- the deliveries quarantined by a blocking check that still wait for their correction (the view
-- `waiting_deliveries`: their data is pending).
with last_loaded as (
    select max(received_at) as received_at
    from files
    where status = 'loaded'
),

pending as (
    select list(original_name order by received_at, delivered_at, original_name) as files
    from waiting_deliveries
    where status = 'quarantined'
)

select
    last_loaded.received_at as last_loaded_at,
    coalesce(pending.files, []) as pending_files
from last_loaded, pending
