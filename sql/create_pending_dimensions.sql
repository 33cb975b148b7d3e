-- The distinct sites, grains, KPIs and files of the deliveries loaded but not validated yet, each
-- with a code in sorted order: the pending values are fetched as these codes, because a million
-- strings cost more to fetch than the rules take to run.
create or replace temp table pending_dimensions as
with pending as (
    select o.site, o.grain, o.kpi, o.file_sha256
    from kpi_observations as o
    semi join (
        select sha256 from files where status = 'loaded' and validated_at is null
    ) as f on f.sha256 = o.file_sha256
),

distinct_values as (
    select distinct 'site' as dimension, site as value from pending
    union all
    select distinct 'grain' as dimension, grain as value from pending
    union all
    select distinct 'kpi' as dimension, kpi as value from pending
    union all
    select distinct 'file_sha256' as dimension, file_sha256 as value from pending
)

select
    dimension,
    value,
    (row_number() over (partition by dimension order by value) - 1)::integer as code
from distinct_values
