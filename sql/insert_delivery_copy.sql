-- A ledger row carried into a rebuilt warehouse, with its id.
insert into deliveries (
    id, period, message_id, content_hash, recipients, status, attempts, last_error,
    created_at, sent_at, forced
)
values (
    $id, $period, $message_id, $content_hash, $recipients, $status, $attempts, $last_error,
    $created_at, $sent_at, $forced
)
