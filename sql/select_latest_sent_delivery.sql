-- The latest report email that went out, whatever its period: sent, or written to the outbox.
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
where status in ('sent', 'written')
order by coalesce(sent_at, created_at) desc, id desc
limit 1
