-- Where given observations came from: file, sheet, row and column.
select
    o.rowid as observation,
    f.original_name as file,
    o.sheet,
    o."row",
    o."column"
from kpi_observations as o
inner join file_names as f on f.sha256 = o.file_sha256
where o.rowid in (select unnest($observations))
