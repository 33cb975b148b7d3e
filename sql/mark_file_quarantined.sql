-- A delivery that failed a blocking check: kept, but out of the current values.
update files
set status = 'quarantined', message = $message, validated_at = $now
where sha256 = $sha256 and status = 'loaded'
