-- The delivery attempts of a period, oldest first.
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
where period = $period
order by id
