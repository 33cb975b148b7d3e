-- Each site, period and KPI given more than once, with the places of its first two different
-- values (one place when the value repeats identically). One hash aggregate over the file's
-- integer keys finds them (values are not read for it); only their cells are looked at again.
with conflicting as (
    select key
    from parsed_cells
    group by key
    having count(*) > 1
),

firsts as (
    select
        p.key,
        p.value,
        min(p.seq) as seq
    from parsed_cells as p
    semi join conflicting as c using (key)
    where not p.unparsed
    group by all
)

select
    any_value(p.site) as site,
    any_value(p.period_start) as period_start,
    any_value(p.kpi) as kpi,
    list(f.value order by f.seq)[1:2] as "values",
    list(p.sheet order by f.seq)[1:2] as sheets,
    list(p."row" order by f.seq)[1:2] as "rows",
    list(p."column" order by f.seq)[1:2] as "columns"
from firsts as f
inner join parsed_cells as p on p.seq = f.seq
group by f.key
order by min(f.seq)
