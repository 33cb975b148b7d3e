-- The values of deliveries loaded but not validated yet: what the rules look at, with site, grain,
-- KPI and file as codes into `pending_dimensions` (which holds pending files only), and the row id that finds a failing value's
-- place (`select_observation_places`) without carrying it for all.
select
    o.rowid as observation,
    s.code as site,
    o.period_start,
    g.code as grain,
    k.code as kpi,
    o.value,
    f.code as file_sha256
from kpi_observations as o
inner join pending_dimensions as f
    on f.dimension = 'file_sha256' and f.value = o.file_sha256
inner join pending_dimensions as s on s.dimension = 'site' and s.value = o.site
inner join pending_dimensions as g on g.dimension = 'grain' and g.value = o.grain
inner join pending_dimensions as k on k.dimension = 'kpi' and k.value = o.kpi
