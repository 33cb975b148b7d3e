-- Each site, period and KPI given more than once, with the places of its first two different
-- values (one place when the value repeats identically). One hash aggregate over the file finds
-- the keys; only their cells are looked at again.
with conflicting as (
    select site, period_start, kpi
    from parsed_cells
    where not unparsed
    group by all
    having count(*) > 1
),

firsts as (
    select
        p.site,
        p.period_start,
        p.kpi,
        p.value,
        min(p.seq) as seq
    from parsed_cells as p
    semi join conflicting as c using (site, period_start, kpi)
    where not p.unparsed
    group by all
)

select
    f.site,
    f.period_start,
    f.kpi,
    list(f.value order by f.seq)[1:2] as "values",
    list(p.sheet order by f.seq)[1:2] as sheets,
    list(p."row" order by f.seq)[1:2] as "rows",
    list(p."column" order by f.seq)[1:2] as "columns"
from firsts as f
inner join parsed_cells as p on p.seq = f.seq
group by f.site, f.period_start, f.kpi
order by min(f.seq)
