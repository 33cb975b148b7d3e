-- A delivery quarantined by a blocking check that the consultant accepts deliberately: its
-- values become current, and its message says who released it and when.
update files
set status = 'loaded', message = $message, validated_at = $now
where sha256 = $sha256 and status = 'quarantined'
