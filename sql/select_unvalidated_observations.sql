-- The values of deliveries loaded but not validated yet: what the rules look at, and the row id
-- that finds a failing value's place (`select_observation_places`) without carrying it for all.
select
    o.rowid as observation,
    o.site,
    o.period_start,
    o.grain,
    o.kpi,
    o.value,
    o.file_sha256
from kpi_observations as o
semi join (
    select sha256 from files where status = 'loaded' and validated_at is null
) as f on f.sha256 = o.file_sha256
