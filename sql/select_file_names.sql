-- The name each delivery (by SHA-256) was first received under.
select sha256, min(original_name) as original_name
from files
where sha256 in (select unnest($shas)) and status <> 'duplicate'
group by sha256
