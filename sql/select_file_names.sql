-- The name each delivery (by SHA-256) was first received under.
select sha256, original_name
from file_names
where sha256 in (select unnest($shas))
