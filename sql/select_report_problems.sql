-- Why each file now set aside (rejected or quarantined) was set aside: its first problems with
-- their place and rule, and how many it has in all, for the report's appendix.
select
    f.original_name as file,
    r.sheet,
    r."row",
    r."column",
    r.value,
    r.rule,
    count(*) over (partition by f.sha256, f.original_name) as problems
from files as f
inner join rejections as r on r.file_sha256 = f.sha256
where f.status in ('rejected', 'quarantined')
qualify row_number() over (
    partition by f.sha256, f.original_name order by r.sheet nulls first, r."row" nulls first, r."column"
) <= $shown
order by f.original_name, r.sheet nulls first, r."row" nulls first, r."column"
