-- The profile of the deliveries loaded but not validated yet: one row per file and site, per
-- file, grain and period, per file and KPI (with its lowest and highest value), and one with the
-- repeats (values beyond the first for one file, site, period and KPI). Every delivery rule
-- holds on all the values exactly when it holds on this profile, a thousand rows where the
-- values are a million. The repeats are counted by hash: two keys that collide make a repeat
-- that is not there (the values are then checked one by one), never hide one.
with pending as (
    select o.file_sha256, o.site, o.grain, o.period_start, o.kpi, o.value
    from kpi_observations as o
    semi join (
        select sha256 from files where status = 'loaded' and validated_at is null
    ) as f on f.sha256 = o.file_sha256
),

facets as (
    select
        file_sha256,
        site,
        grain,
        period_start,
        kpi,
        min(value) as min_value,
        max(value) as max_value,
        null::bigint as repeats
    from pending
    group by grouping sets (
        (file_sha256, site), (file_sha256, grain, period_start), (file_sha256, kpi)
    )
),

repeats as (
    select
        null::varchar as file_sha256,
        null::varchar as site,
        null::varchar as grain,
        null::date as period_start,
        null::varchar as kpi,
        null::double as min_value,
        null::double as max_value,
        count(*) - count(distinct hash(file_sha256, site, period_start, kpi)) as repeats
    from pending
)

select * from facets
union all
select * from repeats
order by all
