-- Every rejection with the file it came from, for asset metadata.
select
    f.original_name as file,
    r.sheet,
    r."row",
    r."column",
    r.value,
    r.rule,
    r.message
from rejections as r
left join file_names as f
    on f.sha256 = r.file_sha256
order by f.original_name, r.sheet, r."row"
