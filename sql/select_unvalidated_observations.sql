-- The values of deliveries loaded but not validated yet, with the file they came from.
select
    o.site,
    o.period_start,
    o.grain,
    o.kpi,
    o.value,
    o.file_sha256,
    f.original_name as file,
    o.sheet,
    o."row",
    o."column"
from kpi_observations as o
inner join files as f on f.sha256 = o.file_sha256 and f.status = 'loaded'
where f.validated_at is null
