-- Rejected files that a rule of the configuration rejected, under another configuration than
-- today's: back to `received`, to be read again. Returns each one's SHA-256 and name.
update files
set status = 'received', message = null, values_stored = null, validated_at = null
where status = 'rejected'
    and sha256 in (
        select file_sha256
        from rejections
        where list_contains($rules, rule)
    )
    and sha256 not in (
        select sha256
        from rejection_configs
        where config_sha256 = $config_sha256
    )
returning sha256, original_name
