-- Where given observations came from: file, sheet, row and column.
select
    o.rowid as observation,
    f.original_name as file,
    o.sheet,
    o."row",
    o."column"
from kpi_observations as o
inner join (
    select sha256, min(original_name) as original_name
    from files
    where status <> 'duplicate'
    group by sha256
) as f on f.sha256 = o.file_sha256
where o.rowid in (select unnest($observations))
