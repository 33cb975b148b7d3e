-- The values of the file, ready to store, in file order (a view: nothing is copied).
create or replace temp view new_observations as
select
    site,
    period_start,
    grain,
    kpi,
    value,
    unit,
    sheet,
    "row",
    "column"
from parsed_cells
where not unparsed
order by seq
