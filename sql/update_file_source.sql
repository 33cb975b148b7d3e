-- The source a file's name matches under today's client.yaml (a file read again).
update files
set source = $source
where sha256 = $sha256 and original_name = $original_name
