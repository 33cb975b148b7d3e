-- Transaction lines aggregated to one value per site, period and KPI, as client.yaml says for
-- each KPI (`aggregations`: sum, mean or count). The place kept is the KPI's first line.
-- `new_observations` stays a view, over this small table, whatever the layout.
create or replace temp table aggregated_records as
select
    min(p.seq) as seq,
    p.site,
    p.period_start,
    any_value(p.grain) as grain,
    p.kpi,
    case any_value(a.agg)
        when 'count' then count(*)::double
        when 'mean' then avg(p.value)
        else sum(p.value)
    end as value,
    any_value(p.unit) as unit,
    arg_min(p.sheet, p.seq) as sheet,
    min(p."row") as "row",
    arg_min(p."column", p.seq) as "column"
from parsed_cells as p
inner join aggregations as a using (kpi)
where not p.unparsed
group by p.site, p.period_start, p.kpi;

create or replace temp view new_observations as
select * from aggregated_records;
