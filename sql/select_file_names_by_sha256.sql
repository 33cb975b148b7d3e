-- Names under which these bytes were already received, first received first.
select original_name
from files
where sha256 = $sha256
order by received_at, original_name
