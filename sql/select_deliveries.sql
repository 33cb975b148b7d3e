-- The delivery attempts of a period (all of them when $period is null), oldest first.
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
where $period is null or period = $period
order by id
