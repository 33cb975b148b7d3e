-- A file whose values are stored.
update files
set status = 'loaded', message = $message, values_stored = $values_stored
where sha256 = $sha256 and status = 'received'
