-- The values of the file, ready to store (a view: nothing is copied; `seq` keeps file order).
create or replace temp view new_observations as
select
    p.seq,
    p.site,
    p.period_start,
    p.grain,
    p.kpi,
    p.value,
    p.unit,
    p.sheet,
    p."row",
    p."column"
from parsed_cells as p
anti join repeated_cells as r on r.seq = p.seq
where not p.unparsed
