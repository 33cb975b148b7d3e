-- A delivery attempt starts: pending until its outcome is recorded.
insert into deliveries (
    period, message_id, content_hash, recipients, status, attempts, created_at, forced
)
values ($period, $message_id, $content_hash, $recipients, 'pending', 0, $created_at, $forced)
returning id
