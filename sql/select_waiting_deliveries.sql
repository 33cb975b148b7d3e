-- Deliveries set aside (rejected on reading, or quarantined by a blocking check) that still
-- wait: no delivery of the same source (of any source, when none matched the file) was loaded
-- after them.
select
    set_aside.original_name,
    set_aside.sha256,
    set_aside.status,
    set_aside.received_at,
    set_aside.message
from files as set_aside
where
    set_aside.status in ('rejected', 'quarantined')
    and not exists (
        select 1
        from files as later
        where
            later.status = 'loaded'
            and later.received_at > set_aside.received_at
            and (set_aside.source is null or later.source = set_aside.source)
    )
order by set_aside.received_at, set_aside.original_name
