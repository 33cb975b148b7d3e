-- Every reception recorded in `files`, first received first: what the archive's manifest keeps.
select sha256, original_name, size_bytes, source, received_at, delivered_at, status
from files
order by received_at, delivered_at, original_name
