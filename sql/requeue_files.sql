-- Rejected or quarantined files (all, or those named `$name`) back to `received`, to be read
-- again by the next run. Returns each one's SHA-256 and name.
update files
set status = 'received', message = null, values_stored = null, validated_at = null
where status in ('rejected', 'quarantined')
    and ($name is null or original_name = $name)
returning sha256, original_name
