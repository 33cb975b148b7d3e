-- The whole email ledger, in its columns' order, to carry it into a rebuilt warehouse.
select
    id,
    period,
    message_id,
    content_hash,
    recipients,
    status,
    attempts,
    last_error,
    created_at,
    sent_at,
    forced
from deliveries
order by id
