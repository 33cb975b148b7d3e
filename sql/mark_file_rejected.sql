-- A file rejected whole, with a readable summary of why.
update files
set status = 'rejected', message = $message
where sha256 = $sha256 and status = 'received'
