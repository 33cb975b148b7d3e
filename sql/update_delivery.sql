-- The outcome of a delivery attempt.
update deliveries
set status = $status, attempts = $attempts, last_error = $last_error, sent_at = $sent_at
where id = $id
