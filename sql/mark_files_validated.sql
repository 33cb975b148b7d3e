-- Deliveries that passed the blocking checks.
update files
set validated_at = $now
where status = 'loaded' and validated_at is null
